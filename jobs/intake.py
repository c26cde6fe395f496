"""Intake job: who asked, may they, and what does it change? Then queue the next step.

Runs once per relevant webhook delivery (the job id is the delivery id). Checks the
sender's permission through the API (cached briefly), applies the run's state
transition, and answers people on the issue. Safe to run twice for one delivery: the answer is
recorded when it is decided (with the transition it answers, `bot.runs.answers`), and a retry of
the job finishes that answer (reaction, reply, status) instead of deciding again.
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
from bot.runs.answers import Answer, FollowUp
from bot.runs.intents import Intent
from bot.runs.model import ACTIVE, STEP_OF_STATE, Run, State
from bot.runs.queueing import enqueue_step
from bot.runs.store import run_id_for

log = logging.getLogger("issuesmith.intake")
RUNNING = {State.PLANNING, State.APPROVED, State.IMPLEMENTING, State.TESTING}
"""States in which a job may be working right now (a `/cancel` stops it at its next check)."""


def handle(record: dict[str, Any]) -> str:
    """RQ entry point: act on one queued delivery; returns what was done (for the job result)."""
    services = current()
    intent = Intent.from_record(record)
    with bound(delivery=intent.delivery, repo=intent.repo, issue=intent.issue_number):
        gateway = services.github.repo(intent.installation_id, intent.repo)
        decided = services.store.answer(intent.delivery)
        if decided is not None:
            log.info("delivery decided before: finishing its answer", extra={"result": decided.result})
            return deliver(services, gateway, intent, decided, replay=True)
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
    log.info("refused: no write access", extra={"sender": intent.sender})
    return reply(services, gateway, intent, comments.needs_write(intent.sender, what), "refused")


def reply(services: Services, gateway: RepoGateway, intent: Intent, body: str, result: str,
          per_comment: bool = False) -> str:
    """Answer a delivery that changes nothing with `body`; returns `result`, the job's result.

    The answer is recorded first (the first one recorded for the delivery stands), so a retry of the
    job gives the same answer whatever the run became meanwhile. `per_comment`: one reply per
    commented comment instead, whatever the delivery (every edit of a comment is a delivery of its
    own; the answer to the edits is edited in place, not repeated).
    """
    answer = Answer(result, body, per_comment=per_comment)
    return deliver(services, gateway, intent, services.store.keep_answer(intent.delivery, answer, _ttl(services)))


def deliver(services: Services, gateway: RepoGateway, intent: Intent, answer: Answer, replay: bool = False) -> str:
    """Carry out a decided answer: its reaction and its reply (each safe to repeat); returns its result.

    A `replay` (a retry of a job that decided before) also queues the decision's follow-up step again
    (refused as a duplicate if it was queued) and brings the run's status comment up to date.
    """
    if replay and answer.follow_up is not None:
        step = answer.follow_up
        enqueue_step(services.queues, step.step, answer.run_id, step.version, step.attempt, services.policy)
    if replay and answer.run_id:
        refresh_status(services, answer.run_id)
    if answer.reaction:
        gateway.react_to_comment(intent.issue_number, intent.comment_id, answer.reaction)
    key = f"comment={intent.comment_id}" if answer.per_comment else f"delivery={intent.delivery}"
    marker = f"<!-- issuesmith:reply {key} -->"
    scope = key.replace("=", ":")
    ref = gateway.upsert_comment(intent.issue_number, marker, f"{marker}\n{services.redactor(answer.body)}",
                                 services.store.comment_id(scope, marker))
    services.store.remember_comment(scope, marker, ref.id)
    return answer.result


def _ttl(services: Services) -> int:
    """How long a delivery's answer is kept: as long as its id is remembered."""
    return services.settings.delivery_ttl_seconds


def transition(services: Services, run: Run, delivery: str, target: State, only_from: set[State],
               answer: Answer, **changes: object) -> Answer:
    """Move the run to `target` and record `answer` for `delivery` in the same atomic write.

    Without a delivery (a step job decided, not a person's comment) nothing is recorded.
    """
    services.store.transition(run.id, target, only_from=only_from, answer=(delivery, answer) if delivery else None,
                              answer_ttl=_ttl(services), **changes)
    return answer


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
        log.info("run not started: invalid repository configuration", extra={"problems": exc.problems})
        return reply(services, gateway, intent, comments.invalid_config(intent.sender, exc.path, exc.problems),
                     "invalid configuration")
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
    answer = grant_approval(services, run, run.plan_version, intent.sender, "label",
                            intent.delivery)
    return deliver(services, gateway, intent, answer)


