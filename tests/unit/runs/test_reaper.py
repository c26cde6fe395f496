"""Requeueing jobs left started by dead workers, including RQ workers this process gave up after a Redis outage."""

from __future__ import annotations

import os

import redis
from rq import Queue, Worker
from rq.job import JobStatus
from rq.registry import StartedJobRegistry

from bot.runs.reaper import requeue_orphans


def started_by_a_live_worker(queue: Queue, connection: redis.Redis) -> tuple[Worker, str]:
    """A job marked started by a worker registered with our own pid and a fresh heartbeat."""
    worker = Worker([queue], connection=connection, name="given-up")
    worker.register_birth()
    worker.heartbeat()
    job = queue.enqueue("jobs.plan.make_plan", "r1", job_id="plan-r1-v1-a0")
    queue.remove(job)
    worker.prepare_execution(job)
    worker.prepare_job_execution(job)
    assert job.get_status() == JobStatus.STARTED and job.worker_name == "given-up" and worker.pid == os.getpid()
    return worker, job.id


def test_a_job_of_a_live_worker_stays_and_of_an_abandoned_one_is_queued_again(connection: redis.Redis) -> None:
    queue = Queue("issuesmith-test", connection=connection)
    _worker, job_id = started_by_a_live_worker(queue, connection)

    assert requeue_orphans(queue, connection) == []  # its pid is alive and its heartbeat fresh: not dead
    assert requeue_orphans(queue, connection, abandoned={"given-up"}) == [job_id]
    assert queue.get_job_ids() == [job_id]
    assert job_id not in StartedJobRegistry(queue=queue).get_job_ids(cleanup=False)
