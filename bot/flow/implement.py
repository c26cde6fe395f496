"""The implement run: prepare → code (Tester reproduces the issue, then Coder, who may run the tests) → test
(Tester, then code runs the tests, Coder fixes; then Reviewer ⇄ Coder, the Reviewer seeing the test results)
→ publish (commit, push, pull request) → report, as pipeline steps.

The Coder's `run_tests` (`bot.agents.testruns`) runs the repository's tests through the same
`sandboxed` path as the test step, in the job's HOME (`test_home`): the setup command first (once per
job) and the base run (`bot.flow.baseline`, cached per base commit), so its `finish` can be
refused while a regression against the base exists. The budget of its runs and seconds is the
job's, shared by the code step and the test step's fix and revision rounds.

The code step starts with the reproduction phase (`bot.flow.reproduce`): a test the Tester writes
that fails on the base tree. Its ids are kept: the Coder's `run_tests` says whether they pass and its
`finish` is refused while they do not; the base run never counts them as already failing; the pull
request names them.

The workflow is this code; the model only writes and judges text. Each step's output is
verified and stored, so a re-run job resumes after the last verified step: the tree is
rebuilt from the base commit plus the stored patch. Every irreversible action (comment,
push, pull request) passes the gate, which logs its decision.

A code step whose agents fail (an error, `give_up`, a repeated call, a cancel) throws its work
tree away, but not the change made so far: `keeping_partial` records it in the run's log first
(`partial_patch`), and the failure comment shows it; `/retry` starts the step afresh. (The test
step does not: its tree has run repository code, and its code-step patch is stored anyway.)
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from bot.agents import coder, findings, reviewer, tester
from bot.agents.brief import Brief
from bot.agents.prompting import fenced
from bot.agents.testruns import Budget, TestRuns
from bot.agents.tools import EditSession
from bot.config.limits import DeploymentLimits
from bot.config.pricing import Share
from bot.config.repo import RepoConfig
from bot.core.errors import ConfigError, InvalidTransition
from bot.core.markdown import code, fence
from bot.core.walk import remove_tree
from bot.flow import candidates
from bot.flow.baseline import base_run
from bot.flow.candidates import Attempt, Turn
from bot.flow.gate import Action, Gate
from bot.flow.pipeline import Cancelled, Pipeline, Step, StepContext, step_usage
from bot.flow.reproduce import Reproduction, reproduce
from bot.flow.services import Services, seconds_for_code_step, seconds_for_test_step
from bot.flow.steps import call_context, notify, refresh_status, refresh_status_soon, run_gate, stop_reason
from bot.github.client import RepoGateway
from bot.github.report import PullBody, TestSummary, render_results
from bot.models.client import CallContext, ModelClient
from bot.runs.journal import RedisJournal
from bot.runs.model import Run, State
from bot.runs.plan import Plan
from bot.runs.review import Review
from bot.sandboxes import baseline
from bot.sandboxes.base import CommandResult, Limits
from bot.sandboxes.baseline import BaseRun, Comparison, compare
from bot.sandboxes.nodeids import pytest_node_id
from bot.sandboxes.selector import narrowed, narrowing
from bot.sandboxes.testresults import TestReport, build_report, clear_surefire_reports, is_plain_pytest, with_junit
from bot.workspace import edits
from bot.workspace.assertions import assertion_edits
from bot.workspace.assertions import render as render_assertions
from bot.workspace.slots import WorkTree
from bot.workspace.tree import Identity, Tree

JUNIT_NAME = ".issuesmith-junit.xml"
MAX_PARTIAL_CHARS = 60_000
log = logging.getLogger("issuesmith.implement")
CHAIN = (State.APPROVED, State.IMPLEMENTING, State.TESTING, State.PR_OPEN)


def branch_name(issue: int, title: str) -> str:
    """`issuesmith/<issue>-<slug of the plan title>`."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].rstrip("-") or "change"
    return f"issuesmith/{issue}-{slug}"