def start_run(services: Services, gateway: RepoGateway, intent: Intent, config: RepoConfig) -> str:
    """A writer used the trigger label: create the run (unless one is active), queue planning, post the status
    comment, react. Planning is queued before any write: writes wait for the installation's turn
    (`bot.github.pacing`), in a burst of labels every plan waited behind the reaction, and a GitHub outage
    longer than this job's retries must not leave an active run with no plan job (the plan job's own failure
    path tells the issue once GitHub answers). Each step is safe to repeat."""
    run = Run(id=run_id_for(intent.delivery), repo=intent.repo, issue=intent.issue_number,
              installation_id=intent.installation_id, created_by=intent.sender, issue_title=intent.issue_title,
              config=config.snapshot())
    outcome, holder = services.store.create(run)
    if outcome == "busy":
        other = services.store.require(holder)
        gateway.react_to_issue(intent.issue_number, "eyes")
        return reply(services, gateway, intent, comments.already_running(intent.sender, holder, other.state), "busy")
    with bound(run=run.id):
        if outcome == "created":
            services.store.log(run.id, "intake", "run_created", by=intent.sender, delivery=intent.delivery)
        enqueue_step(services.queues, "plan", run.id, 1, 0, services.policy)
        refresh_status(services, run.id)
        gateway.react_to_issue(intent.issue_number, "eyes")
        log.info("run started, planning queued")
    return f"run {run.id}"


def on_command(services: Services, gateway: RepoGateway, intent: Intent) -> str:
    """A writer commented a command: apply it to the issue's run."""
    run = services.store.for_issue(intent.repo, intent.issue_number)
    if run is None:
        return reply(services, gateway, intent, comments.no_run(intent.sender, services.settings.trigger_label),
                     "no run")
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
    return reply(services, gateway, intent, comments.lost_race(intent.sender, command.name, now.state.value,
                                                               now.plan_version),
                 f"lost a race: the run is {now.state.value}")


def edited_command(services: Services, gateway: RepoGateway, intent: Intent, run: Run, command: Command) -> str:
    """A comment that was a command was edited: that is not a new command; say so, once per comment."""
    services.store.log(run.id, "intake", "edit_ignored", by=intent.sender, comment=intent.comment_id)
    return reply(services, gateway, intent, comments.edit_is_not_a_command(intent.sender, command.args),
                 "an edited command is not run again", per_comment=True)


def approve(services: Services, gateway: RepoGateway, intent: Intent, run: Run, command: Command) -> str:
    """Approve the plan version the comment answered, if it is still the latest one."""
    if run.state not in (State.AWAITING_APPROVAL, State.PLANNING):
        return reply(services, gateway, intent, comments.not_awaiting(intent.sender, "approve", run.state),
                     "not awaiting approval")
    answered = command.plan_version() or answered_version(services, run, intent.comment_created_at)
    if run.state == State.PLANNING and answered == 0:
        services.store.log(run.id, "intake", "approval_refused", answered=0, latest=run.plan_version + 1)
        return reply(services, gateway, intent, comments.plan_in_progress(intent.sender, run.plan_version + 1),
                     "plan in progress")
    if run.state == State.PLANNING or answered != run.plan_version:
        latest = run.plan_version + (1 if run.state == State.PLANNING else 0)
        services.store.log(run.id, "intake", "approval_refused", answered=answered, latest=latest)
        return reply(services, gateway, intent, comments.stale_approval(intent.sender, answered, latest),
                     "stale approval")
    if not plan_posted(services, run, answered):  # `/approve v2` before v2's comment is up
        services.store.log(run.id, "intake", "approval_refused", answered=answered, latest=answered, posted=False)
        return reply(services, gateway, intent, comments.plan_in_progress(intent.sender, answered),
                     "plan in progress")
    return deliver(services, gateway, intent, grant_approval(services, run, answered, intent.sender, "comment",
                                                                 intent.delivery))


def plan_posted(services: Services, run: Run, version: int) -> bool:
    """Whether plan `version` of the run is stored and its comment is up (only that can be approved)."""
    record = services.store.plan(run.id, version)
    return record is not None and bool(record.comment_id)


