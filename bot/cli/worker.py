"""`issuesmith worker`: run RQ workers on the issuesmith queues for as long as the process lives.

Each RQ worker serves every queue (`bot.runs.queueing.JobQueues.served`): intake, plan, then work. RQ takes
the first queue that has a job, so a delivery's intake job (milliseconds) is taken before any plan or
implement job queued before it, and a plan before the implementations queued before it.

A Redis outage does not end the process: when RQ's loop gives up on a Redis error, the command waits
for Redis (`bot.cli.outage`, with backoff, logged once per outage), looks for jobs left behind by
dead workers again and starts a fresh RQ worker. Only a stop signal (or `--burst` running dry) ends it;
a stop signal lets the current job run for `ISSUESMITH_SHUTDOWN_GRACE` seconds at most (`bot.cli.rqworker`).

Beside RQ, a thread turns the webhook inbox into intake jobs (`bot.cli.dispatcher`); it rides out Redis
outages on its own. With `--burst`, the inbox is emptied first, then RQ runs dry.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

import redis

from bot.cli import dispatcher, outage
from bot.cli.redisconn import ensure_reachable, shown_url
from bot.cli.rqworker import IssuesmithWorker, abandoned_job
from bot.config.settings import Settings
from bot.core.errors import ConfigError
from bot.flow.services import Services, build_services, install
from bot.runs.queueing import honour_retry_after
from bot.runs.reaper import requeue_orphans

log = logging.getLogger("issuesmith.worker")


def run(settings: Settings, burst: bool, name: str | None) -> None:
    """Serve the queues until stopped, starting a new RQ worker after each Redis outage."""
    services = build_services(settings)
    try:
        ensure_reachable(services.redis_bytes, settings.redis_url)
    except ConfigError as exc:
        sys.exit(f"issuesmith: {exc}; {exc.hint}")
    install(services)
    log.info("prepared for jobs", extra={"built": services.prepare_for_jobs()})
    logging.getLogger("rq.worker").addFilter(outage.quiet)
    consumer = dispatcher.consumer_name(name)
    inbox = dispatcher.build(settings, consumer)
    if burst:
        inbox.drain()
        _serve(services, burst, name)
        return
    thread = dispatcher.DispatcherThread(inbox, consumer).start()
    try:
        _serve(services, burst, name)
    finally:
        thread.stop()


def _serve(services: Services, burst: bool, name: str | None) -> None:
    """RQ workers on the queues, one after another across Redis outages, until stopped (or dry, in burst)."""
    settings = services.settings
    watch = outage.RedisOutage(services.redis_bytes, shown_url(settings.redis_url))
    abandoned: set[str] = set()
    while True:
        _requeue(services, abandoned)
        rq_worker = IssuesmithWorker(services.queues.served, connection=services.redis_bytes, name=name,
                                     exception_handlers=[abandoned_job, honour_retry_after],
                                     grace=settings.shutdown_grace)
        try:
            rq_worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level.upper())
        except (redis.ConnectionError, redis.TimeoutError) as exc:  # RQ's teardown (register_death) raises too
            log.warning("RQ worker ended on a Redis error", extra={"worker": rq_worker.name, "error": str(exc)})
        if burst or rq_worker._shutdown_requested_date is not None:
            return
        abandoned.add(_abandon(rq_worker))
        if not watch.wait_until_back(stop=_stop_requested()):
            return
        log.warning("RQ worker stopped on a Redis error; starting a new one", extra={"worker": rq_worker.name})


def _abandon(rq_worker: IssuesmithWorker) -> str:
    """Give up an RQ worker whose loop a Redis error ended: stop its work horse, if one still runs (its job is
    queued again once Redis is back, and resumes from its last recorded step); returns the worker's name."""
    horse = rq_worker.horse_pid
    if horse:
        log.warning("stopping the work horse of the RQ worker a Redis error ended; its job will run again",
                    extra={"horse": horse, "worker": rq_worker.name})
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            os.kill(horse, signal.SIGKILL)
            os.waitpid(horse, 0)
    return str(rq_worker.name)


def _requeue(services: Services, abandoned: set[str]) -> None:
    """Queue again the jobs that dead workers (and the RQ workers this process gave up) left started."""
    log.info("worker starting: looking for jobs left behind by dead workers")
    requeued = requeue_orphans(services.queues.served, services.redis_bytes, abandoned=abandoned)
    if requeued:
        log.warning("requeued jobs left behind by dead workers", extra={"jobs": requeued})


def _stop_requested() -> Callable[[], bool]:
    """SIGTERM/SIGINT while waiting for Redis (no RQ worker to receive them): whether one came."""
    flag = [False]

    def stop(signum: int, frame: FrameType | None) -> None:
        flag[0] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return lambda: flag[0]
