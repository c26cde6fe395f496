"""Putting work on the RQ queues: queue names, deterministic job ids, retry policy.

Three queues (issue 18), which every worker serves in this order (RQ takes the first queue that has a job):

* intake: a delivery's intake job (milliseconds: record a run or a command, queue the next step), so an
  `/approve` waits at most for one worker to finish the job it is in, not for every job queued before it;
* plan: plan jobs (the step a person waits on before approving; shorter than an implementation), so a
  plan is not queued behind the implementations that approvals queued before it (measured by
  `bench/pipeline.py`: with plan and implement jobs in one FIFO, prompt approvals pushed later plans
  behind implementations);
* work: implement, revise and pending notices (seconds to an hour).

The work queue keeps the name of the single queue from before, `issuesmith` (`LEGACY_QUEUE`): jobs an
upgrade finds queued there (intake, plan and implement jobs alike) still run, after the intake and plan
queues. A deployment that names its work queue otherwise still has its workers serve `LEGACY_QUEUE`,
last (`QueueNames.served`).

Jobs are referenced by dotted name so the web process never imports the job code.
Every enqueue uses `unique=True` with a deterministic id: RQ's own atomic Lua script
refuses a second job with the same id, which makes enqueueing idempotent and, for
the intake job keyed by the delivery id, de-duplicates redelivered webhooks.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import redis
from rq import Queue, Retry
from rq.exceptions import DequeueTimeout, DuplicateJobError
from rq.job import Job
from rq.utils import as_text, get_version

from bot.runs.intents import PULL_KINDS, Intent

LEGACY_QUEUE = "issuesmith"
"""The one queue every job waited on before issue 18; the work queue's default name."""
INTAKE_QUEUE = "issuesmith-intake"
"""The default name of the intake queue (`ISSUESMITH_INTAKE_QUEUE`)."""
PLAN_QUEUE = "issuesmith-plan"
"""The default name of the plan queue (`ISSUESMITH_PLAN_QUEUE`)."""
WORK_QUEUE = LEGACY_QUEUE
"""The default name of the work queue (`ISSUESMITH_WORK_QUEUE`)."""
INTAKE = "jobs.intake.handle"
PULL_INTAKE = "jobs.pulls.handle"
STEP_FUNCTIONS = {"plan": "jobs.plan.make_plan", "implement": "jobs.implement.implement",
                  "revise": "jobs.revise.revise"}
STEP_TIMEOUTS = {"plan": 900, "implement": 3600, "revise": 3600}
PENDING_NOTICES = "jobs.notices.deliver_pending"
NOTICE_INTERVALS = (30, 60, 120, 300, 600, 1200, 1800, 3600, 3600, 3600)
"""When a notice GitHub refused is tried again: for about four hours, sooner first."""


@dataclass(frozen=True)
class QueueNames:
    """The deployment's queue names (`bot.flow.services.queue_names(settings)`; the defaults are the settings')."""

    intake: str = INTAKE_QUEUE
    work: str = WORK_QUEUE
    plan: str = PLAN_QUEUE

    def __post_init__(self) -> None:
        names = (self.intake, self.plan, self.work)
        if not all(names) or len(set(names)) < len(names):
            raise ValueError(f"the intake, plan and work queues need three different names, not {names!r}")

    @property
    def configured(self) -> tuple[str, str, str]:
        """The deployment's three queues, in the order workers take them: intake, plan, work."""
        return self.intake, self.plan, self.work

    @property
    def served(self) -> tuple[str, ...]:
        """Every queue a worker takes jobs from, in the order it takes them: intake, plan, work, then
        `LEGACY_QUEUE` when it is none of them (jobs an upgrade left there still run)."""
        return tuple(dict.fromkeys((*self.configured, LEGACY_QUEUE)))


class MovingQueue(Queue):
    """RQ's queue, taking a job from several queues the way RQ takes one from a single queue: moved (`LMOVE`) onto
    its queue's intermediate list, not popped.

    RQ pops from several queues at once with `BLPOP`: a worker killed between the pop and marking the job
    started (a few milliseconds) lost the job, and its run waited with nothing running it. Moved, the job
    stays where RQ's maintenance finds it (`IntermediateQueue.cleanup`), and `IssuesmithWorker` takes it off
    that list once it is started, whichever queue it came from (RQ does so only for a worker of one queue).
    The queues are tried in order, each without blocking; when all are empty, the worker blocks on the first
    (intake) for at most `WAKE_SECONDS`, then tries them all again: a job on a later queue waits at most that
    long for an idle worker. Redis before 6.2 has no `LMOVE`: there RQ's own way is kept.
    """

    WAKE_SECONDS = 0.2

    @classmethod
    def dequeue_any(cls, queues: Iterable[Queue], timeout: int | None, connection: redis.Redis,  # type: ignore[override]
                    **fetch: Any) -> tuple[Job, Queue] | None:
        """The first job of the first queue that has one (see the class), within `timeout` seconds (None: now)."""
        ordered = list(queues)
        if len(ordered) == 1 or get_version(connection) < (6, 2, 0):
            return super().dequeue_any(ordered, timeout, connection=connection, **fetch)
        keys = [queue.key for queue in ordered]
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            for key in keys:
                moved = cls.lmove(connection, key, None)
                if moved is not None:
                    taken = cls._fetch_dequeued_job(connection, key, as_text(moved[1]), **fetch)
                    if taken is not None:
                        return taken
            if deadline is None:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise DequeueTimeout(timeout, keys)
            waited = connection.blmove(keys[0], ordered[0].intermediate_queue_key,
                                       min(cls.WAKE_SECONDS, left))  # type: ignore[arg-type]  # Redis takes a fraction
            if waited is not None:
                taken = cls._fetch_dequeued_job(connection, keys[0], as_text(waited), **fetch)
                if taken is not None:
                    return taken


