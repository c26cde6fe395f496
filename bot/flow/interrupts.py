"""A step job that died mid-way (its worker killed, stopped past its grace period, or its machine lost).

RQ runs such a job again (its own retry, the abandoned-job cleanup, or `bot.runs.reaper` when a
worker starts); none of them tells the run. So every step job notes, when it begins, that it works
on the run (`RunStore.begin_execution`), and clears the note however it ends. A job that finds the
note of one that never ended knows it was interrupted, and where: the step of the run that had
started and not ended. An interrupted step resumes once (its verified steps are kept, and so are
the model's replies, `bot.models.memo`); interrupted a second time in the same attempt, the run fails
with a comment naming the step and `/retry` (`StepInterrupted`, through the usual failure path).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.errors import IssuesmithError
from bot.flow.services import Services

log = logging.getLogger("issuesmith.interrupts")
RESUMES = 1
"""How many times an interrupted step is resumed before the run fails."""
ENDED_EVENTS = ("verified", "error", "cancelled", "verification_failed", "stopped")


class StepInterrupted(IssuesmithError):
    """The job running step `step` died mid-way more often than it is resumed (final: a person decides)."""

    def __init__(self, step: str, times: int) -> None:
        told = "once" if times == 1 else f"{times} times"
        super().__init__(f"the worker running this step stopped before the step ended ({told}: killed, "
                         "stopped, or its machine lost)",
                         hint="if the worker was stopped on purpose, reply `/retry` to run the step again "
                              "(what was done before is kept); if it keeps happening, look at the worker's "
                              "memory limit and logs")
        self.step = step


def begin(services: Services, run_id: str, job_step: str, attempt: int) -> None:
    """Note that this job works on the run now; raise `StepInterrupted` when the job it follows was
    interrupted in the same step once too often (the caller's failure path fails the run)."""
    record = {"step": job_step, "host": socket.gethostname(), "pid": os.getpid(), "attempt": attempt,
              "id": uuid.uuid4().hex}
    previous = services.store.begin_execution(run_id, record)
    if previous is None:
        return
    step = failed_step_name(job_step, interrupted_step(services.store.entries(run_id), job_step))
    times = services.store.count_interruption(run_id, f"a{attempt}:{step}")
    services.store.log(run_id, step, "interrupted", times=times, previous=_shown(previous), resumes=RESUMES)
    log.warning("the previous job of this run died mid-step", extra={"at": step, "times": times})
    if times > RESUMES:
        raise StepInterrupted(step, times)


def end(services: Services, run_id: str) -> None:
    """This job no longer works on the run (it finished, failed, or stopped)."""
    services.store.end_execution(run_id)


def interrupted_step(entries: Sequence[Mapping[str, Any]], job_step: str) -> str:
    """The step that had started and not ended when the job of `job_step` last began; else `job_step`."""
    starts = [i for i, e in enumerate(entries) if e.get("step") == job_step and e.get("event") == "started"]
    open_steps: dict[str, None] = {}
    for entry in entries[starts[-1] + 1:] if starts else []:
        step, event = str(entry.get("step", "")), entry.get("event")
        if event == "started" and step != job_step:
            open_steps[step] = None
        elif event in ENDED_EVENTS:
            open_steps.pop(step, None)
    return list(open_steps)[-1] if open_steps else job_step


def failed_step_name(job_step: str, step: str) -> str:
    """The failed step a run records, as `/retry` reads it: a revision round's as `revise-<step>`."""
    if step == job_step or job_step == "implement":
        return step
    return f"{job_step}-{step}"


def _shown(previous: Mapping[str, Any]) -> str:
    return f"pid {previous.get('pid')} on {previous.get('host')}"
