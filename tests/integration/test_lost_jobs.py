"""A step's job RQ gives up for good without the job's own failure path having run fails its run, and the issue
is told (before, the run stayed "implementing" with nobody told): a job stuck on an intermediate list, and a
job found abandoned by RQ's maintenance. With a retry left, RQ runs the job again and the run is left alone."""

from __future__ import annotations

import time

from rq import SimpleWorker
from rq.intermediate_queue import IntermediateQueue
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from bot.cli.rqworker import TakesMovedJobs, TellsLostRuns, abandoned_job
from bot.runs.model import State
from tests.world import SAMPLE_PLAN, World

TOLD = "stopped before the step ended"


class LosingWorker(TellsLostRuns, TakesMovedJobs, SimpleWorker):
    """The deployment's worker behaviour on RQ's in-process worker (nothing here forks)."""


def _approved_with_its_job_queued(world: World, retries: int) -> Job:
    """A run approved, its implement job queued and not run, with `retries` retries left."""
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    world.say("/approve", by="carol")
    while not (ids := world.services.queue.get_job_ids()):
        world.step()  # the intake job of the approval queues the implement job
    job = Job.fetch(ids[0], connection=world.services.redis_bytes)
    job.retries_left = retries
    job.save()
    return job


def _told(world: World) -> bool:
    return any(TOLD in c.body for c in world.bot_comments())


def _stuck_on_the_intermediate_list(world: World, job: Job) -> None:
    """A worker took the job (moved onto the intermediate list) and died before starting it, over a minute ago;
    RQ's maintenance then looks at the list."""
    queue = world.services.queue
    redis = world.services.redis_bytes
    intermediate = IntermediateQueue(queue.key, connection=redis)
    redis.lmove(queue.key, intermediate.key, "RIGHT", "LEFT")
    redis.set(intermediate.get_first_seen_key(job.id), time.time() - 120)
    intermediate.cleanup(LosingWorker([queue], connection=redis), queue)


def test_a_job_stuck_on_the_intermediate_list_with_no_retry_fails_its_run_and_tells_the_issue(world: World) -> None:
    job = _approved_with_its_job_queued(world, retries=0)
    _stuck_on_the_intermediate_list(world, job)
    assert job.get_status(refresh=True) == JobStatus.FAILED
    run = world.run()
    assert run is not None and run.state == State.FAILED
    assert _told(world)
    assert "/retry" in world.status()


def test_a_job_stuck_with_a_retry_left_runs_again_and_the_run_goes_on(world: World) -> None:
    job = _approved_with_its_job_queued(world, retries=1)
    _stuck_on_the_intermediate_list(world, job)
    assert job.get_status(refresh=True) != JobStatus.FAILED
    run = world.run()
    assert run is not None and run.state in (State.APPROVED, State.IMPLEMENTING)
    assert not _told(world)


def test_an_abandoned_job_with_no_retry_fails_its_run_and_tells_the_issue(world: World) -> None:
    job = _approved_with_its_job_queued(world, retries=0)
    queue, redis = world.services.queue, world.services.redis_bytes
    redis.lrem(queue.key, 1, job.id)
    dead = LosingWorker([queue], connection=redis)
    dead.prepare_execution(job)  # started by a worker that then died (as RQ's worker starts a job)
    dead.prepare_job_execution(job)
    assert job.get_status(refresh=True) == JobStatus.STARTED
    later = time.time() + 10 * 24 * 3600  # past the started entry's expiry (the job's timeout and more)
    StartedJobRegistry(queue=queue).cleanup(timestamp=later, exception_handlers=[abandoned_job])
    assert job.get_status(refresh=True) == JobStatus.FAILED
    run = world.run()
    assert run is not None and run.state == State.FAILED
    assert _told(world)


def test_a_job_failed_for_good_after_its_run_ended_changes_nothing(world: World) -> None:
    job = _approved_with_its_job_queued(world, retries=0)
    world.say("/cancel", by="carol")
    world.step()
    run = world.run()
    assert run is not None and run.state == State.CANCELLED
    _stuck_on_the_intermediate_list(world, job)
    assert world.run().state == State.CANCELLED  # type: ignore[union-attr]
    assert not _told(world)