@dataclass
class Implementation:
    """One implement job's state and the steps' code."""

    services: Services
    run: Run
    brief: Brief
    gateway: RepoGateway
    work: WorkTree
    gate: Gate
    planned_base: str
    clone_url: str
    started: float
    config: RepoConfig = field(default_factory=RepoConfig)
    sandbox_used: dict[str, Any] = field(default_factory=dict)
    home: Path | None = None
    set_up: bool = False  # the setup command ran in this HOME
    base: BaseRun | None = None  # the base run, once asked for in this HOME
    based: bool = False
    test_budget: Budget | None = None  # the Coder's test runs and seconds left (this job's)
    reproduction: Reproduction | None = None  # the tests that fail on the base by design (the code step's)
    whole_runs: dict[str, TestReport] = field(default_factory=dict)  # this job's whole-command runs, by tree

    # -- helpers ------------------------------------------------------------------------------
    def call(self, step: str) -> CallContext:
        return call_context(self.services, self.run.id, step)

    def model(self) -> ModelClient:
        """The model client with this repository's models per role and budget."""
        return self.services.model_for(self.config)

    def edit_scope(self, allowed: tuple[str, ...], extra_globs: tuple[str, ...] = ()) -> edits.Scope:
        """Where an agent may edit: `allowed` and `extra_globs`, within the repository's path rules."""
        return edits.Scope(allowed=allowed, extra_globs=extra_globs, blocked=self.config.blocked(),
                           rule=self.config.allow_problem)

    def edit_session(self, scope: edits.Scope, root: Path | None = None) -> EditSession:
        """The agents' tools on this job's work tree (or a candidate's spare tree at `root`), within `scope`."""
        return EditSession(root or self.work.path, scope, git=self.services.workspace.git)

    def max_revisions(self) -> int:
        """Reviewer → Coder rounds: the repository's setting, else the deployment's."""
        return self.config.revisions(self.services.settings.max_revisions)

    def tree(self, ctx: StepContext) -> Tree:
        return Tree(self.services.workspace.git, self.work.path, ctx.outputs["prepare"]["base"])

    def status(self, step: str, detail: str = "") -> None:
        """Note what `step` is doing now in the run's log and bring the status comment up to date."""
        self.services.store.log(self.run.id, step, "progress", detail=detail)
        refresh_status_soon(self.services, self.run.id)

    def advance(self, target: State) -> None:
        """Move the run along APPROVED → IMPLEMENTING → TESTING → PR_OPEN up to `target`."""
        reason = stop_reason(self.services, self.run.id)
        if reason:
            raise Cancelled(reason)
        current = self.services.store.require(self.run.id).state
        if current not in CHAIN:
            raise InvalidTransition(f"a run in state {current} cannot be implemented")
        for state in CHAIN[CHAIN.index(current) + 1: CHAIN.index(target) + 1]:
            self.services.store.transition(self.run.id, state, only_from={current})
            current = state

    def plan_paths(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.brief.plan.files)

    def code_paths(self, ctx: StepContext) -> tuple[str, ...]:
        """Where the Coder may edit: the scope `prepare` settled (a revision round's), else the plan's files."""
        return tuple(ctx.outputs["prepare"].get("scope") or self.plan_paths())

    @contextmanager
    def test_home(self) -> Iterator[None]:
        """A HOME for the commands (what the setup command installs there, the test runs see): the one already
        made for this job when there is one (the implement job keeps one from step to step, so the setup command
        runs once per job), else one of the block's own, removed when the block ends, however deep a command
        nested it, never following a link."""
        if self.home is not None:
            yield
            return
        self.home, self.set_up, self.based, self.base = Path(tempfile.mkdtemp(prefix="issuesmith-home-")), False, \
            False, None
        try:
            yield
        finally:
            remove_tree(self.home)
            self.home = None

    def fresh(self, tree: Tree, patch: str = "") -> None:
        """The job's tree back to the base plus `patch` and nothing else, and its HOME empty: what the setup command
        built is gone, so it runs again (first, before any test run in this HOME) before the next test run."""
        tree.reset(patch)
        self.whole_runs.clear()  # made with what the setup command built: it runs again
        if self.home is not None:
            for entry in list(self.home.iterdir()):
                remove_tree(entry)
        self.set_up = False

    def kept(self, tree: Tree, patch: str, paths: list[str]) -> None:
        """The job's tree at the base plus `patch` (`paths`: what it may hold beyond the base now), what the
        setup command built kept when it ran in this HOME; else `fresh`."""
        if self.set_up:
            tree.restore(patch, paths)
        else:
            self.fresh(tree, patch)

    def prepared(self, ctx: StepContext, touched: list[str]) -> BaseRun | None:
        """The setup command run and the base run made in this step's HOME (each once); the base run."""
        if not self.set_up:
            self.run_setup(ctx, touched)
            self.set_up = True
        if not self.based:
            self.base, self.based = base_run(self, ctx, touched), True
        if self.base is not None and self.reproduction is not None:
            return self.base.without(self.reproduction.tests)
        return self.base

    def coder_tests(self, ctx: StepContext, touched: Callable[[], list[str]], budget: Budget | None = None,
                    turn: Turn = candidates.no_turn) -> TestRuns | None:
        """The Coder's `run_tests` for one phase (None when the deployment offers none or there is no test command).

        Each run: the setup command and the base run first (once per job), then the test command narrowed
        by the selector, sandboxed like the test step's runs (the tree restored after), logged as `coder_tests`.
        `budget` is the runs and seconds it may take (the job's by default); `turn(paths)` is held around each
        run (a candidate's turn on the job's tree, `bot.flow.candidates.Bench`).
        """
        settings = self.services.settings
        if settings.coder_test_runs <= 0 or not self.brief.test_command:
            return None
        if budget is None:
            if self.test_budget is None:
                self.test_budget = Budget(settings.coder_test_runs, settings.coder_test_seconds)
            budget = self.test_budget

        def run(selector: str, seconds: float) -> tuple[TestReport, Comparison, float]:
            arguments = narrowing(self.brief.test_command, selector)
            paths = list(dict.fromkeys(touched()))
            base = self.prepared(ctx, paths)
            with turn(paths):
                started = time.monotonic()
                report, verdict = self.run_tests(ctx, paths, base, narrow=arguments, cap=seconds, event="coder_tests")
                return report, verdict, time.monotonic() - started

        reproducing = self.reproduction.tests if self.reproduction else ()
        return TestRuns(run, budget, self.brief.branch, self.runner_id, reproduction=reproducing)

    def runner_id(self, test_id: str) -> str:
        """A failing test's id in the form the test command accepts back (pytest node ids), else as reported."""
        return pytest_node_id(test_id, self.work.path) if is_plain_pytest(self.brief.test_command) else test_id

    @contextmanager
    def keeping_partial(self, ctx: StepContext, tree: Tree, touched: Callable[[], list[str]]) -> Iterator[None]:
        """On any failure inside, log the change made so far to `touched()` (`partial_patch`), then re-raise."""
        try:
            yield
        except Exception:
            try:
                paths = list(dict.fromkeys(touched()))
                patch = tree.patch(paths)
            except Exception as exc:  # the step's own error matters more; this one is only logged
                log.warning("could not record the partial change", exc_info=exc)
                raise
            if patch:
                ctx.log("partial_patch", files=paths, chars=len(patch), patch=patch[:MAX_PARTIAL_CHARS])
            raise

    # -- steps ----------------------------------------------------------------------------------
    def prepare(self, ctx: StepContext) -> dict[str, Any]:
        """Fix the base commit of this run (the default branch's head now)."""
        moved = bool(self.planned_base) and self.planned_base != self.work.sha
        note = (f"The default branch moved from `{self.planned_base[:12]}` to `{self.work.sha[:12]}` after the plan "
                "was made; this branch starts from the current head." if moved else "")
        return {"base": self.work.sha, "base_note": note}

    def code(self, ctx: StepContext) -> dict[str, Any]:
        """The reproduction phase, then the Coder implements the plan (once, or as candidates: `bot.flow.candidates`),
        running the tests as it sees fit (the Reviewer comes after the tests)."""
        self.advance(State.IMPLEMENTING)
        tree = self.tree(ctx)
        self.fresh(tree)
        written: list[str] = []  # the reproduction's test files
        sessions: list[EditSession] = []  # the Coder's on the job's tree (a single attempt's)
        with self.test_home(), self.keeping_partial(ctx, tree, lambda: [*written, *latest_touched(sessions)]):
            self.reproduction = reproduce(self, ctx)
            written += self.reproduction.paths if self.reproduction else ()
            count = self.candidate_count(ctx)
            if count == 1:
                self.status("code", "implementing the plan")
                return self.code_output(self.attempt(ctx, tree, written, Attempt(1, False), sessions=sessions))
            return self.code_candidates(ctx, tree, written, count)

    def candidate_count(self, ctx: StepContext) -> int:
        """How many Coder attempts: the repository's `candidates`, bounded by the deployment's maximum."""
        count = DeploymentLimits.from_settings(self.services.settings).run_candidates(self.config)
        if (self.config.candidates or 1) > count:  # a configuration stored before the deployment lowered its limit
            ctx.log("candidates_bounded", asked=self.config.candidates, allowed=count)
        return count

    def attempt(self, ctx: StepContext, tree: Tree, written: list[str], attempt: Attempt,
                model: ModelClient | None = None, of: int = 1, sessions: list[EditSession] | None = None,
                call: CallContext | None = None, budget: Budget | None = None,
                turn: Turn = candidates.no_turn) -> Attempt:
        """One Coder attempt on `tree` as it is (the base plus the reproduction tests): its change.

        A candidate's attempt works in a spare tree with its own `model`, `call`, test `budget` and `turn`.
        """
        session = self.edit_session(self.edit_scope(self.code_paths(ctx)), tree.root)
        if sessions is not None:
            sessions.append(session)
        extra = "\n\n".join(filter(None, [candidates.told(attempt.index, of), self.reproduction_brief()]))
        report = coder.code(model or self.model(), call or self.call("code"), self.brief, session, "implement",
                            self.services.settings.coder_tool_calls, extra=extra,
                            tests=self.coder_tests(ctx, joined(written, session), budget, turn))
        attempt.touched = [*written, *(p for p in session.touched if p not in written)]
        attempt.patch, attempt.refused, attempt.summary = tree.patch(attempt.touched), session.refused, report.summary
        attempt.change = tree.patch([p for p in attempt.touched if p not in written])
        return attempt

    def code_output(self, attempt: Attempt, candidates: dict[str, Any] | None = None) -> dict[str, Any]:
        """The code step's output: the attempt's change, and the candidates' record when there were several."""
        return {"patch": attempt.patch, "touched": attempt.touched, "refused": attempt.refused,
                "summary": attempt.summary, "changed": bool(attempt.change), "candidates": candidates,
                "reproduction": self.reproduction.to_dict() if self.reproduction else None}

    def code_candidates(self, ctx: StepContext, tree: Tree, written: list[str], count: int) -> dict[str, Any]:
        """`count` Coder attempts from the same tree, as many at once as the deployment allows, each in a spare
        tree, judged by the tests on the job's tree in turns; the chosen one's change is the step's (see
        `bot.flow.candidates`)."""
        settings = self.services.settings
        start = tree.patch(written)
        if self.brief.test_command:
            self.prepared(ctx, written)  # the setup command and the base run, once, before the attempts share them
        runs = self.test_budget = self.test_budget or Budget(settings.coder_test_runs, settings.coder_test_seconds)
        usd, tokens = candidates.share(self.spent(), self.budget_limit(), count)
        bench = candidates.Bench(tree, written)
        at_once = min(count, settings.candidates_at_once)
        self.status("code", f"implementing the plan: {count} attempts, {at_once} at a time")
        portions = [runs.portion(count) for _ in range(count)]
        given = [(p.runs, p.seconds) for p in portions]
        jobs = [partial(self.candidate, ctx, bench, start, written, Attempt(i, sampled=i > 1), count,
                        Share(usd, tokens), portions[i - 1]) for i in range(1, count + 1)]
        try:
            attempts = candidates.run_all(jobs, at_once, bench)
        finally:
            for portion, was in zip(portions, given, strict=True):
                runs.settle(portion, was)
        choice = candidates.choose(attempts)
        failed = [a.failure for a in attempts if a.failure is not None]
        if choice.chosen is None and failed and len(failed) == len(attempts):
            raise failed[0]  # every attempt failed: the first failure is the step's
        chosen = choice.chosen or attempts[0]
        ctx.log("candidate_chosen", index=chosen.index, tried=len(attempts), reason=choice.reason[:500])
        self.kept(tree, chosen.patch, list(dict.fromkeys([*bench.synced, *chosen.touched])))
        return self.code_output(chosen, {"tried": len(attempts), "asked": count, "chosen": chosen.index,
                                         "at_once": at_once, "reason": choice.reason,
                                         "attempts": [a.to_dict() for a in attempts]})

    def candidate(self, ctx: StepContext, bench: candidates.Bench, start: str, written: list[str], attempt: Attempt,
                  of: int, share: Share, budget: Budget) -> Attempt:
        """One of the candidates (run by `candidates.run_all`): a spare tree at the base plus `start`, the Coder in
        it held to `share` and `budget`, then one whole test run on the job's tree in its turn. The attempt's own
        failure is recorded in it; any other error ends it (and the others, through `bench`)."""
        bench.check()
        model = self.model()
        if attempt.sampled:
            model = model.sampled(self.services.settings.candidate_temperature)
        call = candidates.own_call(self.call("code"), attempt.index, bench)
        base = bench.tree.base
        with self.services.workspace.spare(self.run.repo, base) as place:
            spare = Tree(self.services.workspace.git, place, base)
            spare.reset(start)
            turn = partial(bench.turn, spare)
            try:
                self.attempt(ctx, spare, written, attempt, model.within(share), of, call=call, budget=budget,
                             turn=turn)
                self.judge(ctx, attempt, turn)
            except candidates.ATTEMPT_ERRORS as exc:
                attempt.failure, attempt.error = exc, str(exc).splitlines()[0][:300]
        ctx.log("candidate", index=attempt.index, sampled=attempt.sampled, kept=attempt.kept, lines=attempt.lines,
                why=(attempt.error or attempt.why)[:300], files=attempt.touched)
        return attempt

    def judge(self, ctx: StepContext, attempt: Attempt, turn: Turn = candidates.no_turn) -> None:
        """Run the whole test command on the attempt's change against the base run: whether it is kept, and why."""
        if not attempt.change or not self.brief.test_command:  # its own change: the reproduction tests are everyone's
            attempt.kept, attempt.why = candidates.judged_reason(bool(attempt.change), None, 0, [], "")
            return
        base = self.prepared(ctx, attempt.touched)
        with turn(attempt.touched):
            report, verdict = self.run_tests(ctx, attempt.touched, base, event="candidate_tests")
        passing = [passes for _, passes in reproduced(self.reproduction, self._report_dict(report, verdict))]
        attempt.tests = self.what(report, verdict)
        attempt.kept, attempt.why = candidates.judged_reason(True, verdict.accepted, verdict.new_failures, passing,
                                                            attempt.tests)

    def spent(self) -> tuple[float, int]:
        """What the run spent on the model so far: dollars, tokens."""
        usage = self.services.store.usage(self.run.id)
        return float(usage.get("cost_usd", 0.0)), int(usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0))

    def budget_limit(self) -> tuple[float, int]:
        """The run's budget: dollars, tokens (the deployment's, lowered by the repository's)."""
        budget = DeploymentLimits.from_settings(self.services.settings).run_budget(self.config)
        return budget.max_usd, budget.max_tokens

    def reproduction_brief(self) -> str:
        """What the Coder is told of the reproduction tests ("" without any)."""
        if self.reproduction is None:
            return ""
        shown = fenced("reproduction tests", "\n".join(self.reproduction.shown))
        return (f"These tests reproduce the issue: they fail on {self.brief.branch} now. Make them pass (do not "
                f"change them) and show it with run_tests before you finish.\n{shown}")

    def review_rounds(self, ctx: StepContext, tree: Tree, touched: list[str], extra_paths: list[str],
                      judged: tuple[TestReport, Comparison]) -> tuple[dict[str, Any], tuple[TestReport, Comparison]]:
        """Reviewer judges the change and its test results; Coder revises, at most `max_revisions` times.

        After a revision that changed the tree the tests run again. `touched` grows with the revisions'
        edits. Returns the review's part of the test step's output (review, revisions) and the latest results.
        """
        settings, model = self.services.settings, self.model()
        revisions: list[str] = []
        for round_no in range(1, self.max_revisions() + 2):
            ctx.check()
            self.status("test", f"review round {round_no}")
            review = self.review_once(ctx, tree, touched, judged, round_no)
            if review.verdict == "approve" or round_no > self.max_revisions():
                break
            self.status("test", f"revising after review round {round_no}")
            before = tree.patch(touched)
            session = self.edit_session(self.edit_scope((*self.code_paths(ctx), *extra_paths)))
            revised = coder.code(model, self.call("code"), self.brief, session, "revise", settings.coder_tool_calls,
                                 extra=fenced("review findings", review.as_feedback()), diff=before,
                                 tests=self.coder_tests(ctx, joined(touched, session)))
            touched += [p for p in session.touched if p not in touched]
            revisions.append(revised.summary)
            if tree.patch(touched) != before:
                judged = self.run_tests(ctx, touched, self.base)
        return {"review": review.model_dump(mode="json"), "revisions": revisions}, judged

    def review_once(self, ctx: StepContext, tree: Tree, touched: list[str], judged: tuple[TestReport, Comparison],
                    round_no: int) -> Review:
        """One review: the diff with its enclosing functions, the test results and the edited assertions shown;
        findings that point at no changed line (nor name a missing change) dropped and logged."""
        diff = tree.function_diff(touched)
        edited = assertion_edits(tree.patch(touched))
        asked = reviewer.review(self.model(), self.call("review"), self.brief, diff, round_no,
                                self.failures(*judged), render_assertions(edited))
        review, dropped = findings.checked(asked, diff)
        for gone in dropped:
            ctx.log("finding_dropped", round=round_no, file=gone.finding.file[:300], line=gone.finding.line,
                    severity=gone.finding.severity, reason=gone.reason[:300])
        ctx.log("review", round=round_no, verdict=review.verdict, findings=len(review.findings), dropped=len(dropped),
                assertion_edits=len(edited), asked=asked.verdict)
        return review

    def verify_code(self, output: dict[str, Any], ctx: StepContext) -> list[str]:
        """A code step must change something, and only files in the plan."""
        tests = Reproduction.from_dict(output.get("reproduction"))
        written = tests.paths if tests else ()
        changed = output.get("changed", bool(output["patch"]))  # the reproduction tests are not the Coder's change
        problems = [] if changed else ["the Coder made no change"]
        scope, tests_scope = self.edit_scope(self.plan_paths()), self.edit_scope((), tester.TEST_GLOBS)
        problems += [f"{p}: {why}" for p in output["touched"]
                     if (why := (tests_scope if p in written else scope).permits(p))]
        return problems

    def test(self, ctx: StepContext) -> dict[str, Any]:
        """Tester adds tests; the setup and test commands run; the Coder fixes failures, bounded.

        The commands of this step share the job's HOME with the code step's (`test_home`): when the code
        step ran the setup command in this job, it does not run again.
        """
        self.advance(State.TESTING)
        with self.test_home():
            return self._test(ctx)

    def _test(self, ctx: StepContext) -> dict[str, Any]:
        code_out = ctx.outputs["code"]
        self.reproduction = Reproduction.from_dict(code_out.get("reproduction"))
        tree = self.tree(ctx)
        touched = list(code_out["touched"])
        self.kept(tree, code_out["patch"], touched)
        settings, model = self.services.settings, self.model()
        self.status("test", "writing tests")
        session = self.edit_session(self.edit_scope((), tester.TEST_GLOBS))
        added = tester.write_tests(model, self.call("test"), self.brief, session, code_out["patch"],
                                   settings.tester_tool_calls)
        added_paths = [p for p in session.touched if p not in touched]
        touched += added_paths
        base = self.prepared(ctx, touched)
        report, verdict = self.tests_of_this_tree(ctx, tree, touched, base)
        fixes: list[str] = []
        while not verdict.accepted and self.brief.test_command and len(fixes) < settings.max_test_fixes:  # none: no fix
            ctx.check()
            self.status("test", f"fixing the tests ({self.what(report, verdict)})")
            before = tree.patch(touched)
            fix_session = self.edit_session(self.edit_scope((*self.code_paths(ctx), *added_paths)))
            fixed = coder.code(model, self.call("fix"), self.brief, fix_session, "fix", settings.coder_tool_calls,
                               extra=fenced("test results", self.failures(report, verdict)), diff=before,
                               tests=self.coder_tests(ctx, joined(touched, fix_session)))
            touched += [p for p in fix_session.touched if p not in touched]
            fixes.append(fixed.summary)
            if tree.patch(touched) == before:  # the same tree gives the same results: not run again
                ctx.log("tests_not_rerun", round=len(fixes), reason="the fix round changed nothing")
                continue
            report, verdict = self.run_tests(ctx, touched, base)
        reviewed, (report, verdict) = self.review_rounds(ctx, tree, touched, added_paths, (report, verdict))
        return {"patch": tree.patch(touched), "touched": touched, "report": self._report_dict(report, verdict),
                "fixes": fixes, "tests_added": added.tests_added, "sandbox": self.sandbox_used,
                "baseline": base.summary() if base else None, **reviewed}

    def tests_of_this_tree(self, ctx: StepContext, tree: Tree, touched: list[str],
                           base: BaseRun | None) -> tuple[TestReport, Comparison]:
        """The whole test command's result on the tree as it is: the code step's, when it ran the whole command on
        this same tree in this job (the Coder's last `run_tests`, a candidate's judging run), else a new run."""
        known = self.whole_runs.get(tree_key(tree.patch(touched)))
        if known is None:
            return self.run_tests(ctx, touched, base)
        verdict = compare(known, base)
        ctx.log("tests_not_rerun", round=0, reason="the code step ran the whole test command on this same tree",
                passed=known.passed, failed=known.failed, errors=known.errors, ok=verdict.accepted)
        return known, verdict

    def sandboxed(self, ctx: StepContext, touched: list[str], command: Callable[[], CommandResult],
                  on: str = "") -> CommandResult:
        """Run a sandboxed `command` on the work tree, then restore the tree before anything of ours touches it.

        With `on` (a commit), the command runs on that commit's tree instead: the edits in
        `touched` out, what earlier commands built kept (see `Tree.restore`).
        The slot stays marked as lent (and is deleted, not reused, by the next job) unless the
        tree is restored to base plus the edits in `touched`.
        """
        tree = self.tree(ctx)
        patch = tree.patch(touched)
        with self.services.workspace.lent(self.work):
            if on:
                Tree(self.services.workspace.git, self.work.path, on).restore("", touched)
            result = command()
            tree.restore(patch, touched)
        return result

    def baseline_commit(self, ctx: StepContext) -> str:
        """The commit whose tests tell which failures were there before the change: the run's base."""
        return str(ctx.outputs["prepare"]["base"])

    def test_step_seconds(self) -> int:
        """The test step's timeout for this run (its repository's test timeout, bounded by the deployment)."""
        settings = self.services.settings
        return seconds_for_test_step(settings, DeploymentLimits.from_settings(settings).run_test_timeout(self.config))

    def code_step_seconds(self) -> int:
        """The code step's timeout for this run (room for the Coder's test runs, see `seconds_for_code_step`)."""
        settings = self.services.settings
        limits = DeploymentLimits.from_settings(settings)
        return seconds_for_code_step(settings, limits.run_test_timeout(self.config), limits.run_candidates(self.config))

    def run_setup(self, ctx: StepContext, touched: list[str]) -> None:
        """Run the configured setup command (dependency installs) in the sandbox, with an outbound network."""
        settings = self.services.settings
        command = DeploymentLimits.from_settings(settings).run_setup_command(self.config)  # the deployment decides
        if not command:
            return
        self.status("test", "running the setup command")
        result = self.sandboxed(ctx, touched, lambda: self.services.sandbox().run(
            command, self.work.path, Limits(timeout=settings.setup_timeout, disk_bytes=settings.disk_bytes),
            network=True, redactor=self.services.redactor, home=self.home))
        ctx.log("setup", command=command, exit_code=result.exit_code, timed_out=result.timed_out,
                seconds=round(result.duration, 2), backend=result.backend, isolated=result.isolated)
        if result.disk_exceeded:
            raise disk_quota_error("setup", command, result)
        if result.exit_code != 0:
            ended = (f"timed out after {settings.setup_timeout:g}s" if result.timed_out
                     else f"exited with {result.exit_code}")
            tail = "\n".join(result.output.strip().splitlines()[-15:])
            raise ConfigError(f"the setup command {code(command)} {ended}; its last lines:\n{fence(tail)}",
                              hint="fix the setup command (`setup_command` in .github/issuesmith.yml, or "
                                   "ISSUESMITH_SETUP_COMMAND) or the repository, "
                                   "then comment `/retry`")

    def run_tests(self, ctx: StepContext, touched: list[str], base: BaseRun | None = None, on: str = "",
                  narrow: tuple[str, ...] = (), cap: float = 0, event: str = "tests") -> tuple[TestReport, Comparison]:
        """Run the repository's test command in the sandbox; code decides pass or fail, against `base`.

        With `on` (a commit), on that commit's tree: the base run (`bot.flow.baseline`), logged as `base_tests`.
        With `narrow` (arguments checked by `bot.sandboxes.selector`), the command narrowed by them; with `cap`,
        within at most that many seconds; logged as `event`.
        """
        command = self.brief.test_command or "echo 'no test command was detected or configured' && exit 1"
        junit = self.work.path / JUNIT_NAME  # inside the tree: the sandbox sees only the tree
        remove_tree(junit)
        clear_surefire_reports(self.work.path, command)
        backend = self.services.sandbox()
        settings = self.services.settings
        timeout = DeploymentLimits.from_settings(settings).run_test_timeout(self.config)  # the repository's, bounded
        limits = Limits(timeout=min(timeout, cap) if cap > 0 else timeout, disk_bytes=settings.disk_bytes)
        shown = narrowed(command, narrow) if narrow else command
        if not on and event == "tests":
            self.status("test", "running the tests with the change")
        result = self.sandboxed(ctx, touched, lambda: backend.run(
            narrowed(with_junit(command, junit), narrow), self.work.path, limits, redactor=self.services.redactor,
            home=self.home), on)
        if result.disk_exceeded:
            remove_tree(junit)
            raise disk_quota_error("test", command, result)
        report = redacted(build_report(shown, result, junit if junit.exists() else None, self.work.path),
                          self.services.redactor)
        remove_tree(junit)
        self.sandbox_used = {"backend": result.backend, "isolated": result.isolated, "notes": list(result.notes)}
        if not on and not narrow and not report.timed_out and self.set_up:
            self.whole_runs[tree_key(self.tree(ctx).patch(touched))] = report
        verdict = compare(report, base)
        ctx.log("base_tests" if on else event, passed=report.passed, failed=report.failed, errors=report.errors,
                ok=verdict.accepted, what=self.what(report, verdict), source=report.source,
                exit_code=report.exit_code, seconds=round(result.duration, 2), backend=result.backend,
                isolated=result.isolated, baseline=verdict.baseline, already_failing=len(verdict.already_failing))
        return report, verdict

    def what(self, report: TestReport, verdict: Comparison) -> str:
        """What a test run did, the tests already failing on the base branch apart."""
        return baseline.what(report, verdict, self.brief.branch)

    def failures(self, report: TestReport, verdict: Comparison) -> str:
        """What the Coder (and the Reviewer) is told of a failed run (see `_failures`), the failing tests named as
        the test command takes them back (`runner_id`: what `run_tests` accepts)."""
        return _failures(report, verdict, self.brief.branch, self.runner_id)

    def _report_dict(self, report: TestReport, verdict: Comparison) -> dict[str, Any]:
        """The stored report, with `shown`: each failing test's id as people and the Coder see it (`runner_id`,
        what the test command takes back) where it differs from the report's (JUnit's)."""
        data = _report_dict(report, verdict, self.brief.branch)
        names = [str(c["name"]) for c in data["cases"]] + [str(n) for n in data["comparison"]["already_failing"]]
        data["shown"] = {name: shown for name in names if (shown := self.runner_id(name)) != name}
        return data

    def publish(self, ctx: StepContext) -> dict[str, Any]:
        """Commit as the app, push our branch, open (or update) the pull request."""
        test_out, code_out = ctx.outputs["test"], ctx.outputs["code"]
        tree = self.tree(ctx)
        tree.reset(test_out["patch"])
        branch = branch_name(self.run.issue, self.brief.plan.title)
        paths = [p for p in test_out["touched"] if p]
        self.status("publish", "pushing the branch")
        redact = self.services.redactor
        sha = tree.commit(paths, redact(self._commit_message(code_out["summary"])), self._identity(),
                          int(self.run.approved_at or time.time()))
        self.gate.enforce(Action(kind="push", target=branch, branch=branch, paths=tuple(tree.changed_files(sha))))
        if self.gateway.branch_head(branch) != sha:
            tree.push(self.clone_url, self.gateway.token, sha, branch)
        body = self._pull_body(ctx, tree)
        title, text, draft = redact(self.brief.plan.title), redact(body.render()), self.draft(body)
        existing = self.gateway.find_open_pull(branch)
        if existing:
            self.gate.enforce(Action(kind="update_pull", target=str(existing.number), branch=branch))
            pull = self.gateway.update_pull(existing.number, title, text)
        else:
            self.gate.enforce(Action(kind="open_pull", target=branch, branch=branch))
            pull = self.gateway.open_pull(branch, self.brief.branch, title, text, draft)
        self.services.store.link_pull(self.run.id, self.run.repo, pull.number, branch)
        self.advance(State.PR_OPEN)
        return {"number": pull.number, "url": pull.html_url, "draft": pull.draft, "branch": branch, "sha": sha,
                "draft_reasons": body.draft_reasons()}

    def report(self, ctx: StepContext) -> dict[str, Any]:
        """Post the review and test results, and close the status comment with the PR link."""
        code_out, test_out, pull = ctx.outputs["code"], ctx.outputs["test"], ctx.outputs["publish"]
        review, revisions = reviewed(code_out, test_out)
        body = render_results(review, revisions,
                              TestSummary.from_report(test_out["report"]), pull["url"],
                              unsandboxed_note(test_out.get("sandbox", {})))
        comment = notify(self.services, self.run, "results", body)
        refresh_status(self.services, self.run.id)
        return {"comment": comment}

    def draft(self, body: PullBody) -> bool:
        """Whether the pull request opens as a draft, by the repository's draft policy."""
        policy = self.config.draft
        return policy == "always" or (policy == "when_failing" and bool(body.draft_reasons()))

    # -- publishing details ------------------------------------------------------------------
    def _identity(self) -> Identity:
        login = self.gateway.bot_login
        return Identity(login, f"{self.services.settings.app_id}+{login}@users.noreply.github.com")

    def _commit_message(self, summary: str) -> str:
        approver = self.run.approved_by
        return (f"{self.brief.plan.title}\n\n{summary}\n\nCloses #{self.run.issue}\n"
                f"Plan v{self.brief.version} ({self.brief.plan_hash}), approved by @{approver}.\n\n"
                f"Co-authored-by: {approver} <{approver}@users.noreply.github.com>")

    def _pull_body(self, ctx: StepContext, tree: Tree) -> PullBody:
        code_out, test_out = ctx.outputs["code"], ctx.outputs["test"]
        files = tree.numstat(test_out["patch"])
        changed = [f[0] for f in files]
        planned = self.plan_paths()
        entries = self.services.store.entries(self.run.id)
        review, revisions = reviewed(code_out, test_out)
        return PullBody(
            issue=self.run.issue, plan=self.brief.plan, version=self.brief.version, plan_hash=self.brief.plan_hash,
            approved_by=self.run.approved_by, files=files,
            unplanned=[p for p in changed if p not in planned], untouched=[p for p in planned if p not in changed],
            review=review, revisions=revisions,
            tests=TestSummary.from_report(test_out["report"]), usage=step_usage(entries), log=entries,
            base_note=ctx.outputs["prepare"]["base_note"], sandbox_note=unsandboxed_note(test_out.get("sandbox", {})),
            reproduction=reproduced(Reproduction.from_dict(code_out.get("reproduction")), test_out["report"]),
            candidates=candidate_rows(code_out.get("candidates")))