def grant_approval(services: Services, run: Run, version: int, by: str, via: str, delivery: str = "") -> Answer:
    """Approve posted plan `version` of a run awaiting approval as `by`; queue the implementation.

    Returns the answer owed: "approved", with a 👍 on a comment; recorded with the approval when
    the approval answers a `delivery`.
    """
    record = services.store.plan(run.id, version)
    if record is None or not record.comment_id:
        raise InvalidTransition(f"run {run.id} has no posted plan v{version} to approve")
    follow_up = FollowUp("implement", version, run.attempt)
    owed = Answer(f"approved v{version}" + (" by label" if via == "label" else ""),
                  comments.approved(by, version, record.hash), reaction="+1" if via == "comment" else "",
                  run_id=run.id, follow_up=follow_up)
    transition(services, run, delivery, State.APPROVED, {State.AWAITING_APPROVAL}, owed,
               approved_version=version, approved_hash=record.hash, approved_by=by,
               approved_at=time.time(), approved_via=via)
    services.store.log(run.id, "intake", "approved", version=version, hash=record.hash, by=by, via=via)
    enqueue_step(services.queues, "implement", run.id, version, run.attempt, services.policy)
    refresh_status(services, run.id)
    return owed


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
        return reply(services, gateway, intent, comments.not_awaiting(intent.sender, "revise", run.state),
                     "not awaiting approval")
    if not command.args:
        return reply(services, gateway, intent, f"@{intent.sender} tell me what to change: `/revise <notes>`.",
                     "revise without notes")
    version = run.plan_version + 1
    owed = Answer(f"revising to v{version}", comments.revising(intent.sender, version), reaction="eyes",
                  run_id=run.id, follow_up=FollowUp("plan", version, run.attempt))
    transition(services, run, intent.delivery, State.PLANNING, {State.AWAITING_APPROVAL}, owed,
               revise_notes=[*run.revise_notes, command.args])
    enqueue_step(services.queues, "plan", run.id, version, run.attempt, services.policy)
    refresh_status(services, run.id)
    return deliver(services, gateway, intent, owed)


def cancel(services: Services, gateway: RepoGateway, intent: Intent, run: Run, command: Command) -> str:
    """Stop the run; running jobs see the state and stop at their next check."""
    if run.state not in ACTIVE and run.state != State.FAILED:
        return reply(services, gateway, intent, comments.not_awaiting(intent.sender, "cancel", run.state),
                     "nothing to cancel")
    owed = Answer("cancelled", comments.cancelled(intent.sender, run.state in RUNNING), run_id=run.id)
    transition(services, run, intent.delivery, State.CANCELLED, {*ACTIVE, State.FAILED}, owed)
    services.store.log(run.id, "intake", "cancel_requested", by=intent.sender, was=run.state.value,
                       job_running=run.state in RUNNING)
    refresh_status(services, run.id)
    return deliver(services, gateway, intent, owed)


def retry(services: Services, gateway: RepoGateway, intent: Intent, run: Run, command: Command) -> str:
    """Run the failed step again (a new attempt, so a new job id)."""
    if run.state != State.FAILED:
        return reply(services, gateway, intent, comments.not_awaiting(intent.sender, "retry", run.state),
                     "nothing to retry")
    if run.failed_step.startswith("revise"):
        return retry_revision(services, gateway, intent, run)
    step = run.failed_step or "plan"
    target = State.PLANNING if step == "plan" else State.APPROVED
    attempt = run.attempt + 1
    version = run.plan_version + 1 if step == "plan" else run.approved_version
    follow_up = FollowUp(STEP_OF_STATE[target], version, attempt)
    owed = Answer(f"retrying {step}", comments.retrying(intent.sender, step), run_id=run.id, follow_up=follow_up)
    transition(services, run, intent.delivery, target, {State.FAILED}, owed, attempt=attempt, error="", failed_step="")
    enqueue_step(services.queues, follow_up.step, run.id, version, attempt, services.policy)
    refresh_status(services, run.id)
    return deliver(services, gateway, intent, owed)


def show_status(services: Services, gateway: RepoGateway, intent: Intent, run: Run, command: Command) -> str:
    """Answer `/status` with what the run's status comment shows, and bring that comment up to date."""
    refresh_status(services, run.id)
    snap = status_snapshot(services, run.id)
    return reply(services, gateway, intent, f"@{intent.sender} here is where run `{run.id}` stands:\n\n"
                                            + status.render(snap, time.time()), f"status: {run.state}")


def retry_revision(services: Services, gateway: RepoGateway, intent: Intent, run: Run) -> str:
    """Run a failed revision round of the pull request again (it resumes after its verified steps)."""
    attempt = run.attempt + 1
    follow_up = FollowUp("revise", run.pr_round, attempt)
    owed = Answer(f"retrying revision round {run.pr_round}", comments.retrying(intent.sender, run.failed_step),
                  run_id=run.id, follow_up=follow_up)
    transition(services, run, intent.delivery, State.IMPLEMENTING, {State.FAILED}, owed, attempt=attempt, error="",
               failed_step="")
    enqueue_step(services.queues, "revise", run.id, run.pr_round, attempt, services.policy)
    refresh_status(services, run.id)
    return deliver(services, gateway, intent, owed)
