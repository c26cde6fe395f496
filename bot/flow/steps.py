"""Running one step of a run inside an RQ job: logging, timing, and the one failure path.

A retryable error with retries left is re-raised for RQ to run the job again later.
Anything else stops the run: it moves to FAILED (remembering the step, for `/retry`),
the issue is told what failed, what was spent and what to do, and the error is
re-raised so RQ records the job as failed too. Nothing is swallowed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from rq import get_current_job

from bot.config.policy import Policy
from bot.core.errors import InvalidTransition, IssuesmithError, describe, is_retryable
from bot.core.logs import bound
from bot.flow import interrupts
from bot.flow.gate import Action, Gate
from bot.flow.pipeline import Cancelled
from bot.flow.services import Services
from bot.flow.status_board import StatusBoard
from bot.github import comments, status
from bot.github.client import CommentRef
from bot.models.client import CallContext
from bot.runs.journal import RedisJournal
from bot.runs.model import ACTIVE, ENDED, Run, State
from bot.runs.queueing import enqueue_pending_notices

log = logging.getLogger("issuesmith.steps")


def run_step(services: Services, run_id: str, step: str, work: Callable[[Run], None]) -> None:
    """Run `work` for the run's `step` with logging; on failure, retry or fail the run.

    A run cancelled while the step works ends the job quietly (`/cancel` was answered already):
    however the work ended (it saw the cancel at a check, finished, or failed on a run that was no
    longer active), the log says when the job stopped and the status comment is brought up to date,
    with what the step spent.
    """
    run = services.store.require(run_id)
    with bound(run=run_id, repo=run.repo, issue=run.issue, step=step):
        started = time.monotonic()
        try:
            interrupts.begin(services, run_id, step, run.attempt)
            services.store.log(run_id, step, "started", state=run.state.value, attempt=run.attempt)
            work(run)
            status_board(services).settle(run_id)  # the progress edits asked for are on the issue
        except Cancelled as exc:
            _stopped(services, run_id, exc.step or step, exc.reason, started)
            return
        except Exception as exc:
            reason = stop_reason(services, run_id)
            if reason is not None:  # the run ended under the step: not the step's failure, nothing to retry
                log.warning("step failed after the run ended", exc_info=exc)
                _stop_rq_retries()
                _stopped(services, run_id, step, reason, started)
                return
            _handle_failure(services, run_id, step, exc, time.monotonic() - started)
            raise
        finally:
            status_board(services).quiet(run_id)  # a failing job's last progress edit lands before it ends
            interrupts.end(services, run_id)
        reason = stop_reason(services, run_id)
        if reason is not None and services.store.require(run_id).state == State.CANCELLED:
            _stopped(services, run_id, step, reason, started)
            return
        services.store.log(run_id, step, "finished", seconds=round(time.monotonic() - started, 3))


def _stopped(services: Services, run_id: str, step: str, reason: str, started: float) -> None:
    """Log that the step's job stopped because the run ended, and show it (and what was spent) on the issue."""
    services.store.log(run_id, step, "stopped", reason=reason, seconds=round(time.monotonic() - started, 3))
    refresh_status(services, run_id)


def run_gate(services: Services, run_id: str, policy: Policy) -> Gate:
    """The gate for a run's irreversible actions; every decision goes to the run's execution log."""
    return Gate(policy, lambda event, **detail: services.store.log(run_id, "gate", event, **detail))


def stop_reason(services: Services, run_id: str) -> str | None:
    """Why work on the run must stop now (cancelled, or its pull request merged or closed), else None."""
    state = services.store.require(run_id).state
    if state not in ENDED:
        return None
    return "the run was cancelled" if state == State.CANCELLED else f"the run ended ({state})"


def call_context(services: Services, run_id: str, step: str) -> CallContext:
    """The model-call context of a step: its tool loops stop at once when the run has ended."""
    def check() -> None:
        reason = stop_reason(services, run_id)
        if reason:
            raise Cancelled(reason, step=step)

    execution = services.store.current_execution(run_id) or {}
    return CallContext(run_id, step, check, memo=f"a{services.store.require(run_id).attempt}",
                       execution=str(execution.get("id", "")))


def _retries_left() -> int:
    job = get_current_job()
    return int(job.retries_left or 0) if job is not None else 0


def _stop_rq_retries() -> None:
    job = get_current_job()
    if job is not None:
        job.retries_left = 0


def _handle_failure(services: Services, run_id: str, step: str, exc: Exception, seconds: float) -> None:
    step = getattr(exc, "step", None) or step  # a pipeline names the inner step that failed
    will_retry = is_retryable(exc) and _retries_left() > 0
    services.store.log(run_id, step, "error", error=services.redactor(describe(exc)), retryable=is_retryable(exc),
                       will_retry=will_retry, seconds=round(seconds, 3))
    if will_retry:
        log.warning("step failed, will retry", extra={"error": describe(exc)})
        return
    log.error("step failed, run stopped", exc_info=exc)
    _stop_rq_retries()
    fail_run(services, run_id, step, exc)