def tree_key(patch: str) -> str:
    """What identifies a tree of this job's base: its patch's digest."""
    return hashlib.sha256(patch.encode()).hexdigest()


def candidate_rows(record: dict[str, Any] | None) -> list[str]:
    """The pull request's lines on the Coder's attempts (none with a single attempt)."""
    if not record:
        return []
    at_once = f", {record['at_once']} at a time" if record.get("at_once") else ""
    head = f"{record['tried']} Coder attempts were made ({record['asked']} asked{at_once}), each judged by the tests:"
    return [head, *candidates.render(record["attempts"], record["reason"], record.get("stopped", ""))]


def latest_touched(sessions: list[EditSession]) -> list[str]:
    """What the latest of `sessions` changed so far (nothing before the first)."""
    return list(sessions[-1].touched) if sessions else []


def joined(touched: list[str], session: EditSession) -> Callable[[], list[str]]:
    """The paths changed so far: `touched`, then what `session` changed (read when called)."""
    return lambda: [*touched, *session.touched]


def reproduced(tests: Reproduction | None, report: dict[str, Any]) -> list[tuple[str, bool]]:
    """Each reproduction test (as the runner names it) and whether the test step's final run shows it passing:
    the run counted and finished, named all its failures, and none of them is the test."""
    if tests is None:
        return []
    failing = {c["name"] for c in report.get("cases", []) if c.get("outcome") in ("failed", "error")}
    named = len(failing) >= report["failed"] + report["errors"]
    ran = report.get("source") != "exit_code" and not report.get("before_tests") and not report.get("timed_out")
    pairs = zip(tests.tests, tests.shown, strict=True)
    return [(shown, ran and named and test not in failing) for test, shown in pairs]


