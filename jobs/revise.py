"""Revise job: one revision round on the bot's pull request (queued by `jobs.pulls` or `/retry`).

Drives `bot.flow.revise`. A failure takes the usual failed-run path, with the step named
`revise-<inner step>` so that `/retry` runs the round again (resuming after its verified
steps) rather than the implement pipeline.
"""

from __future__ import annotations

from bot.flow.pipeline import Cancelled, StepFailed
from bot.flow.revise import STEP, revise_run
from bot.flow.services import Services, current
from bot.flow.steps import run_step
from bot.runs.model import Run, State

REVISABLE = (State.IMPLEMENTING, State.TESTING)


def revise(run_id: str) -> None:
    """RQ entry point for the `revise` step of a run."""
    services = current()
    run_step(services, run_id, STEP, lambda run: revise_pull(services, run))


def revise_pull(services: Services, run: Run) -> None:
    """Run the run's current revision round, if the run is still in it."""
    if run.state not in REVISABLE or not run.pr_number or run.pr_round < 1:
        services.store.log(run.id, STEP, "skipped", reason=f"run is {run.state}", round=run.pr_round)
        return
    try:
        revise_run(services, run)
    except Cancelled as exc:  # the pull request was merged or closed, or the run cancelled: stop quietly
        services.store.log(run.id, STEP, "stopped", reason=exc.reason, round=run.pr_round, at=exc.step)
    except StepFailed as exc:
        exc.step = f"{STEP}-{exc.step}"  # the failed-run path names it; `/retry` reruns the round
        raise
