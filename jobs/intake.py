"""Intake job: who asked, may they, and what does it change? Then queue the next step.

Runs once per relevant webhook delivery (the job id is the delivery id). Checks the
sender's permission through the API (cached briefly), applies the run's state
transition, and answers people on the issue. Safe to run twice for one delivery.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.config import repo as repoconfig
from bot.config.limits import DeploymentLimits
from bot.config.repo import RepoConfig
from bot.core.errors import InvalidTransition
from bot.core.logs import bound
from bot.flow.services import Services, current
from bot.flow.steps import refresh_status, status_snapshot
from bot.github import comments, status
from bot.github.client import RepoGateway
from bot.github.commands import EDITED_COMMAND, Command
from bot.runs.intents import Intent
from bot.runs.model import ACTIVE, STEP_OF_STATE, Run, State
from bot.runs.queueing import enqueue_step
from bot.runs.store import PlanRecord, run_id_for

log = logging.getLogger("issuesmith.intake")
RUNNING = {State.PLANNING, State.APPROVED, State.IMPLEMENTING, State.TESTING}
"""States in which a job may be working right now (a `/cancel` stops it at its next check)."""


def handle(record: dict[str, Any]) -> str:
    """RQ entry point: act on one queued delivery; returns what was done (for the job result)."""
    services = current()
    intent = Intent.from_record(record)
    with bound(delivery=intent.delivery, repo=intent.repo, issue=intent.issue_number):
        gateway = services.github.repo(intent.installation_id, intent.repo)
        if intent.kind == "label":
            return on_label(services, gateway, intent)
        if not may_act(services, gateway, intent.sender):
            return refuse(services, gateway, intent)
        return on_command(services, gateway, intent)


def may_act(services: Services, gateway: RepoGateway, login: str) -> bool:
    """Whether `login` has write, maintain or admin permission (looked up, cached briefly)."""
    permission = services.store.cached_permission(gateway.full_name, login)
    if permission is None:
        permission = gateway.permission(login)
        services.store.cache_permission(gateway.full_name, login, permission,
                                        services.settings.permission_cache_seconds)
    return permission in ("admin", "write")


def refuse(services: Services, gateway: RepoGateway, intent: Intent) -> str:
    """Tell a person without write access, politely, that they cannot drive the bot."""
    what = "start issuesmith with the label" if intent.kind == "label" else f"use `/{intent.command}`"
    reply(services, gateway, intent, comments.needs_write(intent.sender, what))
    log.info("refused: no write access", extra={"sender": intent.sender})
    return "refused"


def reply(services: Services, gateway: RepoGateway, intent: Intent, body: str, per_comment: bool = False) -> None:
    """Answer a delivery on its issue, once (a re-run intake edits the same comment).

    `per_comment`: one answer per commented comment instead, whatever the delivery (every edit of a
    comment is a delivery of its own; the answer to the edits is edited in place, not repeated).
    """
    key = f"comment={intent.comment_id}" if per_comment else f"delivery={intent.delivery}"
    marker = f"<!-- issuesmith:reply {key} -->"
    scope = key.replace("=", ":")
    ref = gateway.upsert_comment(intent.issue_number, marker, f"{marker}\n{services.redactor(body)}",
                                 services.store.comment_id(scope, marker))
    services.store.remember_comment(scope, marker, ref.id)


def on_label(services: Services, gateway: RepoGateway, intent: Intent) -> str:
    """A label was added: the repository's trigger label starts a run, its auto-approve label approves.

    The repository's `.github/issuesmith.yml` says which labels those are; a file that does not
    validate, or asks for more than the deployment allows (`bot.config.limits`: a higher budget, an
    unpriced model, a setup command where repositories may not set one), is reported to a writer
    who used the trigger label, and no run starts.
    """
    default = services.settings.trigger_label
    try:
        config, path = repoconfig.load_with_path(gateway.file_text)
        config = DeploymentLimits.from_settings(services.settings).check(config, path)
    except repoconfig.RepoConfigInvalid as exc:
        if not _same(intent.label, exc.trigger_label or default):
            return f"label {intent.label!r} ignored (configuration invalid)"
        if not may_act(services, gateway, intent.sender):
            return refuse(services, gateway, intent)
        reply(services, gateway, intent, comments.invalid_config(intent.sender, exc.path, exc.problems))
        log.info("run not started: invalid repository configuration", extra={"problems": exc.problems})
        return "invalid configuration"
    if _same(intent.label, config.label(default)):
        if not may_act(services, gateway, intent.sender):
            return refuse(services, gateway, intent)
        return start_run(services, gateway, intent, config)
    if config.auto_approve_label and _same(intent.label, config.auto_approve_label):
        return on_auto_approve_label(services, gateway, intent)
    return f"label {intent.label!r} is not a trigger label here"


def _same(label: str, wanted: str) -> bool:
    return bool(wanted) and label.casefold() == wanted.casefold()


def on_auto_approve_label(services: Services, gateway: RepoGateway, intent: Intent) -> str:
    """The auto-approve label added while a plan waits: the writer who added it approves that plan."""
    run = services.store.for_issue(intent.repo, intent.issue_number)
    if run is None or run.state != State.AWAITING_APPROVAL or not plan_posted(services, run, run.plan_version):
        return "auto-approve label noted"  # the plan job approves when it posts the plan
    if not may_act(services, gateway, intent.sender):
        return refuse(services, gateway, intent)
    record = grant_approval(services, run, run.plan_version, intent.sender, "label")
    reply(services, gateway, intent, comments.approved(intent.sender, run.plan_version, record.hash))
    return f"approved v{run.plan_version} by label"


def start_run(services: Services, gateway: RepoGateway, intent: Intent, config: RepoConfig) -> str:
    """A writer used the trigger label: react, create the run (unless one is active), queue planning."""
    gateway.react_to_issue(intent.issue_number, "eyes")
    run = Run(id=run_id_for(intent.delivery), repo=intent.repo, issue=intent.issue_number,
              installation_id=intent.installation_id, created_by=intent.sender, issue_title=intent.issue_title,
              config=config.snapshot())
    outcome, holder = services.store.create(run)
    if outcome == "busy":
        other = services.store.require(holder)
        reply(services, gateway, intent, comments.already_running(intent.sender, holder, other.state))
        return "busy"
    with bound(run=run.id):
        if outcome == "created":
            services.store.log(run.id, "intake", "run_created", by=intent.sender, delivery=intent.delivery)
        enqueue_step(services.queue, "plan", run.id, 1, 0, services.policy)
        refresh_status(services, run.id)
        log.info("run started, planning queued")
    return f"run {run.id}"


def on_command(services: Services, gateway: RepoGateway, intent: Intent) -> str:
    """A writer commented a command: apply it to the issue's run."""
    run = services.store.for_issue(intent.repo, intent.issue_number)
    if run is None:
        reply(services, gateway, intent, comments.no_run(intent.sender, services.settings.trigger_label))
        return "no run"
    command = Command(intent.command, intent.args)
    with bound(run=run.id, command=command.name):
        services.store.log(run.id, "intake", "command", name=command.name, by=intent.sender,
                           delivery=intent.delivery)
        handler = {"approve": approve, "revise": revise, "cancel": cancel, "retry": retry,
                   "status": show_status, EDITED_COMMAND: edited_command}[command.name]
        try:
            return handler(services, gateway, intent, run, command)
        except InvalidTransition as refused:
            return lost_race(services, gateway, intent, run, command, refused)


