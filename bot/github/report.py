"""What an implement run shows people: the status comment, the results comment, the PR body.

Everything here that the model, the repository or its tests wrote goes through `bot.core.markdown`:
output in fences it cannot close, paths and commands in code spans, prose made inert (no pings,
no raw HTML, so no hidden markers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.core.markdown import code, fence, inert, one_line
from bot.runs.plan import Plan
from bot.runs.review import Review


@dataclass(frozen=True)
class TestSummary:
    """The test results as shown to people (from a `bot.sandboxes.testresults.TestReport` dict)."""

    __test__ = False  # not a pytest class

    command: str
    passed: int
    failed: int
    errors: int
    skipped: int
    ok: bool
    timed_out: bool
    failures: list[tuple[str, str]]

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> TestSummary:
        """Build from the report dict stored in the test step's output."""
        failing = [(c["name"], c.get("message", "")) for c in report.get("cases", [])
                   if c.get("outcome") in ("failed", "error")]
        return cls(report["command"], report["passed"], report["failed"], report["errors"], report["skipped"],
                   bool(report.get("ok")), bool(report.get("timed_out")), failing)

    def line(self) -> str:
        """One line: counts and verdict."""
        verdict = "✅ passed" if self.ok else ("⏱️ timed out" if self.timed_out else "❌ failing")
        return (f"{code(self.command)}: {self.passed} passed, {self.failed} failed, {self.errors} errors, "
                f"{self.skipped} skipped — {verdict}")

    def markdown(self) -> str:
        """The counts plus each failing test with its short output."""
        parts = [self.line()]
        for name, message in self.failures[:10]:
            parts.append(f"<details><summary><code>{inert(_html(name))}</code></summary>\n\n"
                         f"{fence(message[:1500])}\n\n</details>")
        return "\n\n".join(parts)


def render_review(review: Review, revisions: list[str]) -> str:
    """The review: verdict, summary, findings with severity and place, what was revised."""
    verdict = "✅ approved" if review.verdict == "approve" else "🔁 changes requested"
    rows = "\n".join(f"| {_cell(f.severity)} | {_cell(code(f.file))}{f':{f.line}' if f.line else ''} | "
                     f"{_cell(inert(f.message))} |" for f in review.findings)
    table = f"\n\n| severity | where | finding |\n|---|---|---|\n{rows}" if rows else ""
    revised = "".join(f"\n- round {i}: {_cell(inert(text))}" for i, text in enumerate(revisions, 1))
    revised_text = f"\n\nRevised because of review:{revised}" if revised else ""
    return f"**Review: {verdict}.** {_cell(inert(review.summary))}{table}{revised_text}"


def render_results(review: Review, revisions: list[str], tests: TestSummary, pr_url: str, warning: str = "") -> str:
    """The comment with the review and the test results."""
    head = f"> {warning}\n\n" if warning else ""
    return (f"{head}### Review and tests\n\n{render_review(review, revisions)}\n\n"
            f"**Tests:** {tests.markdown()}\n\nPull request: {pr_url}")


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

    def draft_reasons(self) -> list[str]:
        """Why the PR must stay a draft (empty when it is ready for review)."""
        reasons = []
        if not self.tests.ok:
            count = self.tests.failed + self.tests.errors
            reasons.append("tests timed out" if self.tests.timed_out else f"tests failing: {count}")
        if self.review.verdict != "approve":
            reasons.append(f"review still requests changes after {len(self.revisions)} revisions")
        return reasons

    def render(self) -> str:
        """The Markdown body."""
        reasons = self.draft_reasons()
        head = f"> [!WARNING]\n> Draft: {'; '.join(reasons)}.\n\n" if reasons else ""
        base = f"> [!NOTE]\n> {self.base_note}\n\n" if self.base_note else ""
        base += f"> [!CAUTION]\n> {self.sandbox_note}\n\n" if self.sandbox_note else ""
        return "\n\n".join([
            f"{head}{base}{inert(self.plan.summary)}", f"Closes #{self.issue}",
            f"<details><summary>Approved plan v{self.version} (<code>{self.plan_hash}</code>) by @"
            f"{self.approved_by}</summary>\n\n" + _plan_text(self.plan) + "\n</details>",
            "### Changes\n" + _files_table(self.files), "### Plan versus diff\n" + self._plan_vs_diff(),
            "### Review\n" + render_review(self.review, self.revisions), "### Tests\n" + self.tests.markdown(),
            "### Usage\n" + _usage_table(self.usage),
            "<details><summary>Execution log</summary>\n\n" + _log_table(self.log) + "\n</details>",
            "<sub>Opened by issuesmith. It never merges: review and merge are yours.</sub>"])

    def _plan_vs_diff(self) -> str:
        if not self.unplanned and not self.untouched:
            return "Every changed file was in the plan, and every planned file changed."
        parts = []
        if self.unplanned:
            parts.append("Changed but not named by the plan: " + ", ".join(code(p) for p in self.unplanned))
        if self.untouched:
            parts.append("Named by the plan but left unchanged: " + ", ".join(code(p) for p in self.untouched))
        return "\n".join(f"- {p}" for p in parts)


def _plan_text(plan: Plan) -> str:
    steps = "\n".join(f"{i}. {_line(s)}" for i, s in enumerate(plan.steps, 1))
    criteria = "\n".join(f"- {_line(c)}" for c in plan.acceptance_criteria)
    return f"**{_line(plan.title)}**\n\n{steps}\n\nAcceptance criteria:\n{criteria}"


def _files_table(files: list[tuple[str, int, int]]) -> str:
    rows = "\n".join(f"| {_cell(code(path))} | +{added} | −{removed} |" for path, added, removed in files)
    return f"| file | added | removed |\n|---|---|---|\n{rows}"


def _usage_table(usage: dict[str, dict[str, float]]) -> str:
    rows = [f"| {step} | {int(u['calls'])} | {int(u['prompt_tokens']):,} | {int(u['completion_tokens']):,} | "
            f"${u['cost_usd']:.4f} |" for step, u in usage.items() if step != "total"]
    total = usage.get("total", {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0})
    rows.append(f"| **total** | {int(total['calls'])} | {int(total['prompt_tokens']):,} | "
                f"{int(total['completion_tokens']):,} | **${total['cost_usd']:.4f}** |")
    header = "| step | model calls | prompt tokens | completion tokens | cost |\n|---|---|---|---|---|\n"
    return header + "\n".join(rows)


def _log_table(entries: list[dict[str, Any]]) -> str:
    rows = []
    for e in entries[-200:]:
        detail = ", ".join(f"{k}={v}" for k, v in e.items() if k not in ("ts", "step", "event"))
        rows.append(f"| {_cell(inert(str(e.get('step', ''))))} | {_cell(inert(str(e.get('event', ''))))} | "
                    f"{_cell(code(detail[:200]))} |")
    return "| step | event | detail |\n|---|---|---|\n" + "\n".join(rows)


def _cell(text: str) -> str:
    return one_line(str(text).replace("|", "\\|"))


def _line(text: str) -> str:
    """Untrusted prose on one line (a list item or a heading it cannot break out of)."""
    return one_line(inert(text))


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
