"""A revision round on the bot's pull request: a person's review (or `/revise <notes>`) goes to
the Coder, then Reviewer, Tester and the test run go again, and new commits land on the branch.

The same pipeline as `bot.flow.implement` (its steps are reused: a `Revision` is an
`Implementation` whose base is the branch's current head and whose scope is the plan's
files, the files the pull request changes and the files the review names, minus what the
repository's configuration forbids). Differences: `prepare` reads the request, `code` starts
with the Coder's `address` phase (with `run_tests`, against the base run where the branch left the
default branch), `publish` pushes a commit on top of the branch (never
forced, never twice) and adds the round to the PR body's "Revisions" part, and `report`
answers each inline comment in its thread (once) and posts the round's results on the PR.

Each round keeps its own step outputs, so `/retry` after a failure resumes the round.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from bot.agents import coder
from bot.agents.brief import Brief
from bot.agents.prompting import fenced
from bot.config.repo import RepoConfig
from bot.config.settings import Settings
from bot.core.errors import GitError, InvalidTransition
from bot.flow.gate import Action
from bot.flow.implement import Implementation, joined, reviewed, unsandboxed_note
from bot.flow.pipeline import Pipeline, Step, StepContext
from bot.flow.services import Services
from bot.flow.steps import refresh_status, run_gate, stop_reason
from bot.github import prnotes
from bot.github.comments import carries_marker
from bot.github.report import TestSummary
from bot.runs.journal import RedisJournal
from bot.runs.model import Run, State
from bot.runs.plan import Plan
from bot.runs.store import PREFIX, RunStore

STEP = "revise"
"""The execution log's step name for what a revision round does around its pipeline."""


def revision_limit(run: Run, settings: Settings) -> int:
    """How many revision rounds the run's pull request may get: the repository's, else the deployment's."""
    return RepoConfig.from_snapshot(run.config).revisions(settings.max_revisions)


class RoundJournal(RedisJournal):
    """The pipeline journal of one revision round: its step outputs are kept apart from other rounds'."""

    def __init__(self, store: RunStore, round_no: int, **kwargs: Any) -> None:
        super().__init__(store, **kwargs)
        self.round_no = round_no

    def key(self, run_id: str) -> str:  # type: ignore[override]
        """The hash holding this round's verified step outputs."""
        return f"{PREFIX}:run:{run_id}:revise:{self.round_no}:steps"


