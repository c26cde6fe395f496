"""Implement job: queued by `/approve` for the exact plan version (and hash) approved.

This release checks that binding and records it in the run's log; the Coder → Reviewer
→ Tester pipeline that turns the approved plan into a pull request builds on it.
"""

from __future__ import annotations

from bot.errors import InvalidTransition
from bot.runs import Run, State
from bot.services import Services, current
from bot.steps import run_step


def implement(run_id: str) -> None:
    """RQ entry point for the `implement` step of a run."""
    services = current()
    run_step(services, run_id, "implement", lambda run: check_approval(services, run))


def check_approval(services: Services, run: Run) -> None:
    """Refuse to implement anything but the plan version and content a human approved."""
    if run.state != State.APPROVED:
        services.store.log(run.id, "implement", "skipped", reason=f"run is {run.state}")
        return
    record = services.store.plan(run.id, run.approved_version)
    if record is None or record.hash != run.approved_hash:
        raise InvalidTransition(
            f"the approved plan v{run.approved_version} ({run.approved_hash}) is not the stored plan",
            hint="reply `/revise` to get a fresh plan and approve it again")
    services.store.log(run.id, "implement", "approval_verified", version=run.approved_version,
                       hash=run.approved_hash, approved_by=run.approved_by)
