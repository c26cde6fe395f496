"""The Coder's `run_tests` tool: the repository's tests, narrowed by a selector, within a per-run budget.

Code runs the tests (the caller's `run`: the same sandbox, limits and tree restoration as the
test step) and reads the result; the model gets a short, parsed answer: what happened (counts,
the tests already failing on the base branch apart), the new failing tests in the form the runner
accepts back, the first lines of each failure, and how many runs are left. The budget (runs and
seconds, the deployment's `ISSUESMITH_CODER_TEST_RUNS` and `ISSUESMITH_CODER_TEST_SECONDS`) is the
caller's to share (the implement flow: one per job): each run's time limit is the test timeout or
the seconds left, the smaller.

`finish_problem` refuses the Coder's `finish` while its latest run shows a new failure (a
regression against the base run, or a failing test the change added), at most
`MAX_FINISH_REFUSALS` times and only while runs are left: then the answer is taken, and the
test step judges the change as always.

With a reproduction (`bot.flow.reproduce`: tests that fail on the base by design), each answer says
whether they pass, and `finish` is refused the same bounded way while the latest run does not show
them passing (it failed them, or did not run them all).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field

from bot.models.client import Tool
from bot.sandboxes import baseline
from bot.sandboxes.baseline import Comparison
from bot.sandboxes.selector import MAX_IDS, SelectorError
from bot.sandboxes.testresults import TestReport

MAX_FINISH_REFUSALS = 2  # below the model client's OUTPUT_ATTEMPTS: a refusal counts as an invalid answer
FAILURES_SHOWN = 8
FAILURE_LINES = 6
TAIL_LINES = 25

Runner = Callable[[str, float], tuple[TestReport, Comparison, float]]
"""Runs the tests narrowed by a selector within a number of seconds: report, verdict against the base, seconds
taken; raises SelectorError for a refused selector."""


class RunTestsArgs(BaseModel):
    """Arguments of `run_tests`."""

    selector: str = Field("", description=(
        "Which tests: empty for all; for pytest, up to 20 test ids separated by spaces "
        "(`tests/test_x.py::test_name`, as failing tests are listed) or `-k EXPRESSION`"))


@dataclass
class Budget:
    """What is left of a run's test runs and seconds."""

    runs: int
    seconds: float

    def spend(self, seconds: float) -> None:
        """Count one run that took `seconds`."""
        self.runs -= 1
        self.seconds = max(0.0, self.seconds - seconds)

    @property
    def empty(self) -> bool:
        """No run or no second left."""
        return self.runs <= 0 or self.seconds <= 0

    def text(self) -> str:
        return f"({self.runs} test runs left, {self.seconds:.0f} s)"

    def portion(self, parts: int) -> Budget:
        """An equal part of what is left, for one of `parts` attempts (at least one run while any is left)."""
        runs = min(self.runs, max(1, self.runs // parts)) if self.runs > 0 else 0
        return Budget(runs, self.seconds / max(1, parts))

    def settle(self, portion: Budget, given: tuple[int, float]) -> None:
        """Count what `portion` (given `given` runs and seconds from this budget) spent."""
        self.runs -= given[0] - portion.runs
        self.seconds = max(0.0, self.seconds - (given[1] - portion.seconds))


@dataclass
class TestRuns:
    """The `run_tests` tool of one Coder phase, its (shared) budget and the latest result (for `finish_problem`)."""

    __test__ = False

    run: Runner
    budget: Budget
    branch: str
    runner_id: Callable[[str], str] = lambda test_id: test_id
    latest: tuple[TestReport, Comparison] | None = None
    refusals: int = 0
    reproduction: tuple[str, ...] = ()  # the reproduction tests' ids, as reports name them
    reproduced: bool = False  # the latest run ran every reproduction test and none failed

    def tool(self) -> Tool:
        """The tool for the model client."""
        return Tool("run_tests", "Run the repository's tests (all, or the ones the selector names) in the sandbox "
                    f"and get the parsed result; a limited number of runs per task. For pytest: up to {MAX_IDS} "
                    "test ids separated by spaces, or `-k EXPRESSION`.", RunTestsArgs, self._run_tests)

    def _run_tests(self, args: RunTestsArgs) -> str:
        if self.budget.empty:
            return f"No test run left {self.budget.text()}: the tests run again after you finish."
        try:
            report, verdict, seconds = self.run(args.selector, self.budget.seconds)
        except SelectorError as exc:
            return f"Selector refused (no run was used): {exc}"
        self.budget.spend(seconds)
        self.latest = (report, verdict)
        self.reproduced = self.passes_reproduction(args.selector, report)
        return f"{self.describe(report, verdict)}{self.reproduction_line(report)}\n{self.budget.text()}"

    def covers(self, selector: str) -> bool:
        """Whether a run narrowed by `selector` runs every reproduction test (all tests, or each by id or file)."""
        words = set(selector.split())
        return not words or all(self.runner_id(test) in words or self.runner_id(test).split("::")[0] in words
                                for test in self.reproduction)

    def passes_reproduction(self, selector: str, report: TestReport) -> bool:
        """Whether this run shows every reproduction test passing."""
        ran = self.covers(selector) and report.counted and not report.before_tests and not report.timed_out
        return ran and not set(self.reproduction) & set(report.failing)

    def reproduction_line(self, report: TestReport) -> str:
        """What the run says of the reproduction tests ("" without any)."""
        if not self.reproduction:
            return ""
        shown = ", ".join(self.runner_id(test) for test in self.reproduction)
        if self.reproduced:
            return f"\nReproduction tests ({shown}): passing now."
        failing = set(self.reproduction) & set(report.failing)
        state = "still failing" if failing else "not shown passing by this run (run them, or all tests)"
        return f"\nReproduction tests ({shown}): {state}."

    def describe(self, report: TestReport, verdict: Comparison) -> str:
        """The short, parsed result of one run."""
        lines = [f"Command: {report.command}", f"Result: {baseline.what(report, verdict, self.branch)}"]
        already = set(verdict.already_failing)
        if already:
            lines.append(f"({len(already)} failing tests fail on {self.branch} without the change too: "
                         "not part of this task.)")
        new = [case for case in report.cases if case.outcome in ("failed", "error") and case.name not in already]
        for case in new[:FAILURES_SHOWN]:
            head = "\n".join(case.message.strip().splitlines()[:FAILURE_LINES])
            lines.append(f"--- {self.runner_id(case.name)} ({case.outcome})\n{head}")
        if len(new) > FAILURES_SHOWN:
            lines.append(f"... and {len(new) - FAILURES_SHOWN} more failing")
        if not new and not report.ok:
            lines.append("Output (end):\n" + "\n".join(report.output_tail.splitlines()[-TAIL_LINES:]))
        return "\n".join(lines)

    def finish_problem(self) -> str | None:
        """Why `finish` is refused now (the latest run shows a new failure, or not the reproduction passing),
        or None; bounded, see the module."""
        if self.budget.empty or self.refusals >= MAX_FINISH_REFUSALS:
            return None
        if self.reproduction and not self.reproduced:
            self.refusals += 1
            shown = ", ".join(self.runner_id(test) for test in self.reproduction)
            return (f"not finished: the tests that reproduce the issue ({shown}) fail on {self.branch}, and your "
                    f"latest test run does not show them passing. Make them pass and call run_tests with them "
                    f"{self.budget.text()}; if you cannot, say so in your summary and call finish again.")
        if self.latest is None:
            return None
        report, verdict = self.latest
        if verdict.new_failures == 0 and not report.before_tests:
            return None
        self.refusals += 1
        failing = [self.runner_id(t) for t in report.failing if t not in set(verdict.already_failing)][:5]
        named = f": {', '.join(failing)}" if failing else ""
        return (f"not finished: your latest test run ({baseline.what(report, verdict, self.branch)}) has failures "
                f"that are not failing on {self.branch} without the change{named}. Fix the code and call run_tests "
                f"again {self.budget.text()}; if you cannot, say so in your summary and call finish again.")
