"""Riding out a Redis outage: wait with backoff, say once that Redis is gone and once that it is back.

RQ retries its blocking dequeue by itself but logs every attempt, and any other Redis call of its
loop (heartbeat, maintenance, the scheduler) failing makes `Worker.work()` return ("unhandled
exception, quitting"): the process used to exit with status 1. The worker command
(`bot.cli.worker`) instead waits here until Redis answers again and starts a fresh RQ worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

log = logging.getLogger("issuesmith.worker")
RQ_RETRY_LINE = "could not connect to Redis"


class RedisOutage:
    """One Redis connection's outages: `wait_until_back` blocks with backoff; two log lines per outage."""

    def __init__(self, client: redis.Redis, where: str, *, first_wait: float = 0.5, max_wait: float = 10.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._where = where
        self._first, self._max = first_wait, max_wait
        self._sleep = sleep
        self.since: float | None = None

    def reachable(self) -> bool:
        """Whether Redis answers a PING now."""
        try:
            return bool(self._client.ping())
        except (redis.ConnectionError, redis.TimeoutError):
            return False

    def wait_until_back(self, stop: Callable[[], bool] = lambda: False) -> bool:
        """Block until Redis answers (True) or `stop()` says to give up (False); logs start and end once."""
        wait = self._first
        while not self.reachable():
            if self.since is None:
                self.since = time.monotonic()
                log.error("Redis is unreachable: waiting for it, retrying with backoff",
                          extra={"redis": self._where, "max_wait_seconds": self._max})
            if stop():
                return False
            self._sleep(wait)
            wait = min(wait * 2, self._max)
        if self.since is not None:
            log.warning("Redis is back: resuming work",
                        extra={"redis": self._where, "down_seconds": round(time.monotonic() - self.since, 1)})
            self.since = None
        quiet.reset()
        return True


class OncePerOutage(logging.Filter):
    """Passes RQ's first "could not connect to Redis … retrying" line of an outage, drops the repeats."""

    def __init__(self) -> None:
        super().__init__()
        self._said = False

    def filter(self, record: logging.LogRecord) -> bool:
        if RQ_RETRY_LINE not in str(record.msg):
            return True
        if self._said:
            return False
        self._said = True
        return True

    def reset(self) -> None:
        """Redis answered again: the next outage's first line is shown."""
        self._said = False


quiet = OncePerOutage()
"""The filter installed on RQ's worker logger (`bot.cli.worker`)."""