def lost_race(services: Services, gateway: RepoGateway, intent: Intent, run: Run, command: Command,
              refused: InvalidTransition) -> str:
    """Another command changed the run between our read and our write (the store's compare-and-set said no):
    answer at once with what the run is now. Anything else that was refused is a bug, and goes up."""
    now = services.store.require(run.id)
    if now.state == run.state:
        raise refused
    services.store.log(run.id, "intake", "command_lost_race", name=command.name, by=intent.sender,
                       state=now.state.value)
    reply(services, gateway, intent, comments.lost_race(intent.sender, command.name, now.state.value,
                                                        now.plan_version))
    return f"lost a race: the run is {now.state.value}"


def edited_command(services: Services, gateway: RepoGateway, intent: Intent, run: Run, command: Command) -> str:
    """A comment that was a command was edited: that is not a new command; say so, once per comment."""
    reply(services, gateway, intent, comments.edit_is_not_a_command(intent.sender, command.args), per_comment=True)
    services.store.log(run.id, "intake", "edit_ignored", by=intent.sender, comment=intent.comment_id)
    return "an edited command is not run again"


def approve(services: Services, gateway: RepoGateway, intent: Intent, run: Run, command: Command) -> str:
    """Approve the plan version the comment answered, if it is still the latest one."""
    if run.state not in (State.AWAITING_APPROVAL, State.PLANNING):
        reply(services, gateway, intent, comments.not_awaiting(intent.sender, "approve", run.state))
        return "not awaiting approval"
    answered = command.plan_version() or answered_version(services, run, intent.comment_created_at)
    if run.state == State.PLANNING and answered == 0:
        reply(services, gateway, intent, comments.plan_in_progress(intent.sender, run.plan_version + 1))
        services.store.log(run.id, "intake", "approval_refused", answered=0, latest=run.plan_version + 1)
        return "plan in progress"
    if run.state == State.PLANNING or answered != run.plan_version:
        latest = run.plan_version + (1 if run.state == State.PLANNING else 0)
        reply(services, gateway, intent, comments.stale_approval(intent.sender, answered, latest))
        services.store.log(run.id, "intake", "approval_refused", answered=answered, latest=latest)
        return "stale approval"
    if not plan_posted(services, run, answered):  # `/approve v2` before v2's comment is up
        reply(services, gateway, intent, comments.plan_in_progress(intent.sender, answered))
        services.store.log(run.id, "intake", "approval_refused", answered=answered, latest=answered, posted=False)
        return "plan in progress"
    record = grant_approval(services, run, answered, intent.sender, "comment")
    gateway.react_to_comment(intent.issue_number, intent.comment_id, "+1")
    reply(services, gateway, intent, comments.approved(intent.sender, answered, record.hash))
    return f"approved v{answered}"


