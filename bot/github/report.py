"""What an implement run shows people: the status comment, the results comment, the PR body.

Everything here that the model, the repository or its tests wrote goes through `bot.core.markdown`:
output in fences it cannot close, paths and commands in code spans, prose made inert (no pings,
no raw HTML, so no hidden markers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from bot.core.markdown import code, fence, inert, one_line
from bot.github import fitting
from bot.runs.plan import Plan
from bot.runs.review import Review
from bot.sandboxes.baseline import counts_text


@dataclass(frozen=True)
class TestSummary:
    """The test results as shown to people (from a `bot.sandboxes.testresults.TestReport` dict).

    `before_tests` came later than the rest: a dict stored before it loads with "" there. So did
    the comparison with the base branch (`bot.sandboxes.baseline`): `accepted` (None: the run's own
    `ok` decides), the failures that are new, the tests already failing on `base_branch`, and the
    note saying why nothing could be compared. `failures` holds only the new failures.
    """

    __test__ = False  # not a pytest class
    TAIL_LINES: ClassVar[int] = 60  # of the output shown when nothing else says what failed
    TAIL_CHARS: ClassVar[int] = 4000

    command: str
    passed: int
    failed: int
    errors: int
    skipped: int
    ok: bool
    timed_out: bool
    failures: list[tuple[str, str]]
    source: str = "summary"  # "junit", "summary", or "exit_code" (counts unknown)
    exit_code: int | None = None
    output_tail: str = ""
    before_tests: str = ""  # why the command failed before any test ran
    accepted: bool | None = None
    already_failing: list[str] = field(default_factory=list)  # the first of them (by id)
    already_count: int = 0
    baseline_note: str = ""
    base_branch: str = ""

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> TestSummary:
        """Build from the report dict stored in the test step's output."""
        comparison = report.get("comparison") or {}
        shown = report.get("shown") or {}  # ids as the test command takes them back (a report before: none)
        already = [str(shown.get(name, name)) for name in comparison.get("already_failing", [])]
        cases = [(str(shown.get(c["name"], c["name"])), c) for c in report.get("cases", [])]
        failing = [(name, c.get("message", "")) for name, c in cases
                   if c.get("outcome") in ("failed", "error") and name not in already]
        accepted = comparison.get("accepted")
        return cls(report["command"], report["passed"], report["failed"], report["errors"], report["skipped"],
                   bool(report.get("ok")), bool(report.get("timed_out")), failing,
                   str(report.get("source", "summary")), report.get("exit_code"), str(report.get("output_tail", "")),
                   str(report.get("before_tests", "")), None if accepted is None else bool(accepted), already,
                   int(comparison.get("already_count", len(already))), str(comparison.get("note", "")),
                   str(report.get("base_branch", "")))

    @property
    def passing(self) -> bool:
        """Whether the run counts as passing: it passed, or its only failures were already failing on the base."""
        return self.ok if self.accepted is None else self.accepted

    @property
    def new_failures(self) -> int:
        """The failures that were not already failing on the base branch."""
        return self.failed + self.errors - self.already_count

    @property
    def compared(self) -> bool:
        """Whether some failures were told apart as already failing on the base branch (the counts say how)."""
        return self.already_count > 0 and not self.timed_out and not self.before_tests

    def base(self) -> str:
        """The base branch, as a code span."""
        return code(self.base_branch or "the base branch")

    @property
    def counted(self) -> bool:
        """Whether the runner's counts are known (a report or a summary line was read)."""
        return self.source != "exit_code"

    @property
    def total(self) -> int:
        """All tests counted."""
        return self.passed + self.failed + self.errors + self.skipped

    def what(self) -> str:
        """What happened: the counts, or in words why there are none."""
        if self.timed_out and not (self.counted and self.total):
            return "stopped before it finished"
        if self.before_tests:
            why = inert(one_line(self.before_tests))
            return f"the command failed before any test ran (exit {self.exit_code}: {why})"
        if not self.counted:
            return f"counts unknown (exit {self.exit_code})"
        if self.total == 0:
            return "no tests ran" + (f" (exit {self.exit_code})" if self.exit_code else "")
        if self.compared:
            return counts_text(self.passed, self.new_failures, self.skipped, self.already_count, self.base())
        return f"{self.passed} passed, {self.failed} failed, {self.errors} errors, {self.skipped} skipped"

    def line(self) -> str:
        """One line: what happened and the verdict."""
        verdict = "✅ passed" if self.passing else ("⏱️ timed out" if self.timed_out else "❌ failing")
        return f"{code(self.command)}: {self.what()} — {verdict}"

    def shows_output(self) -> bool:
        """Whether the output's end is shown: when nothing names what failed (no counts, none, no failing test)."""
        return (not self.counted or self.total == 0 or bool(self.before_tests)
                or (not self.passing and not self.failures))

    def markdown(self) -> str:
        """What happened, each new failing test with its short output, the tests already failing on the base
        branch by name, why nothing was compared with it, and the output's end when nothing else says."""
        parts = [self.line()]
        for name, message in self.failures[:10]:
            parts.append(f"<details><summary><code>{inert(_html(name))}</code></summary>\n\n"
                         f"{fence(message[:1500])}\n\n</details>")
        if self.already_failing:
            names = "\n".join(f"- {code(name)}" for name in self.already_failing[:20])
            more = self.already_count - min(len(self.already_failing), 20)
            names += f"\n- … {more:,} more" if more > 0 else ""
            where = f"<code>{_html(self.base_branch)}</code>"
            parts.append(f"<details><summary>{self.already_count:,} already failing on {where} without this change"
                         f"</summary>\n\n{names}\n\n</details>")
        if self.baseline_note:
            parts.append(f"Not compared with {self.base()}: {inert(one_line(self.baseline_note))}.")
        if self.shows_output():
            parts.append(f"The end of the output:\n\n{fence(self.tail() or '(no output)')}")
        return "\n\n".join(parts)

    def draft_reason(self) -> str:
        """Why these results keep the pull request a draft ("" when they do not): never tests already failing
        on the base branch alone."""
        if self.passing:
            return ""
        if self.timed_out:
            return "tests timed out"
        if self.before_tests:
            return "the test command failed before any test ran"
        if not self.counted:
            return f"tests failing (counts unknown, exit {self.exit_code})"
        if self.total == 0:
            return "no tests ran"
        if self.failed + self.errors == 0:
            return f"the test command exited {self.exit_code} though no test failed"
        if self.compared and self.new_failures == 0:
            return f"no test passed ({self.already_count} already failing on {self.base()})"
        if self.compared:
            return f"tests failing: {self.new_failures} (and {self.already_count} already failing on {self.base()})"
        return f"tests failing: {self.failed + self.errors}"

    def tail(self) -> str:
        """The last 60 lines of the output, within 4000 characters."""
        text = "\n".join(self.output_tail.rstrip().splitlines()[-self.TAIL_LINES:])
        return text if len(text) <= self.TAIL_CHARS else "…" + text[-(self.TAIL_CHARS - 1):]


