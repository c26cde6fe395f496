"""Requeueing jobs left started by dead workers, including RQ workers this process gave up after a Redis outage."""

from __future__ import annotations

import os

import redis
from rq import Queue, Worker
from rq.job import JobStatus
from rq.registry import StartedJobRegistry

from bot.runs.queueing import JobQueues, QueueNames
from bot.runs.reaper import requeue_orphans


def started_by_a_live_worker(queue: Queue, connection: redis.Redis, job_id: str = "plan-r1-v1-a0",
                             name: str = "given-up") -> tuple[Worker, str]:
    """A job marked started by a worker registered with our own pid and a fresh heartbeat."""
    worker = Worker([queue], connection=connection, name=name)
    worker.register_birth()
    worker.heartbeat()
    job = queue.enqueue("jobs.plan.make_plan", "r1", job_id=job_id)
    queue.remove(job)
    worker.prepare_execution(job)
    worker.prepare_job_execution(job)
    assert job.get_status() == JobStatus.STARTED and job.worker_name == name and worker.pid == os.getpid()
    return worker, job.id


def test_a_job_of_a_live_worker_stays_and_of_an_abandoned_one_is_queued_again(connection: redis.Redis) -> None:
    queue = Queue("issuesmith-test", connection=connection)
    _worker, job_id = started_by_a_live_worker(queue, connection)

    assert requeue_orphans([queue], connection) == []  # its pid is alive and its heartbeat fresh: not dead
    assert requeue_orphans([queue], connection, abandoned={"given-up"}) == [job_id]
    assert queue.get_job_ids() == [job_id]
    assert job_id not in StartedJobRegistry(queue=queue).get_job_ids(cleanup=False)


def test_jobs_left_started_on_every_queue_are_found_and_each_goes_back_to_its_own_queue(
        connection: redis.Redis) -> None:
    """Intake, plan and work queues, and the single queue from before them (a job an upgrade found half-done there)."""
    queues = JobQueues.open(QueueNames(work="issuesmith-work"), connection)
    assert [q.name for q in queues.served] == ["issuesmith-intake", "issuesmith-plan", "issuesmith-work", "issuesmith"]
    started = {queue.name: started_by_a_live_worker(queue, connection, f"job-on-{queue.name}", f"w-{queue.name}")[1]
               for queue in queues.served}

    assert requeue_orphans(queues.served, connection) == []
    dead = {f"w-{queue.name}" for queue in queues.served}
    assert sorted(requeue_orphans(queues.served, connection, abandoned=dead)) == sorted(started.values())
    for queue in queues.served:
        assert queue.get_job_ids() == [started[queue.name]]  # back where it was started, not on another queue
        assert not StartedJobRegistry(queue=queue).get_job_ids(cleanup=False)
