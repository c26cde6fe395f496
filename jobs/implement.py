"""Implement job: queued by `/approve` for the exact plan version (and hash) a human approved.

Drives `bot.flow.implement` (Coder ⇄ Reviewer → Tester → pull request). A re-run of this job,
or `/retry` after a failure, resumes after the last verified step.
"""

from __future__ import annotations

from bot.core.errors import InvalidTransition
from bot.flow.implement import implement_run
from bot.flow.services import Services, current
from bot.flow.steps import run_step
from bot.runs.model import Run, State

IMPLEMENTABLE = (State.APPROVED, State.IMPLEMENTING, State.TESTING)


def implement(run_id: str) -> None:
    """RQ entry point for the `implement` step of a run."""
    services = current()
    run_step(services, run_id, "implement", lambda run: implement_approved(services, run))


def implement_approved(services: Services, run: Run) -> None:
    """Implement the plan version and content a human approved, and nothing else."""
    if run.state not in IMPLEMENTABLE:
        services.store.log(run.id, "implement", "skipped", reason=f"run is {run.state}")
        return
    record = services.store.plan(run.id, run.approved_version)
    if record is None or record.hash != run.approved_hash:
        raise InvalidTransition(
            f"the approved plan v{run.approved_version} ({run.approved_hash}) is not the stored plan",
            hint="reply `/revise` to get a fresh plan and approve it again")
    services.store.log(run.id, "implement", "approval_verified", version=run.approved_version,
                       hash=run.approved_hash, approved_by=run.approved_by)
    implement_run(services, run, record.plan, record.hash)  # a Cancelled run ends quietly in run_step