def render_review(review: Review, revisions: list[str]) -> str:
    """The review: verdict, summary, findings with severity and place, what was revised."""
    return fitting.fit(_review_parts(review, revisions, 1))


def _review_parts(review: Review, revisions: list[str], rank: int) -> list[fitting.Part]:
    """The review as parts: its findings and revision rounds are shortened at `rank`, its summary after."""
    verdict = "✅ approved" if review.verdict == "approve" else "🔁 changes requested"
    rows = [f"| {_cell(f.severity)} | {_cell(code(f.file))}{f':{f.line}' if f.line else ''} | "
            f"{_cell(inert(f.message))} |" for f in review.findings]
    parts = [fitting.prose(_cell(inert(review.summary)), rank + 1, prefix=f"**Review: {verdict}.** ")]
    if rows:
        parts.append(fitting.listing(rows, rank, fitting.more("| … | | {n:,} more findings not shown {why} |"),
                                     prefix="\n\n| severity | where | finding |\n|---|---|---|\n"))
    if revisions:
        revised = [f"\n- round {i}: {_cell(inert(text))}" for i, text in enumerate(revisions, 1)]
        parts.append(fitting.listing(revised, rank, fitting.more("\n- … {n:,} more rounds not shown {why}"),
                                     prefix="\n\nRevised because of review:", joiner=""))
    return parts


