"""Plan job: check out the repository, build context, ask the Planner, post the plan.

Idempotent: the plan is stored and the run moved to AWAITING_APPROVAL before the
comment is posted; a re-run that finds a stored but unposted plan only posts it, and
the comment is upserted through its marker, so it never appears twice.
"""

from __future__ import annotations

import logging
import time

from bot.agents import planner
from bot.config.repo import RepoConfig
from bot.core.errors import InvalidTransition
from bot.flow.pipeline import Cancelled
from bot.flow.services import Services, current
from bot.flow.steps import call_context, notify, post, refresh_status, run_step, stop_reason
from bot.github import comments
from bot.localize.context import build_context
from bot.runs.model import Run, State
from bot.runs.plan import Plan, plan_hash
from bot.workspace.detect import detect_test_command
from jobs.intake import grant_approval, may_act

log = logging.getLogger("issuesmith.plan")


def make_plan(run_id: str) -> None:
    """RQ entry point for the `plan` step of a run."""
    services = current()
    run_step(services, run_id, "plan", lambda run: plan_step(services, run))


def plan_step(services: Services, run: Run) -> None:
    """Make the next plan version (if needed) and post it."""
    if run.state == State.PLANNING:
        version = draft_plan(services, run)
        if version is None:
            return
    elif run.state == State.AWAITING_APPROVAL and not _posted(services, run, run.plan_version):
        version = run.plan_version
    else:
        services.store.log(run.id, "plan", "skipped", reason=f"run is {run.state}")
        return
    post_plan(services, services.store.require(run.id), version)
    auto_approve(services, services.store.require(run.id), version)
    refresh_status(services, run.id)


def auto_approve(services: Services, run: Run, version: int) -> None:
    """Approve the plan at once when the issue carries the repository's auto-approve label, added by a writer.

    Who added the label is looked up (the issue's `labeled` events) and their permission checked
    (cached like any permission); the approval is in that writer's name and binds to this exact
    version and hash like an `/approve`. A label added by anyone else approves nothing: the plan
    waits, the issue is told once that a writer must add it (or reply `/approve`), and the status
    says why.
    """
    config = RepoConfig.from_snapshot(run.config)
    label = config.auto_approve_label
    if not label or run.state != State.AWAITING_APPROVAL:
        return
    gateway = services.github.repo(run.installation_id, run.repo)
    if not config.auto_approves(gateway.issue(run.issue).labels):
        return
    adder = gateway.label_added_by(run.issue, label)
    if adder is not None and may_act(services, gateway, adder):
        grant_approval(services, run, version, adder, "label")
        return
    services.store.log(run.id, "plan", "auto_approve_ignored", label=label, by=adder or "", version=version)
    notify(services, run, "auto-approve-ignored", comments.auto_approve_ignored(adder, label, version))


def draft_plan(services: Services, run: Run) -> int | None:
    """Run the Planner on a fresh work tree; store the plan; move the run to AWAITING_APPROVAL."""
    gateway = services.github.repo(run.installation_id, run.repo)
    issue = gateway.issue(run.issue)
    branch = gateway.default_branch()
    version = run.plan_version + 1
    previous = services.store.plan(run.id, run.plan_version)
    with services.workspace.checkout(run.repo, gateway.clone_url(), gateway.token, branch) as tree:
        config = RepoConfig.from_snapshot(run.config).with_agents_md(tree.path)
        services.store.update(run.id, config=config.snapshot())
        started = time.monotonic()
        context = build_context(tree.path, f"{issue.title}\n{issue.body}", services.settings.context_tokens,
                                cache_dir=services.workspace.root / "context-index" / run.repo,
                                git=services.workspace.git, cache_bytes=services.settings.localize_cache_bytes)
        services.store.log(run.id, "plan", "context", files=len(context.ranked), tokens=context.tokens,
                           top=[r.path for r in context.ranked[:5]], seconds=round(time.monotonic() - started, 3))
        inp = planner.PlannerInput(
            repo=run.repo, branch=branch, sha=tree.sha, issue=issue, context=context,
            test_command=config.test_command or detect_test_command(tree.path), revise_notes=run.revise_notes,
            previous_plan=Plan.model_validate(previous.plan) if previous else None, guidance=config.guidance(),
            blocked=config.blocked(), path_problem=config.allow_problem)
        result = planner.plan(services.model_for(config), call_context(services, run.id, "plan"), inp, tree.path,
                              services.settings.planner_tool_calls, services.workspace.git)
    digest = plan_hash(result)
    services.store.add_plan(run.id, version, {**result.model_dump(mode="json"),
                                              "_base": {"branch": branch, "sha": tree.sha,
                                                        "test_command": inp.test_command}}, digest)
    try:
        services.store.transition(run.id, State.AWAITING_APPROVAL, only_from={State.PLANNING},
                                  plan_version=version)
    except InvalidTransition:
        services.store.log(run.id, "plan", "discarded", reason="run left PLANNING while planning", version=version)
        reason = stop_reason(services, run.id)
        if reason is not None:
            raise Cancelled(reason, step="plan") from None
        return None
    services.store.log(run.id, "plan", "planned", version=version, hash=digest, files=len(result.files))
    return version


def post_plan(services: Services, run: Run, version: int) -> None:
    """Post plan `version` (upserted by marker) and fold away the version it supersedes."""
    record = services.store.plan(run.id, version)
    if record is None:
        raise InvalidTransition(f"run {run.id} has no plan v{version} to post")
    stored = dict(record.plan)
    base = stored.pop("_base", {})
    body = comments.render_plan(Plan.model_validate(stored), run.id, version, record.hash,
                                base.get("test_command", ""))
    ref = post(services, run, comments.plan_marker(run.id, version, record.hash), body)
    services.store.mark_plan_posted(run.id, version, ref.id, ref.created_at)
    services.store.log(run.id, "plan", "posted", version=version, comment=ref.id)
    if version > 1:
        supersede(services, run, version - 1, version)


def supersede(services: Services, run: Run, old: int, new: int) -> None:
    """Edit the comment of plan `old` to say plan `new` replaced it."""
    record = services.store.plan(run.id, old)
    if record is None or not record.comment_id:
        return
    gateway = services.github.repo(run.installation_id, run.repo)
    body = gateway.comment_body(run.issue, record.comment_id)
    if comments.is_superseded(body):
        return
    gateway.edit_comment(run.issue, record.comment_id, comments.render_superseded(body, old, new))


def _posted(services: Services, run: Run, version: int) -> bool:
    record = services.store.plan(run.id, version)
    return bool(record and record.comment_id)