@dataclass
class Revision(Implementation):
    """One revision round's state and steps (see the module docstring)."""

    request: dict[str, Any] = field(default_factory=dict)
    default_branch: str = ""
    scope: tuple[str, ...] = ()

    @property
    def round_no(self) -> int:
        return int(self.request["round"])

    def log(self, event: str, **detail: Any) -> None:
        """An entry of the run's execution log under the `revise` step, with the round number."""
        self.services.store.log(self.run.id, STEP, event, round=self.round_no, **detail)

    def plan_paths(self) -> tuple[str, ...]:
        """What this round may change (computed by `prepare`)."""
        return self.scope

    def pull_files(self, head: str) -> list[str]:
        """The files the pull request changes at `head`."""
        out = self.services.workspace.git("diff", "--name-only", "-z", "--no-ext-diff",
                                          f"refs/remotes/origin/{self.default_branch}...{head}", cwd=self.work.path)
        return [path for path in out.split("\0") if path]

    def pull_diff(self, head: str) -> str:
        """The pull request's change so far, as a unified diff."""
        return self.services.workspace.git("diff", "--no-ext-diff", "--no-textconv",
                                           f"refs/remotes/origin/{self.default_branch}...{head}", cwd=self.work.path)

    def baseline_commit(self, ctx: StepContext) -> str:
        """Where the pull request's branch left the default branch: a test failing there is not the pull
        request's doing (the branch head is not the base here, since it holds the pull request's change)."""
        return self.services.workspace.git("merge-base", f"refs/remotes/origin/{self.default_branch}",
                                           ctx.outputs["prepare"]["base"], cwd=self.work.path).strip()

    # -- steps ----------------------------------------------------------------------------------
    def prepare(self, ctx: StepContext) -> dict[str, Any]:
        """Fix the branch head this round starts from, read the request, and settle the scope."""
        head, number = self.work.sha, self.run.pr_number
        comments: list[dict[str, Any]] = []
        body = str(self.request.get("notes", ""))
        if self.request["kind"] == "review":
            review = self.gateway.review_request(number, int(self.request["review_id"]))
            body = review.body
            comments = [{"id": n.id, "path": n.path, "line": n.line, "body": n.body, "author": n.author}
                        for n in review.comments]
        candidates = list(dict.fromkeys([*(f.path for f in self.brief.plan.files), *self.pull_files(head),
                                         *(c["path"] for c in comments)]))
        problems = {path: why for path in candidates if (why := self.config.path_problem(path))}
        self.scope = tuple(path for path in candidates if path not in problems)
        self.log("review_received", kind=self.request["kind"], by=self.request["by"], comments=len(comments),
                 head=head, scope=list(self.scope), out_of_scope=sorted(problems))
        return {"base": head, "base_note": "", "body": body, "comments": comments, "scope": list(self.scope),
                "out_of_scope": problems}

    def code(self, ctx: StepContext) -> dict[str, Any]:
        """Coder addresses the request (the Reviewer ⇄ Coder rounds follow the tests, as in the implement pipeline)."""
        self.advance(State.IMPLEMENTING)
        prep = ctx.outputs["prepare"]
        tree = self.tree(ctx)
        tree.reset()
        session = self.edit_session(self.edit_scope(self.scope))
        settings, model = self.services.settings, self.model()
        self.status("code", f"addressing the review (round {self.round_no} on the pull request)")
        with self.test_home():  # the Coder's test runs: the setup command and the base run first, in this HOME
            report = coder.address(model, self.call("code"), self.brief, session, self._request_text(prep),
                                   self.pull_diff(prep["base"]), settings.coder_tool_calls,
                                   tests=self.coder_tests(ctx, joined([], session)))
        known = {int(c["id"]) for c in prep["comments"]}
        answers = [{"id": a.comment_id, "note": a.note} for a in report.answers
                   if a.comment_id in known and a.note.strip()]
        return {"patch": tree.patch(session.touched), "touched": session.touched, "refused": session.refused,
                "summary": report.summary, "answers": list({a["id"]: a for a in answers}.values())}

    def publish(self, ctx: StepContext) -> dict[str, Any]:
        """Commit on top of the branch head, push (fast-forward, once), add the round to the PR body."""
        test_out, code_out, head = ctx.outputs["test"], ctx.outputs["code"], ctx.outputs["prepare"]["base"]
        tree = self.tree(ctx)
        tree.reset(test_out["patch"])
        branch, number = self.run.branch, self.run.pr_number
        paths = [p for p in test_out["touched"] if p]
        self.status("publish", f"pushing revision round {self.round_no}")
        redact = self.services.redactor
        sha = tree.commit(paths, redact(self._revision_message(code_out["summary"])), self._identity(),
                          int(self.request["requested_at"]))
        self.gate.enforce(Action(kind="push", target=branch, branch=branch, paths=tuple(tree.changed_files(sha))))
        current = self.gateway.branch_head(branch)
        if current not in (sha, head):
            raise GitError(f"the branch {branch} moved to {str(current)[:12]} while this round worked on "
                           f"{head[:12]}; issuesmith does not overwrite other people's commits",
                           hint="request changes again (a new review or `/revise`) so a new round starts "
                                "from the branch as it is now")
        if current != sha:
            tree.push(self.clone_url, self.gateway.token, sha, branch)
        self.log("pushed", sha=sha, files=paths, pushed_now=current != sha)
        self.services.store.save_round(self.run.id, self.round_no, self._done(ctx, sha, code_out["summary"]))
        title, body = self.gateway.pull_text(number)
        rounds = [r for n in range(1, self.round_no + 1)
                  if (r := self.services.store.round_record(self.run.id, n)) and r.get("sha")]
        self.gate.enforce(Action(kind="update_pull", target=str(number), branch=branch))
        pull = self.gateway.update_pull(number, title, redact(prnotes.with_revisions(body, rounds)))
        self.advance(State.PR_OPEN)
        return {"number": number, "url": pull.html_url, "sha": sha, "draft": pull.draft}

    def report(self, ctx: StepContext) -> dict[str, Any]:
        """Answer each inline comment in its thread (once), post the round's results on the PR."""
        code_out, test_out, pull = ctx.outputs["code"], ctx.outputs["test"], ctx.outputs["publish"]
        number, redact = self.run.pr_number, self.services.redactor
        existing = self.gateway.review_replies(number)
        replied = 0
        for answer in code_out["answers"]:
            marker = prnotes.reply_marker(self.run.id, self.round_no, answer["id"])
            if not any(carries_marker(text, marker) for text in existing.get(answer["id"], [])):
                self.gate.enforce(Action(kind="comment", target=str(number), detail=f"reply to {answer['id']}"))
                body = f"{marker}\n{redact(prnotes.thread_reply(answer['note'], pull['sha']))}"
                self.gateway.reply_to_review_comment(number, answer["id"], body)
            replied += 1
        self.log("replied", count=replied)
        review, _ = reviewed(code_out, test_out)
        tests = TestSummary.from_report(test_out["report"]).line()
        warning = unsandboxed_note(test_out.get("sandbox", {}))
        record = self._done(ctx, pull["sha"], code_out["summary"])
        text = prnotes.round_results(self.round_no, revision_limit(self.run, self.services.settings), record,
                                     code_out["summary"], review.verdict.replace("_", " "), tests, replied)
        comment = self._post_on_pull(prnotes.round_key(self.round_no), text + (f"\n\n{warning}" if warning else ""))
        refresh_status(self.services, self.run.id)
        return {"comment": comment, "replied": replied}

    # -- details ----------------------------------------------------------------------------------
    def _done(self, ctx: StepContext, sha: str, summary: str) -> dict[str, Any]:
        """The round's record once pushed: the request, what the review said, the commit and the summary."""
        prep = ctx.outputs["prepare"]
        return {**self.request, "notes": prep["body"], "comments": len(prep["comments"]), "sha": sha,
                "summary": summary}

    def _request_text(self, prep: dict[str, Any]) -> str:
        by = self.request["by"]
        what = "review" if self.request["kind"] == "review" else "`/revise` notes"
        parts = [fenced(f"{what} by @{by}", prep["body"] or "(no text)")]
        for c in prep["comments"]:
            parts.append(f"Inline comment id {c['id']} on `{c['path']}` line {c['line']}:\n"
                         + fenced(f"review comment by @{c['author']}", c["body"]))
        parts.append("Files you may change in this revision: " + ", ".join(f"`{p}`" for p in self.scope))
        if prep["out_of_scope"]:
            parts.append("Not changeable (the repository's configuration forbids it): "
                         + ", ".join(f"`{p}`" for p in prep["out_of_scope"]))
        return "\n\n".join(parts)

    def _revision_message(self, summary: str) -> str:
        who = self.request["by"]
        return (f"Revise after review (round {self.round_no})\n\n{summary}\n\n"
                f"Asked by @{who} on #{self.run.pr_number}; refs #{self.run.issue}.")

    def _post_on_pull(self, key: str, body: str) -> int:
        """Upsert the run's comment `key` on the pull request (through the gate)."""
        number = self.run.pr_number
        marker = f"<!-- issuesmith:run={self.run.id} notice={key} -->"
        self.gate.enforce(Action(kind="comment", target=str(number), detail=key))
        store = self.services.store
        ref = self.gateway.upsert_comment(number, marker, f"{marker}\n{self.services.redactor(body)}",
                                          store.comment_id(self.run.id, marker))
        store.remember_comment(self.run.id, marker, ref.id)
        return ref.id