def fail_run(services: Services, run_id: str, step: str, exc: Exception) -> None:
    """Mark the run FAILED at `step` and tell the issue what failed and what to do."""
    what = services.redactor(describe(exc))
    try:
        services.store.transition(run_id, State.FAILED, only_from=set(ACTIVE), failed_step=step, error=what)
    except InvalidTransition:
        log.info("run no longer active; not marking it failed")
        return
    run = services.store.require(run_id)
    hint = exc.hint if isinstance(exc, IssuesmithError) else ""
    body = comments.failed(step, what, hint, spent(services, run_id), partial_patch(services, run_id, step))
    key = f"failed-{step}-a{run.attempt}"
    try:
        notify(services, run, key, body)
        refresh_status(services, run_id)
    except Exception as notify_exc:  # the original error is re-raised by the caller
        defer_notice(services, run, key, body, notify_exc)


def defer_notice(services: Services, run: Run, key: str, body: str, exc: Exception) -> None:
    """GitHub did not take notice `key`: keep it and post it once GitHub answers (`jobs.notices`), so the
    person is told; until then the runs page's execution log shows it is pending, and why."""
    log.error("could not post a notice on the issue; it will be posted once GitHub answers", exc_info=exc)
    services.store.keep_pending_notice(run.id, key, body)
    services.store.log(run.id, "notice", "notice_pending", key=key, error=services.redactor(describe(exc))[:300])
    enqueue_pending_notices(services.queue, run.id)


def post_pending_notices(services: Services, run_id: str) -> int:
    """Post the run's pending notices and bring its status comment up to date; how many were posted.

    Raises what GitHub raised when it still does not answer (the job's retries try again later).
    """
    run = services.store.require(run_id)
    posted = 0
    for key, body in services.store.pending_notices(run_id).items():
        notify(services, run, key, body)
        services.store.drop_pending_notice(run_id, key)
        services.store.log(run_id, "notice", "notice_posted", key=key)
        posted += 1
    refresh_status(services, run_id)
    return posted


def partial_patch(services: Services, run_id: str, step: str, limit: int = 20_000) -> str:
    """The change the failed `step` made before it stopped (its last `partial_patch` log entry), bounded."""
    entries = services.store.entries(run_id)
    starts = [i for i, e in enumerate(entries) if e.get("step") == step and e.get("event") == "started"]
    since = entries[starts[-1]:] if starts else entries
    kept = [e for e in since if e.get("step") == step and e.get("event") == "partial_patch"]
    patch = str(kept[-1].get("patch") or "") if kept else ""
    if len(patch) <= limit:
        return patch
    return patch[:limit] + f"\n[... {len(patch) - limit:,} more characters in the run's log]"


def status_snapshot(services: Services, run_id: str) -> status.Snapshot:
    """What the run's status comment shows, read from the store."""
    usage = services.store.usage(run_id)
    pull = RedisJournal(services.store).outputs(run_id).get("publish")
    return status.Snapshot(services.store.require(run_id), services.store.entries(run_id),
                           int(usage["prompt_tokens"] + usage["completion_tokens"]), usage["cost_usd"], pull)


def refresh_status(services: Services, run_id: str) -> None:
    """Post or edit the run's status comment to match what is stored now, before returning (raises what GitHub
    raised); an edit of it in flight on the status board ends first, and one asked for and not begun is dropped."""
    status_board(services).now(run_id)


def refresh_status_soon(services: Services, run_id: str) -> None:
    """Have the run's status comment edited off the caller's path: edits asked for while one is in flight become
    one, showing what is stored when it begins (`bot.flow.status_board`). The step's end waits for it."""
    status_board(services).soon(run_id)


def status_board(services: Services) -> StatusBoard:
    """The process's board of status-comment edits."""
    return services.status_board(lambda run_id: _write_status(services, run_id))


def _write_status(services: Services, run_id: str) -> None:
    run = services.store.require(run_id)
    with services.github.write_turn(run.installation_id):  # read the run once it is our turn to write
        snap = status_snapshot(services, run_id)
        notify(services, snap.run, "status", status.render(snap, time.time()))


def spent(services: Services, run_id: str) -> str:
    """The run's usage so far, in words."""
    usage = services.store.usage(run_id)
    tokens = int(usage["prompt_tokens"] + usage["completion_tokens"])
    return f"{tokens:,} tokens in {int(usage['calls'])} model calls, ${usage['cost_usd']:.4f}"


def notify(services: Services, run: Run, key: str, body: str) -> int:
    """Post (or, on a re-run, update) the run's notice `key` on the issue; returns the comment id."""
    marker = comments.notice_marker(run.id, key)
    return post(services, run, marker, f"{marker}\n{body}").id


def post(services: Services, run: Run, marker: str, body: str) -> CommentRef:
    """Upsert the run's comment carrying `marker`, through the gate (which logs the decision)."""
    gate = run_gate(services, run.id, Policy(default_branch=""))
    gate.enforce(Action(kind="comment", target=str(run.issue), detail=marker.removeprefix("<!-- ")[:60]))
    gateway = services.github.repo(run.installation_id, run.repo)
    ref = gateway.upsert_comment(run.issue, marker, services.redactor(body), services.store.comment_id(run.id, marker))
    services.store.remember_comment(run.id, marker, ref.id)
    return ref