@dataclass(frozen=True)
class JobQueues:
    """The RQ queues of a deployment on one connection: where each job goes, and all of them for whoever must
    see every job (the workers, the reaper, the health check, `/metrics`, the tests' drain)."""

    intake: Queue
    plan: Queue
    work: Queue
    others: tuple[Queue, ...] = ()
    """Queues served after the three (the queue from before issue 18, when its name is none of them)."""

    @classmethod
    def open(cls, names: QueueNames, connection: redis.Redis) -> JobQueues:
        """The queues named `names` on `connection` (a client without decoded replies, as RQ needs)."""
        intake, plan, work, *others = (MovingQueue(name, connection=connection) for name in names.served)
        return cls(intake, plan, work, tuple(others))

    @property
    def served(self) -> list[Queue]:
        """Every queue, in the order workers take jobs from them (give this list to `rq.Worker`)."""
        return [self.intake, self.plan, self.work, *self.others]

    def for_step(self, step: str) -> Queue:
        """Where the job of `step` goes: the plan queue for `plan`, the work queue for the others."""
        return self.plan if step == "plan" else self.work

    def job_ids(self) -> list[str]:
        """The ids of every queued job, in the order the workers will take them."""
        return [job_id for queue in self.served for job_id in queue.get_job_ids()]

    @property
    def count(self) -> int:
        """How many jobs are queued, on every queue."""
        return sum(queue.count for queue in self.served)


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and after how long, a job that failed with a retryable error runs again; how long each may take.

    `timeouts` are the seconds RQ gives a step's job (`STEP_TIMEOUTS` unless the deployment's
    settings need longer: a long test run, see `bot.flow.implement.job_timeouts`).
    """

    max_retries: int = 3
    intervals: tuple[int, ...] = (5, 30, 120)
    timeouts: Mapping[str, int] = field(default_factory=lambda: dict(STEP_TIMEOUTS))

    def rq_retry(self) -> Retry | None:
        """The RQ `Retry` for this policy (None when retries are off)."""
        if self.max_retries < 1:
            return None
        return Retry(max=self.max_retries, interval=list(self.intervals) or 0)


def step_of_job(function: str) -> str | None:
    """The step a job's function runs (`plan`, `implement`, `revise`), None for other jobs."""
    return next((step for step, name in STEP_FUNCTIONS.items() if name == function), None)


def intake_job_id(delivery: str) -> str:
    """The intake job of a delivery: one per `X-GitHub-Delivery`."""
    return f"intake-{delivery}"


def step_job_id(step: str, run_id: str, version: int, attempt: int) -> str:
    """The job that runs `step` of a run, for a plan version (a revision round) and a `/retry` attempt."""
    return f"{step}-{run_id}-v{version}-a{attempt}"


def enqueue_intake(queue: Queue, intent: Intent, policy: RetryPolicy, keep_seconds: int) -> bool:
    """Queue the intake job of a delivery (on the intake queue); False when this delivery was queued before.

    The unique id holds across queues: RQ's check is on the job's key, not on the queue.
    """
    try:
        function = PULL_INTAKE if intent.kind in PULL_KINDS else INTAKE
        queue.enqueue_call(function, args=(intent.to_record(),), job_id=intake_job_id(intent.delivery),
                           unique=True, retry=policy.rq_retry(), result_ttl=keep_seconds,
                           failure_ttl=keep_seconds, timeout=300, description=f"intake {intent.kind}")
    except DuplicateJobError:
        return False
    return True


def enqueue_step(queues: JobQueues, step: str, run_id: str, version: int, attempt: int,
                 policy: RetryPolicy) -> str:
    """Queue the job for `step` of a run (idempotent; a plan on the plan queue, the others on the work queue);
    returns the job id."""
    job_id = step_job_id(step, run_id, version, attempt)
    with contextlib.suppress(DuplicateJobError):
        queues.for_step(step).enqueue_call(STEP_FUNCTIONS[step], args=(run_id,), job_id=job_id, unique=True,
                           retry=policy.rq_retry(), timeout=policy.timeouts.get(step, STEP_TIMEOUTS[step]),
                           result_ttl=7 * 24 * 3600, failure_ttl=7 * 24 * 3600,
                           description=f"{step} run {run_id} v{version}")
    return job_id


def enqueue_pending_notices(queue: Queue, run_id: str, keep_seconds: int = 7 * 24 * 3600) -> str:
    """Queue the job that posts a run's notices GitHub refused (retried on `NOTICE_INTERVALS`); its job id."""
    job_id = f"notices-{run_id}"
    with contextlib.suppress(DuplicateJobError):
        queue.enqueue_call(PENDING_NOTICES, args=(run_id,), job_id=job_id, unique=True,
                           retry=Retry(max=len(NOTICE_INTERVALS), interval=list(NOTICE_INTERVALS)), timeout=300,
                           result_ttl=keep_seconds, failure_ttl=keep_seconds,
                           description=f"pending notices of run {run_id}")
    return job_id


def honour_retry_after(job: Job, exc_type: type[BaseException] | None, exc: BaseException | None,
                       traceback: TracebackType | None) -> bool:
    """RQ exception handler: a job failed by an error that says how long to wait (`retry_after`, e.g.
    `GitHubRateLimited`) is retried no sooner than that, whatever the policy's next interval.

    Runs before RQ schedules the retry (`Worker(exception_handlers=[...])`); returns True so RQ's
    own handling goes on.
    """
    wait = getattr(exc, "retry_after", None)
    if isinstance(wait, int | float) and job.retries_left:
        job.retry_intervals = [max(job.get_retry_interval(), math.ceil(wait))]
    return True