def plan_posted(services: Services, run: Run, version: int) -> bool:
    """Whether plan `version` of the run is stored and its comment is up (only that can be approved)."""
    record = services.store.plan(run.id, version)
    return record is not None and bool(record.comment_id)


def grant_approval(services: Services, run: Run, version: int, by: str, via: str) -> PlanRecord:
    """Approve posted plan `version` of a run awaiting approval as `by`; queue the implementation."""
    record = services.store.plan(run.id, version)
    if record is None or not record.comment_id:
        raise InvalidTransition(f"run {run.id} has no posted plan v{version} to approve")
    services.store.transition(run.id, State.APPROVED, only_from={State.AWAITING_APPROVAL},
                              approved_version=version, approved_hash=record.hash, approved_by=by,
                              approved_at=time.time(), approved_via=via)
    services.store.log(run.id, "intake", "approved", version=version, hash=record.hash, by=by, via=via)
    enqueue_step(services.queue, "implement", run.id, version, run.attempt, services.policy)
    refresh_status(services, run.id)
    return record


def answered_version(services: Services, run: Run, comment_created_at: str) -> int:
    """The newest plan version that was already posted when the comment was written."""
    for version in range(run.plan_version, 0, -1):
        record = services.store.plan(run.id, version)
        if record and record.posted_at and record.posted_at <= comment_created_at:
            return version
    return 0


