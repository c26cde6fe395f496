"""The three queues (issue 18): an intake job is taken before the plan and implement jobs queued ahead of it, and
a plan before the implementations queued ahead of it, by real RQ workers on Redis; jobs left on the single queue
from before still run; each kind of job goes to its queue.

No test here times anything: each asserts the order in which the jobs started, as the jobs wrote it to Redis.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator

import pytest
import redis
from rq import Queue, SimpleWorker, Worker, get_current_job
from rq.exceptions import DequeueTimeout

from bot.cli.rqworker import IssuesmithWorker
from bot.config.settings import Settings
from bot.flow.services import queue_names
from bot.runs.queueing import LEGACY_QUEUE, JobQueues, MovingQueue, QueueNames
from tests.world import SAMPLE_PLAN, QuietWorker, World, wait_until

ORDER = "queue-order-test:started"
HERE = __name__


def record(name: str) -> None:
    """A job: say that it started."""
    job = get_current_job()
    assert job is not None
    job.connection.rpush(ORDER, name)


def hold(name: str) -> None:
    """A long job: say that it started, then wait until the test lets it end."""
    record(name)
    job = get_current_job()
    assert job is not None
    assert job.connection.blpop([f"{ORDER}:release:{name}"], timeout=60) is not None, f"{name} never released"


def started(connection: redis.Redis) -> list[str]:
    return [name.decode() for name in connection.lrange(ORDER, 0, -1)]


@pytest.fixture
def connection(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _serve(redis_url: str, names: QueueNames, name: str) -> None:
    """One worker process of the pool: `issuesmith worker`'s RQ worker on every queue, until they are empty."""
    client = redis.Redis.from_url(redis_url)
    IssuesmithWorker(JobQueues.open(names, client).served, connection=client, name=name).work(
        burst=True, with_scheduler=False, logging_level="WARNING")


def test_a_busy_pool_takes_an_intake_job_before_the_long_jobs_queued_ahead_of_it(
        redis_url: str, connection: redis.Redis) -> None:
    names = QueueNames()
    queues = JobQueues.open(names, connection)
    for n in (1, 2):  # two long jobs keep both workers of the pool busy
        queues.work.enqueue(f"{HERE}.hold", f"implement-{n}", job_id=f"implement-{n}")
    context = multiprocessing.get_context("fork")
    pool = [context.Process(target=_serve, args=(redis_url, names, f"pool-{n}")) for n in (1, 2)]
    for process in pool:
        process.start()
    try:
        wait_until(lambda: sorted(started(connection)) == ["implement-1", "implement-2"], what="both workers busy")
        queues.work.enqueue(f"{HERE}.record", "implement-3", job_id="implement-3")  # a long job queued first,
        queues.plan.enqueue(f"{HERE}.record", "plan-4", job_id="plan-4")  # then a plan,
        queues.intake.enqueue(f"{HERE}.record", "intake-approve", job_id="intake-approve")  # then an approval
        connection.rpush(f"{ORDER}:release:implement-1", 1)  # one worker is free
        wait_until(lambda: len(started(connection)) == 5, what="every job started")
        connection.rpush(f"{ORDER}:release:implement-2", 1)
        for process in pool:
            process.join(60)
            assert process.exitcode == 0
    finally:
        connection.rpush(f"{ORDER}:release:implement-1", 1)
        connection.rpush(f"{ORDER}:release:implement-2", 1)
        for process in pool:
            if process.is_alive():
                process.kill()
                process.join(10)

    order = started(connection)
    assert order[2:] == ["intake-approve", "plan-4", "implement-3"], order  # what the freed worker took, in turn


def test_a_worker_takes_intake_then_plan_then_other_jobs_each_in_the_order_queued(connection: redis.Redis) -> None:
    queues = JobQueues.open(QueueNames(), connection)
    queues.work.enqueue(f"{HERE}.record", "implement-1", job_id="implement-1")
    queues.plan.enqueue(f"{HERE}.record", "plan-1", job_id="plan-1")
    queues.intake.enqueue(f"{HERE}.record", "intake-1", job_id="intake-1")
    queues.work.enqueue(f"{HERE}.record", "implement-2", job_id="implement-2")
    queues.plan.enqueue(f"{HERE}.record", "plan-2", job_id="plan-2")
    queues.intake.enqueue(f"{HERE}.record", "intake-2", job_id="intake-2")
    expected = ["intake-1", "intake-2", "plan-1", "plan-2", "implement-1", "implement-2"]
    assert queues.job_ids() == expected  # the order workers take them
    assert queues.count == 6

    QuietWorker(queues.served, connection=connection).work(burst=True, with_scheduler=False)

    assert started(connection) == expected
    assert queues.count == 0


def test_jobs_left_on_the_single_queue_of_before_still_run(connection: redis.Redis) -> None:
    """An upgrade with jobs waiting on the one queue there was: by default it is the work queue (same name); a
    deployment that names its work queue otherwise still serves it, last."""
    assert QueueNames().work == LEGACY_QUEUE
    assert QueueNames().served == ("issuesmith-intake", "issuesmith-plan", LEGACY_QUEUE)
    old = Queue(LEGACY_QUEUE, connection=connection)
    old.enqueue(f"{HERE}.record", "old-intake", job_id="intake-old")  # queued by the version before
    old.enqueue(f"{HERE}.record", "old-plan", job_id="plan-old")
    queues = JobQueues.open(QueueNames(work="long-jobs"), connection)
    assert [q.name for q in queues.served] == ["issuesmith-intake", "issuesmith-plan", "long-jobs", LEGACY_QUEUE]
    queues.work.enqueue(f"{HERE}.record", "new-implement", job_id="implement-new")
    queues.plan.enqueue(f"{HERE}.record", "new-plan", job_id="plan-new")
    queues.intake.enqueue(f"{HERE}.record", "new-intake", job_id="intake-new")
    assert queues.job_ids() == ["intake-new", "plan-new", "implement-new", "intake-old", "plan-old"]

    QuietWorker(queues.served, connection=connection).work(burst=True, with_scheduler=False)

    assert started(connection) == ["new-intake", "new-plan", "new-implement", "old-intake", "old-plan"]