def render_results(review: Review, revisions: list[str], tests: TestSummary, pr_url: str, warning: str = "") -> str:
    """The comment with the review and the test results, within `fitting.BUDGET`: shortened first in the
    test failures' details, then the review's findings and revision rounds, then its summary."""
    head = f"> {warning}\n\n" if warning else ""
    return fitting.fit([
        fitting.fixed(f"{head}### Review and tests\n\n"), *_review_parts(review, revisions, 2),
        fitting.prose(tests.markdown(), 1, prefix="\n\n**Tests:** "),
        fitting.fixed(f"\n\nPull request: {pr_url}")])


@dataclass(frozen=True)
class PullBody:
    """Everything the pull request body shows."""

    issue: int
    plan: Plan
    version: int
    plan_hash: str
    approved_by: str
    files: list[tuple[str, int, int]]  # path, added, removed
    unplanned: list[str]
    untouched: list[str]
    review: Review
    revisions: list[str]
    tests: TestSummary
    usage: dict[str, dict[str, float]]
    log: list[dict[str, Any]]
    base_note: str = ""
    sandbox_note: str = ""
    reproduction: list[tuple[str, bool]] = field(default_factory=list)  # test id, passes with the change
    candidates: list[str] = field(default_factory=list)  # the Coder's attempts and the choice (`bot.flow.candidates`)

    def draft_reasons(self) -> list[str]:
        """Why the PR must stay a draft (empty when it is ready for review)."""
        reasons = [self.tests.draft_reason()] if self.tests.draft_reason() else []
        if self.review.verdict != "approve":
            reasons.append(f"review still requests changes after {len(self.revisions)} revisions")
        return reasons

    def render(self) -> str:
        """The Markdown body, within `fitting.BUDGET`: shortened first in the execution log (its latest
        entries kept), then the plan versus diff lists, the table of changed files, the test failures'
        details, the review's findings, revision rounds and summary, the approved plan, and last the pull
        request's summary."""
        reasons = self.draft_reasons()
        head = f"> [!WARNING]\n> Draft: {'; '.join(reasons)}.\n\n" if reasons else ""
        base = f"> [!NOTE]\n> {self.base_note}\n\n" if self.base_note else ""
        base += f"> [!CAUTION]\n> {self.sandbox_note}\n\n" if self.sandbox_note else ""
        files = [f"| {_cell(code(path))} | +{added} | −{removed} |" for path, added, removed in self.files]
        return fitting.fit([
            fitting.prose(inert(self.plan.summary), 8, prefix=head + base),
            fitting.fixed(f"\n\nCloses #{self.issue}"),
            fitting.prose(_plan_text(self.plan), 7, suffix="\n</details>",
                          prefix=f"\n\n<details><summary>Approved plan v{self.version} (<code>{self.plan_hash}"
                                 f"</code>) by @{self.approved_by}</summary>\n\n"),
            fitting.listing(files, 3, fitting.more("| … {n:,} more files not shown {why} | | |"),
                            prefix="\n\n### Changes\n| file | added | removed |\n|---|---|---|\n"),
            *self._plan_vs_diff(), *self._reproduction(), *self._candidates(),
            fitting.fixed("\n\n### Review\n"), *_review_parts(self.review, self.revisions, 5),
            fitting.prose(self.tests.markdown(), 4, prefix="\n\n### Tests\n"),
            fitting.fixed("\n\n### Usage\n" + _usage_table(self.usage)),
            fitting.listing(_log_rows(self.log), 1, from_end=True, suffix="\n</details>",
                            more=fitting.more("| … | {n:,} earlier entries not shown {why} | the runs page has "
                                              "the whole log |"),
                            prefix="\n\n<details><summary>Execution log</summary>\n\n"
                                   "| step | event | detail |\n|---|---|---|\n"),
            fitting.fixed("\n\n<sub>Opened by issuesmith. It never merges: review and merge are yours.</sub>")])

    def _reproduction(self) -> list[fitting.Part]:
        """The tests that reproduce the issue: each failed on the base branch before the change, and whether it
        passes with it (none without a reproduction)."""
        if not self.reproduction:
            return []
        base = code(self.tests.base_branch or "the base branch")
        rows = [f"- {code(test)}: failed on {base} before the change; "
                + ("passes with it." if passes else "**still fails** with it.") for test, passes in self.reproduction]
        return [fitting.listing(rows, 3, fitting.more("- … {n:,} more not shown {why}"),
                                prefix="\n\n### Reproduction\nThe test written first to reproduce the issue:\n")]

    def _candidates(self) -> list[fitting.Part]:
        """The Coder's attempts when there were several: each, how the tests judged it, and which was used."""
        if not self.candidates:
            return []
        rows = [inert(row) for row in self.candidates]
        return [fitting.listing(rows, 3, fitting.more("- … {n:,} more not shown {why}"), prefix="\n\n### Candidates\n")]

    def _plan_vs_diff(self) -> list[fitting.Part]:
        heading = "\n\n### Plan versus diff\n"
        if not self.unplanned and not self.untouched:
            return [fitting.fixed(heading + "Every changed file was in the plan, and every planned file changed.")]
        parts, prefix = [], heading
        for label, paths in (("Changed but not named by the plan", self.unplanned),
                             ("Named by the plan but left unchanged", self.untouched)):
            if paths:
                parts.append(fitting.listing([code(p) for p in paths], 2, fitting.more("… {n:,} more not shown {why}"),
                                             prefix=f"{prefix}- {label}: ", joiner=", "))
                prefix = "\n"
        return parts