def reviewed(code_out: dict[str, Any], test_out: dict[str, Any]) -> tuple[Review, list[str]]:
    """The review and the revisions' summaries: the test step's (the Reviewer comes after the tests), or the code
    step's in a run recorded before it did."""
    source = test_out if "review" in test_out else code_out
    return Review.model_validate(source["review"]), list(source["revisions"])


def disk_quota_error(phase: str, command: str, result: CommandResult) -> ConfigError:
    """The run's failure when a command of the repository took the work tree and HOME past the disk quota."""
    return ConfigError(f"the {phase} command {code(command)} was stopped: {result.disk_note}",
                       hint="make the repository's setup and tests write less (build output, caches, downloads), "
                            "or ask the operator of this deployment to raise ISSUESMITH_DISK_BYTES, "
                            "then comment `/retry`")


def unsandboxed_note(sandbox: dict[str, Any]) -> str:
    """A loud warning when the tests ran without isolation (only ever by explicit configuration)."""
    if not sandbox or sandbox.get("isolated", True):
        return ""
    return ("⚠️ The tests ran **without a sandbox** (ISSUESMITH_ALLOW_UNSANDBOXED=1 on this deployment): "
            "repository code ran with the worker's access.")


def redacted(report: TestReport, redact: Callable[[str], str]) -> TestReport:
    """The report with secrets scrubbed from everything the tests printed (it reaches prompts and GitHub)."""
    cases = [replace(case, name=redact(case.name), message=redact(case.message)) for case in report.cases]
    return replace(report, output_tail=redact(report.output_tail), cases=cases,
                   failing=tuple(redact(test) for test in report.failing))


