"""The dispatcher of `issuesmith worker`: a thread that turns inbox entries into RQ intake jobs (on the intake
queue, `ISSUESMITH_INTAKE_QUEUE`, which every worker takes before the long jobs).

Built from the deployment's `Settings` (Redis URL, job retries, how long a delivery is remembered, when
a dead dispatcher's entries are taken over). It has a Redis connection of its own: RQ forks a work horse
per job, and the horse must not inherit a connection this thread may be using.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

import redis
from rq import Queue

from bot.config.settings import Settings
from bot.runs.dispatch import Dispatcher
from bot.runs.inbox import InboxReader
from bot.runs.queueing import RetryPolicy

log = logging.getLogger("issuesmith.dispatch")
STOP_SECONDS = 5.0
"""How long stopping waits for the thread (a read blocks for about a second)."""


def consumer_name(worker_name: str | None) -> str:
    """This process's name in the inbox's consumer group: the worker's name, else host and pid."""
    return worker_name or f"{socket.gethostname()}-{os.getpid()}"


def build(settings: Settings, consumer: str) -> Dispatcher:
    """A dispatcher for `consumer`, on a Redis connection of its own."""
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=2)
    return Dispatcher(InboxReader(client, consumer), Queue(settings.intake_queue, connection=client),
                      RetryPolicy(settings.job_retries, tuple(settings.job_retry_intervals)),
                      settings.delivery_ttl_seconds, settings.inbox_reclaim_seconds)


class DispatcherThread:
    """Runs `Dispatcher.serve` in a daemon thread until `stop()`."""

    def __init__(self, dispatcher: Dispatcher, consumer: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=dispatcher.serve, args=(self._stop,), name="inbox-dispatcher",
                                        daemon=True)
        self._consumer = consumer

    def start(self) -> DispatcherThread:
        """Start dispatching."""
        self._thread.start()
        log.info("dispatcher started", extra={"consumer": self._consumer})
        return self

    def stop(self) -> None:
        """Ask the thread to stop and wait for it a little (an entry it holds is taken over if it must)."""
        self._stop.set()
        self._thread.join(STOP_SECONDS)
