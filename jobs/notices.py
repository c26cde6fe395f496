"""Notices job: post what a run had to tell the issue while GitHub did not answer (`bot.flow.steps.defer_notice`).

Queued when a notice (a failure) could not be posted; retried on `bot.runs.queueing.NOTICE_INTERVALS`
until GitHub takes it. Safe to run twice: each notice is upserted through its marker and dropped
once posted.
"""

from __future__ import annotations

from bot.core.logs import bound
from bot.flow.services import current
from bot.flow.steps import post_pending_notices


def deliver_pending(run_id: str) -> str:
    """RQ entry point: post the run's pending notices; returns how many were posted."""
    services = current()
    run = services.store.require(run_id)
    with bound(run=run_id, repo=run.repo, issue=run.issue):
        return f"{post_pending_notices(services, run_id)} notices posted"
