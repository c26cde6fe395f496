"""Put back on the queue the jobs of workers that died mid-job (SIGKILL, OOM, a lost machine).

RQ notices abandoned jobs only in its periodic maintenance, after their registry entry
expires. A starting worker calls `requeue_orphans()` instead: a job still marked as started
by a worker that is verifiably dead — on this host with its process gone, or anywhere with
no heartbeat for longer than `stale_after` — is queued again, on the queue it was started from
(every queue the worker serves is looked at: intake, plan, work and the one from before them).
Jobs are idempotent and the implement pipeline resumes after its last verified step, so running
one again is safe.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Collection, Sequence
from datetime import UTC, datetime

import redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry
from rq.worker import Worker

log = logging.getLogger("issuesmith.reaper")
STALE_AFTER_SECONDS = 600


def requeue_orphans(queues: Sequence[Queue], connection: redis.Redis, stale_after: float = STALE_AFTER_SECONDS,
                    abandoned: Collection[str] = ()) -> list[str]:
    """Requeue the started jobs of `queues` whose worker is dead, each on its own queue; returns their ids.

    `abandoned`: names of RQ workers this process gave up (a Redis outage ended their loop, and their
    work horse was stopped): dead, though their pid, ours, is alive and their heartbeat is recent.
    """
    requeued = []
    for queue in queues:
        requeued += _requeue_from(queue, connection, stale_after, abandoned)
    return requeued


def _requeue_from(queue: Queue, connection: redis.Redis, stale_after: float, abandoned: Collection[str]) -> list[str]:
    registry = StartedJobRegistry(queue=queue)
    requeued = []
    for job_id in registry.get_job_ids(cleanup=False):
        try:
            job = Job.fetch(job_id, connection=connection)
        except NoSuchJobError:
            continue
        if job.get_status() != JobStatus.STARTED:
            continue  # a leftover entry of a job that finished; RQ's maintenance drops it
        if job.worker_name and job.worker_name not in abandoned and not _worker_dead(job.worker_name, connection,
                                                                                    stale_after):
            continue
        registry.remove_executions(job)
        queue.enqueue_job(job)
        requeued.append(job_id)
        log.warning("requeued a job its dead worker left started", extra={"job": job_id, "worker": job.worker_name,
                                                                          "queue": queue.name})
    return requeued


def _worker_dead(name: str, connection: redis.Redis, stale_after: float) -> bool:
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + name, connection=connection)
    if worker is None:
        return True  # its key expired: no heartbeat for longer than the worker TTL
    if worker.hostname == socket.gethostname() and worker.pid and not _alive(worker.pid):
        return True
    beat = worker.last_heartbeat
    return beat is not None and (datetime.now(UTC) - beat.replace(tzinfo=UTC)).total_seconds() > stale_after


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