def _failures(report: TestReport, verdict: Comparison | None = None, branch: str = "main",
              shown: Callable[[str], str] = lambda test_id: test_id) -> str:
    """What the Coder is told of a failed run: what happened, the new failures (each named by `shown`), and the
    output's end.

    Tests that already failed on the base branch (`verdict`) are left out: only their number is said.
    """
    verdict = verdict or compare(report, None)
    already = set(verdict.already_failing)
    failing = [case for case in report.cases if case.outcome in ("failed", "error") and case.name not in already]
    lines = [f"Command: {report.command}", f"Result: {baseline.what(report, verdict, branch)}"]
    if already:
        lines.append(f"({len(verdict.already_failing)} of the failing tests fail on {branch} without this change "
                     "too: they are not part of this task, leave them alone.)")
    lines += [f"--- {shown(case.name)} ({case.outcome})\n{case.message}" for case in failing[:10]]
    if report.source != "junit" or not failing:
        lines.append(f"Output (end):\n{report.output_tail}")
    return "\n".join(lines)


def _report_dict(report: TestReport, verdict: Comparison | None = None, branch: str = "main") -> dict[str, Any]:
    """The test step's stored report: the run's own verdict, its comparison with the base run, the base branch."""
    data = asdict(report)
    del data["failing"]  # up to MAX_FAILING_IDS ids: the comparison keeps the already failing ones shown
    data["ok"], data["what"] = report.ok, report.what
    return {**data, "comparison": (verdict or compare(report, None)).to_dict(), "base_branch": branch}