def _plan_text(plan: Plan) -> str:
    steps = "\n".join(f"{i}. {_line(s)}" for i, s in enumerate(plan.steps, 1))
    criteria = "\n".join(f"- {_line(c)}" for c in plan.acceptance_criteria)
    return f"**{_line(plan.title)}**\n\n{steps}\n\nAcceptance criteria:\n{criteria}"


def _usage_table(usage: dict[str, dict[str, float]]) -> str:
    rows = [f"| {step} | {int(u['calls'])} | {int(u['prompt_tokens']):,} | {int(u['completion_tokens']):,} | "
            f"${u['cost_usd']:.4f} |" for step, u in usage.items() if step != "total"]
    total = usage.get("total", {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0})
    rows.append(f"| **total** | {int(total['calls'])} | {int(total['prompt_tokens']):,} | "
                f"{int(total['completion_tokens']):,} | **${total['cost_usd']:.4f}** |")
    header = "| step | model calls | prompt tokens | completion tokens | cost |\n|---|---|---|---|---|\n"
    return header + "\n".join(rows)


def _log_rows(entries: list[dict[str, Any]]) -> list[str]:
    rows = []
    for e in entries[-200:]:
        detail = ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("ts", "step", "event"))
        rows.append(f"| {_cell(inert(str(e.get('step', ''))))} | {_cell(inert(str(e.get('event', ''))))} | "
                    f"{_cell(code(detail[:200]))} |")
    return rows


def _cell(text: str) -> str:
    return one_line(str(text).replace("|", "\\|"))


def _line(text: str) -> str:
    """Untrusted prose on one line (a list item or a heading it cannot break out of)."""
    return one_line(inert(text))


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