def test_the_queue_names_come_from_the_settings_and_must_differ(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = {"_env_file": None, "webhook_secret": "a-strong-webhook-secret", "work_dir": tmp_path}
    assert queue_names(Settings(**base)) == QueueNames("issuesmith-intake", "issuesmith",  # type: ignore[arg-type]
                                                       "issuesmith-plan")
    custom = Settings(**base, intake_queue="fast", plan_queue="plans", work_queue="slow")  # type: ignore[arg-type]
    assert queue_names(custom).served == ("fast", "plans", "slow", LEGACY_QUEUE)
    with pytest.raises(ValueError, match="must differ"):
        Settings(**base, plan_queue="same", work_queue="same")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="three different names"):
        QueueNames("same", "other", "same")


def test_intake_plan_and_implement_jobs_each_go_to_their_queue(world: World) -> None:
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.github.wait_for_deliveries()
    world.dispatch()
    [intake] = world.services.intake_queue.get_job_ids()
    assert intake.startswith("intake-") and world.services.queues.job_ids() == [intake]
    world.step()  # the intake job: the run starts, its plan is queued
    run = world.run()
    assert run is not None
    assert world.services.queues.plan.get_job_ids() == [f"plan-{run.id}-v1-a0"] == world.services.queues.job_ids()
    world.step()  # the plan
    world.say("/approve", by="carol")
    world.github.wait_for_deliveries()
    world.dispatch()
    assert world.services.intake_queue.count == 1 and world.services.queues.count == 1
    world.step()  # the approval's intake: the implementation is queued
    assert world.services.queues.work.get_job_ids() == [f"implement-{run.id}-v1-a0"] == world.services.queues.job_ids()


def test_a_job_taken_from_several_queues_is_moved_not_popped_so_a_dead_worker_loses_nothing(
        connection: redis.Redis) -> None:
    """What a worker killed right after taking a job leaves: with `MovingQueue`, the job on its queue's intermediate
    list, where RQ's maintenance finds it; RQ's own way for several queues (`BLPOP`) leaves it nowhere."""
    queues = JobQueues.open(QueueNames(), connection)
    queues.work.enqueue(f"{HERE}.record", "implement-1", job_id="implement-1")
    queues.plan.enqueue(f"{HERE}.record", "plan-1", job_id="plan-1")

    taken = MovingQueue.dequeue_any(queues.served, None, connection=connection)  # then the worker dies

    assert taken is not None and (taken[0].id, taken[1].name) == ("plan-1", queues.plan.name)
    assert connection.lrange(queues.plan.intermediate_queue_key, 0, -1) == [b"plan-1"]
    popped = Queue.dequeue_any(queues.served, None, connection=connection)
    assert popped is not None and popped[0].id == "implement-1"
    assert queues.job_ids() == [] and connection.llen(queues.work.intermediate_queue_key) == 0  # lost


def test_a_worker_of_several_queues_leaves_no_started_job_on_an_intermediate_list(connection: redis.Redis) -> None:
    """Taken off once started: else RQ's maintenance would fail a finished job as stuck there a minute later."""
    queues = JobQueues.open(QueueNames(), connection)
    for queue, name in ((queues.work, "implement-1"), (queues.plan, "plan-1"), (queues.intake, "intake-1")):
        queue.enqueue(f"{HERE}.record", name, job_id=name)

    IssuesmithWorker(queues.served, connection=connection, name="moving").work(
        burst=True, with_scheduler=False, logging_level="WARNING")

    assert started(connection) == ["intake-1", "plan-1", "implement-1"]
    assert [connection.llen(q.intermediate_queue_key) for q in queues.served] == [0, 0, 0]


def test_an_idle_worker_takes_a_job_queued_later_on_a_later_queue_and_times_out_on_none(
        connection: redis.Redis) -> None:
    """The wait blocks on the first queue for a moment at a time and looks at the others in between."""
    queues = JobQueues.open(QueueNames(), connection)
    with pytest.raises(DequeueTimeout):
        MovingQueue.dequeue_any(queues.served, 1, connection=connection)
    later = threading.Timer(0.5, lambda: queues.work.enqueue(f"{HERE}.record", "implement-1", job_id="implement-1"))
    later.start()
    try:
        taken = MovingQueue.dequeue_any(queues.served, 60, connection=connection)
    finally:
        later.join()
    assert taken is not None and taken[0].id == "implement-1"
    assert connection.lrange(queues.work.intermediate_queue_key, 0, -1) == [b"implement-1"]


def test_taking_moved_jobs_keeps_each_kind_of_worker_running_jobs_its_own_way() -> None:
    """The forking worker forks a horse per job; the tests' in-process worker does not (it did, once, when the
    mixin came after `Worker` instead of `BaseWorker`: the in-process world forked and slowed down)."""
    assert IssuesmithWorker.execute_job is Worker.execute_job
    assert QuietWorker.execute_job is SimpleWorker.execute_job
    assert IssuesmithWorker.queue_class is QuietWorker.queue_class is MovingQueue
