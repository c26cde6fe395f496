"""Pull request intake: a review, `/revise <notes>` or the close of the bot's pull request.

Runs once per relevant delivery (the job id is the delivery id, as for `jobs.intake`).
A delivery about a pull request no run of ours opened is dropped without a word. A
revision request needs write access (checked like commands) and a run waiting on its
pull request; it is bound to a round number once, so a re-run intake never starts a
second round. Merged or closed ends the run (no permission check: GitHub did it).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.config.repo import RepoConfig
from bot.core.errors import InvalidTransition
from bot.core.logs import bound
from bot.flow.gate import Action
from bot.flow.revise import STEP, revision_limit
from bot.flow.services import Services, current
from bot.flow.steps import notify, refresh_status, run_gate
from bot.github import comments, prnotes
from bot.github.client import RepoGateway
from bot.github.commands import EDITED_COMMAND
from bot.runs.answers import Answer, FollowUp
from bot.runs.intents import Intent
from bot.runs.model import PULL_ENDABLE, Run, State
from bot.runs.queueing import enqueue_step
from jobs.intake import deliver, may_act, reply, transition

log = logging.getLogger("issuesmith.pulls")

IN_ROUND = (State.IMPLEMENTING, State.TESTING)


def handle(record: dict[str, Any]) -> str:
    """RQ entry point: act on one queued pull request delivery; returns what was done."""
    services = current()
    intent = Intent.from_record(record)
    with bound(delivery=intent.delivery, repo=intent.repo, pull=intent.issue_number):
        run = services.store.for_pull(intent.repo, intent.issue_number)
        if run is None:
            log.info("not the pull request of a run; ignored")
            return "not ours"
        gateway = services.github.repo(intent.installation_id, intent.repo)
        decided = services.store.answer(intent.delivery)
        if decided is not None:
            log.info("delivery decided before: finishing its answer", extra={"result": decided.result})
            return deliver(services, gateway, intent, decided, replay=True)
        with bound(run=run.id):
            if intent.kind == "pull_closed":
                return on_closed(services, gateway, intent, run)
            if not may_act(services, gateway, intent.sender):
                services.store.log(run.id, STEP, "refused", by=intent.sender, reason="no write access",
                                   delivery=intent.delivery)
                return reply(services, gateway, intent,
                             comments.needs_write(intent.sender, "ask issuesmith to revise its pull request"),
                             "refused")
            if intent.command == EDITED_COMMAND:
                return reply(services, gateway, intent, comments.edit_is_not_a_command(intent.sender, intent.args),
                             "an edited command is not run again", per_comment=True)
            return request_round(services, gateway, intent, run)


def request_key(intent: Intent) -> str:
    """What identifies a revision request across redeliveries and re-runs."""
    return f"review-{intent.review_id}" if intent.kind == "review" else f"comment-{intent.comment_id}"


def request_round(services: Services, gateway: RepoGateway, intent: Intent, run: Run) -> str:
    """Start the next revision round for a writer's request, within the bound."""
    store = services.store
    if intent.kind == "pull_revise" and not intent.args:
        return reply(services, gateway, intent, f"@{intent.sender} tell me what to change: `/revise <notes>`.",
                     "revise without notes")
    key, round_no = request_key(intent), run.pr_round + 1
    claimed = store.claim_round(run.id, key, round_no)
    if claimed != round_no:  # seen before: make sure its round is queued, start nothing new
        if claimed == run.pr_round and run.state in IN_ROUND:
            _ensure_record(services, intent, run, claimed, key)
            enqueue_step(services.queues, STEP, run.id, claimed, run.attempt, services.policy)
        return f"already round {claimed}"
    if run.state != State.PR_OPEN:
        store.release_round(run.id, key)
        return reply(services, gateway, intent, prnotes.not_now(intent.sender, run.state), f"not now: {run.state}")
    limit = revision_limit(run, services.settings)
    if run.pr_round >= limit:
        store.release_round(run.id, key)
        store.log(run.id, STEP, "limit_reached", rounds=run.pr_round, limit=limit, by=intent.sender,
                  delivery=intent.delivery)
        return reply(services, gateway, intent, prnotes.take_over(intent.sender, limit, run.branch), "limit reached")
    owed = Answer(f"round {round_no}", prnotes.round_queued(intent.sender, round_no, limit),
                  reaction="eyes" if intent.kind == "pull_revise" else "", run_id=run.id,
                  follow_up=FollowUp(STEP, round_no, run.attempt))
    try:
        transition(services, run, intent.delivery, State.IMPLEMENTING, {State.PR_OPEN}, owed, pr_round=round_no)
    except InvalidTransition:  # another request won the race for this round
        store.release_round(run.id, key)
        return reply(services, gateway, intent, prnotes.not_now(intent.sender, store.require(run.id).state), "busy")
    _ensure_record(services, intent, run, round_no, key)
    store.log(run.id, STEP, "requested", round=round_no, kind=intent.kind, by=intent.sender,
              delivery=intent.delivery)
    enqueue_step(services.queues, STEP, run.id, round_no, run.attempt, services.policy)
    refresh_status(services, run.id)
    return deliver(services, gateway, intent, owed)


def _ensure_record(services: Services, intent: Intent, run: Run, round_no: int, key: str) -> None:
    """Store what round `round_no` is asked (kept as first written: its time fixes the commit's date)."""
    existing = services.store.round_record(run.id, round_no)
    if existing is not None and existing.get("request") == key:
        return
    services.store.save_round(run.id, round_no, {
        "round": round_no, "request": key, "kind": intent.kind.removeprefix("pull_"), "by": intent.sender,
        "review_id": intent.review_id, "comment_id": intent.comment_id, "notes": intent.args,
        "delivery": intent.delivery, "requested_at": time.time()})


def on_closed(services: Services, gateway: RepoGateway, intent: Intent, run: Run) -> str:
    """The pull request was merged or closed: end the run, delete the branch if configured, tell the issue."""
    store = services.store
    target = State.MERGED if intent.merged else State.CLOSED
    try:
        store.transition(run.id, target, only_from=set(PULL_ENDABLE))
    except InvalidTransition:
        if store.require(run.id).state != target:
            store.log(run.id, STEP, "pull_closed_ignored", state=store.require(run.id).state.value,
                      merged=intent.merged)
            return f"run already {store.require(run.id).state}"
    store.log(run.id, STEP, "pull_merged" if intent.merged else "pull_closed", by=intent.sender,
              pr=intent.issue_number, was=run.state.value)
    config = RepoConfig.from_snapshot(run.config)
    branch = run.branch or intent.head_branch
    if config.delete_branch:
        gate = run_gate(services, run.id, config.policy(gateway.default_branch()))
        gate.enforce(Action(kind="delete_branch", target=branch, branch=branch))
        existed = gateway.delete_branch(branch)
        store.log(run.id, STEP, "branch_deleted", branch=branch, existed=existed)
    body = prnotes.closed_note(intent.merged, intent.sender, intent.issue_number, branch, config.delete_branch)
    notify(services, store.require(run.id), "pull-closed", body)
    refresh_status(services, run.id)
    return target.value.lower()