def revise(services: Services, gateway: RepoGateway, intent: Intent, run: Run, command: Command) -> str:
    """Ask for a new plan version with the writer's notes."""
    if run.state != State.AWAITING_APPROVAL:
        reply(services, gateway, intent, comments.not_awaiting(intent.sender, "revise", run.state))
        return "not awaiting approval"
    if not command.args:
        reply(services, gateway, intent, f"@{intent.sender} tell me what to change: `/revise <notes>`.")
        return "revise without notes"
    services.store.transition(run.id, State.PLANNING, only_from={State.AWAITING_APPROVAL},
                              revise_notes=[*run.revise_notes, command.args])
    gateway.react_to_comment(intent.issue_number, intent.comment_id, "eyes")
    reply(services, gateway, intent, comments.revising(intent.sender, run.plan_version + 1))
    enqueue_step(services.queue, "plan", run.id, run.plan_version + 1, run.attempt, services.policy)
    refresh_status(services, run.id)
    return f"revising to v{run.plan_version + 1}"


def cancel(services: Services, gateway: RepoGateway, intent: Intent, run: Run, command: Command) -> str:
    """Stop the run; running jobs see the state and stop at their next check."""
    if run.state not in ACTIVE and run.state != State.FAILED:
        reply(services, gateway, intent, comments.not_awaiting(intent.sender, "cancel", run.state))
        return "nothing to cancel"
    services.store.transition(run.id, State.CANCELLED, only_from={*ACTIVE, State.FAILED})
    services.store.log(run.id, "intake", "cancel_requested", by=intent.sender, was=run.state.value,
                       job_running=run.state in RUNNING)
    reply(services, gateway, intent, comments.cancelled(intent.sender, run.state in RUNNING))
    refresh_status(services, run.id)
    return "cancelled"


def retry(services: Services, gateway: RepoGateway, intent: Intent, run: Run, command: Command) -> str:
    """Run the failed step again (a new attempt, so a new job id)."""
    if run.state != State.FAILED:
        reply(services, gateway, intent, comments.not_awaiting(intent.sender, "retry", run.state))
        return "nothing to retry"
    if run.failed_step.startswith("revise"):
        return retry_revision(services, gateway, intent, run)
    step = run.failed_step or "plan"
    target = State.PLANNING if step == "plan" else State.APPROVED
    attempt = run.attempt + 1
    services.store.transition(run.id, target, only_from={State.FAILED}, attempt=attempt, error="",
                              failed_step="")
    version = run.plan_version + 1 if step == "plan" else run.approved_version
    reply(services, gateway, intent, comments.retrying(intent.sender, step))
    enqueue_step(services.queue, STEP_OF_STATE[target], run.id, version, attempt, services.policy)
    refresh_status(services, run.id)
    return f"retrying {step}"


def show_status(services: Services, gateway: RepoGateway, intent: Intent, run: Run, command: Command) -> str:
    """Answer `/status` with what the run's status comment shows, and bring that comment up to date."""
    refresh_status(services, run.id)
    snap = status_snapshot(services, run.id)
    reply(services, gateway, intent, f"@{intent.sender} here is where run `{run.id}` stands:\n\n"
                                     + status.render(snap, time.time()))
    return f"status: {run.state}"


def retry_revision(services: Services, gateway: RepoGateway, intent: Intent, run: Run) -> str:
    """Run a failed revision round of the pull request again (it resumes after its verified steps)."""
    attempt = run.attempt + 1
    services.store.transition(run.id, State.IMPLEMENTING, only_from={State.FAILED}, attempt=attempt, error="",
                              failed_step="")
    reply(services, gateway, intent, comments.retrying(intent.sender, run.failed_step))
    enqueue_step(services.queue, "revise", run.id, run.pr_round, attempt, services.policy)
    refresh_status(services, run.id)
    return f"retrying revision round {run.pr_round}"
