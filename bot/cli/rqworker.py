"""The RQ worker `issuesmith worker` runs: jobs taken from several queues without a window where a dead
worker loses one, a work horse that never outlives its worker, a bounded warm shutdown, and a run told when
its job's horse was killed for the last time.

* A worker of several queues (intake, plan, work: `bot.runs.queueing`) takes each job as RQ takes one from
  a single queue, moved onto the queue's intermediate list and taken off once started (`TakesMovedJobs`,
  `bot.runs.queueing.MovingQueue`); RQ's own way for several queues pops it (`BLPOP`), and a worker killed
  in between lost it.

* RQ forks a work horse per job, in a process group of its own, and nothing ends it when the worker
  dies: a worker killed alone (SIGKILL, OOM) left its horse running the job while the next worker
  queued the same job again (`bot.runs.reaper`), so two horses ran one run (the Coder twice, or
  one of them failed). The horse now asks Linux to kill it when its worker dies (`PR_SET_PDEATHSIG`);
  the sandbox it started dies with it (`--die-with-parent`).
* Warm shutdown (the first SIGTERM or SIGINT): RQ takes no new job and waits for the horse, for as
  long as the job takes (up to an hour). Here it waits `grace` seconds (`ISSUESMITH_SHUTDOWN_GRACE`),
  then kills the horse; RQ then runs the job again (its retry), and the job resumes the step it was
  in: verified steps and the model's replies are kept (`bot.flow.interrupts`, `bot.models.memo`).
  A second signal is RQ's cold shutdown: the horse is killed at once and the next worker to start
  queues the job again. RQ's scheduler process is given `SCHEDULER_STOP_SECONDS` to stop, then
  killed (RQ joined it without a bound: a stopping worker was seen to take over 30 s to exit).
  RQ's command channel listener (a pub/sub thread waiting up to 60 s for a message) is told to stop
  before the channel is left, and waited for 1 s at most: RQ left the channel first, so the listener,
  woken by the reply, went back to waiting 60 s, and redis-py (8.x) joins it without a bound, so an
  idle worker told to stop often took a minute to exit (seen in `tests/e2e/test_server_profiles.py`).
* A step's job RQ gives up without the job's own failure path having run fails its run, with a comment
  naming the step and `/retry`: a horse killed with no retry left (RQ moves the job to its failed jobs and
  nothing runs it again), a job RQ's maintenance finds stuck on an intermediate list (its worker died
  between taking it and starting it), and a job it finds abandoned (its worker died, and no worker of this
  host started since to requeue it: `bot.runs.reaper`). Before, the run stayed "implementing" for good.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

from rq import Queue, Worker
from rq.exceptions import AbandonedJobError
from rq.job import Job, JobStatus
from rq.worker import BaseWorker

from bot.flow import interrupts
from bot.flow.services import current
from bot.flow.steps import fail_run
from bot.runs.model import ACTIVE
from bot.runs.queueing import MovingQueue, step_of_job

log = logging.getLogger("issuesmith.worker")
PR_SET_PDEATHSIG = 1
DEFAULT_GRACE_SECONDS = 20.0
SCHEDULER_STOP_SECONDS = 5.0
LISTENER_STOP_SECONDS = 1.0


class TakesMovedJobs(BaseWorker):
    """A worker of several queues that takes each job as `MovingQueue` does: moved onto its queue's intermediate
    list, and off it once started (RQ takes it off only for a worker of one queue, so a finished job would
    later be failed by RQ's maintenance as stuck there). On RQ's `BaseWorker`, so it comes before either
    kind of worker: the forking `Worker` (`IssuesmithWorker`) or the in-process `SimpleWorker` (the tests')."""

    queue_class = MovingQueue

    def prepare_job_execution(self, job: Job, remove_from_intermediate_queue: bool = False) -> None:
        """Mark the job started and take it off its queue's intermediate list."""
        super().prepare_job_execution(job, remove_from_intermediate_queue=True)


class TellsLostRuns(BaseWorker):
    """A worker that fails the run of a step's job RQ failed for good (see the module)."""

    def handle_job_failure(self, job: Job, queue: Queue, started_job_registry: Any = None, exc_string: str = "",
                           execution: Any = None) -> None:
        """RQ's handling (retry, else the failed jobs), then the run failed if the job is not to run again and
        its run still waits for it (a job that failed through `run_step` failed its run already)."""
        super().handle_job_failure(job, queue, started_job_registry=started_job_registry, exc_string=exc_string,
                                   execution=execution)
        if job.get_status(refresh=True) == JobStatus.FAILED:
            give_up_run_safely(job)


class IssuesmithWorker(TellsLostRuns, TakesMovedJobs, Worker):
    """RQ's forking worker with the changes above."""

    shutdown_grace: float = DEFAULT_GRACE_SECONDS

    def __init__(self, *args: Any, grace: float = DEFAULT_GRACE_SECONDS, **kwargs: Any) -> None:
        kwargs.setdefault("work_horse_killed_handler", horse_killed)
        super().__init__(*args, **kwargs)
        self.shutdown_grace = grace
        self._grace_timer: threading.Timer | None = None

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        """In the horse: die with the worker, then run the job as RQ does."""
        die_with_parent()
        super().main_work_horse(job, queue)

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """Warm shutdown, bounded: the horse gets `shutdown_grace` seconds to finish its job."""
        if self.horse_pid and self._grace_timer is None:
            log.warning("stop requested: the current job gets %g s to finish, then it is stopped and runs "
                        "again from its step", self.shutdown_grace, extra={"horse": self.horse_pid})
            self._grace_timer = threading.Timer(self.shutdown_grace, self._grace_over, args=(self.horse_pid,))
            self._grace_timer.daemon = True
            self._grace_timer.start()
        super().request_stop(signum, frame)

    def stop_scheduler(self) -> None:
        """Stop RQ's scheduler process, waiting `SCHEDULER_STOP_SECONDS` at most (RQ waits without a bound)."""
        process = self.scheduler._process if self.scheduler else None
        if process is None or not process.pid:
            return
        process.terminate()
        process.join(SCHEDULER_STOP_SECONDS)
        if process.is_alive():
            process.kill()
            process.join(SCHEDULER_STOP_SECONDS)

    def unsubscribe(self) -> None:
        """Leave RQ's command channel without waiting for its listener's 60 s poll to end (see the module)."""
        thread, pubsub = self.pubsub_thread, self.pubsub
        if thread is None or pubsub is None:
            return
        try:
            thread.stop(timeout=0)  # redis-py 8: clears its running flag; a bound of 0 returns at once
        except TypeError:  # redis-py 5-7: stop() only clears the flag, and takes no bound
            thread.stop()
        self.log.info("Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name)
        pubsub.unsubscribe()  # the reply wakes the listener, which now sees the flag cleared and ends,
        pubsub.subscribed_event.set()  # also when it already waits for a subscription (it then reads the reply)
        thread.join(LISTENER_STOP_SECONDS)
        if not thread.is_alive():  # else it still reads the connection: leave it to end (a daemon thread)
            pubsub.close()

    def _grace_over(self, horse: int) -> None:
        if self.horse_pid == horse:
            log.warning("the current job did not finish within the shutdown grace; stopping it",
                        extra={"horse": horse, "grace": self.shutdown_grace})
            self.kill_horse(signal.SIGKILL)


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies; exit at once if it already has."""
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            log.warning("could not ask to die with the worker", extra={"errno": ctypes.get_errno()})
    except (OSError, AttributeError):  # not Linux: the reaper's liveness checks are all there is
        log.warning("PR_SET_PDEATHSIG is not available: a horse may outlive its worker")
        return
    if os.getppid() != parent:  # the worker died before the request took effect
        os._exit(1)


def horse_killed(job: Job, pid: int, status: int, rusage: Any) -> None:
    """RQ's handler for a horse that died mid-job: when RQ will not run the job again, fail the run."""
    if (job.retries_left or 0) > 0:
        return  # RQ retries it; the next run of the job counts the interruption (`bot.flow.interrupts`)
    give_up_run(job)


def abandoned_job(job: Job, exc_type: type[BaseException], exc_value: BaseException, traceback: Any) -> bool:
    """A worker's exception handler: RQ's maintenance found `job` abandoned (its worker died mid-job); when RQ
    will not run it again, fail the run. Always lets the next handler run."""
    if exc_type is AbandonedJobError and (job.retries_left or 0) <= 0:
        give_up_run_safely(job)
    return True


def give_up_run_safely(job: Job) -> None:
    """`give_up_run` inside RQ's own failure handling, which must go on whatever happens here (logged)."""
    try:
        give_up_run(job)
    except Exception:
        log.exception("could not fail the run of a job RQ gave up", extra={"job": job.id})


def give_up_run(job: Job) -> None:
    """Fail the run a step's job worked for, when the run is still active in the job's attempt: the job will
    not run again, so nothing else would tell the issue."""
    step = step_of_job(job.func_name or "")
    if step is None or not job.args:
        return
    services, run_id = current(), str(job.args[0])
    run = services.store.get(run_id)
    if run is None or run.state not in ACTIVE or not job.id.endswith(f"-a{run.attempt}"):
        return  # ended already (the job's own failure path, a /cancel) or a later attempt runs now
    where = interrupts.failed_step_name(step, interrupts.interrupted_step(services.store.entries(run_id), step))
    interrupts.end(services, run_id)
    log.error("RQ gave up a step's job and will not run it again; failing the run",
              extra={"run": run_id, "job": job.id})
    fail_run(services, run_id, where, interrupts.StepInterrupted(where, 1))