def steps(rev: Revision) -> list[Step]:
    """The revision pipeline (the implement pipeline's shape and names, its own step outputs)."""
    return [
        Step("prepare", rev.prepare, timeout=120, retries=2),
        Step("code", rev.code, deps=("prepare",), timeout=rev.code_step_seconds(), verify=rev.verify_code),
        Step("test", rev.test, deps=("prepare", "code"), timeout=rev.test_step_seconds()),
        Step("publish", rev.publish, deps=("prepare", "code", "test"), timeout=600, retries=2),
        Step("report", rev.report, deps=("prepare", "code", "test", "publish"), timeout=300, retries=2),
    ]


def revise_run(services: Services, run: Run) -> None:
    """Check out the bot's branch at its current head and drive the round, resuming after verified steps."""
    request = services.store.round_record(run.id, run.pr_round)
    if request is None:
        raise InvalidTransition(f"run {run.id} has no request for revision round {run.pr_round}")
    record = services.store.plan(run.id, run.approved_version)
    if record is None:
        raise InvalidTransition(f"run {run.id} has no approved plan v{run.approved_version}")
    gateway = services.github.repo(run.installation_id, run.repo)
    issue, default, url = gateway.issue(run.issue), gateway.default_branch(), gateway.clone_url()
    config = RepoConfig.from_snapshot(run.config)
    plan = Plan.model_validate({k: v for k, v in record.plan.items() if k != "_base"})
    test_command = record.plan.get("_base", {}).get("test_command", "")
    store = services.store

    gate = run_gate(services, run.id, config.policy(default))
    journal = RoundJournal(store, run.pr_round, redact=services.redactor)
    store.log(run.id, STEP, "round_started", round=run.pr_round, kind=request["kind"], by=request["by"],
              attempt=run.attempt)
    with services.workspace.checkout(run.repo, url, gateway.token, run.branch) as work:
        saved = journal.outputs(run.id).get("prepare")
        base = saved["base"] if saved else work.sha
        brief = Brief(run.repo, default, base, issue, plan, run.approved_version, record.hash, test_command,
                      config.guidance())
        rev = Revision(services, run, brief, gateway, work, gate, base, url, time.time(), request=request,
                       default_branch=default, config=config, scope=tuple(saved["scope"]) if saved else ())
        pipeline = Pipeline(steps(rev), journal, should_stop=lambda: stop_reason(services, run.id),
                            backoff=tuple(services.settings.step_retry_backoff))
        result = pipeline.run(run.id, {}, services)
    store.log(run.id, STEP, "round_finished", round=run.pr_round, sha=result.outputs["publish"]["sha"],
              replied=result.outputs["report"]["replied"])
    refresh_status(services, run.id)