def steps(impl: Implementation) -> list[Step]:
    """The implement pipeline."""
    return [
        Step("prepare", impl.prepare, timeout=60),
        Step("code", impl.code, deps=("prepare",), timeout=impl.code_step_seconds(), verify=impl.verify_code),
        Step("test", impl.test, deps=("prepare", "code"), timeout=impl.test_step_seconds()),
        Step("publish", impl.publish, deps=("prepare", "code", "test"), timeout=600, retries=2),
        Step("report", impl.report, deps=("code", "test", "publish"), timeout=300, retries=2),
    ]


def implement_run(services: Services, run: Run, record_plan: dict[str, Any], plan_hash: str) -> None:
    """Check out the default branch and drive the pipeline, resuming after verified steps."""
    gateway = services.github.repo(run.installation_id, run.repo)
    issue = gateway.issue(run.issue)
    default = gateway.default_branch()
    base = record_plan.get("_base", {})
    plan = Plan.model_validate({k: v for k, v in record_plan.items() if k != "_base"})
    url = gateway.clone_url()
    store = services.store
    config = RepoConfig.from_snapshot(run.config)
    gate = run_gate(services, run.id, config.policy(default))
    with services.workspace.checkout(run.repo, url, gateway.token, default) as work:
        brief = Brief(run.repo, default, work.sha, issue, plan, run.approved_version, plan_hash,
                      base.get("test_command", ""), config.guidance())
        impl = Implementation(services, run, brief, gateway, work, gate, base.get("sha", ""), url, time.time(),
                              config)
        journal = RedisJournal(store, redact=services.redactor)
        resumed = journal.outputs(run.id).get("prepare")
        if resumed:
            impl.brief = Brief(run.repo, default, resumed["base"], issue, plan, run.approved_version, plan_hash,
                               base.get("test_command", ""), config.guidance())
        pipeline = Pipeline(steps(impl), journal, should_stop=lambda: stop_reason(services, run.id),
                            backoff=tuple(services.settings.step_retry_backoff))
        with impl.test_home():  # one HOME for the job's steps: the setup command runs once per job
            pipeline.run(run.id, {}, services)

