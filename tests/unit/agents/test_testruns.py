"""The Coder's `run_tests`: the budget, the short parsed answer, and the bounded refusal of `finish`."""

from __future__ import annotations

from bot.agents.testruns import MAX_FINISH_REFUSALS, Budget, TestRuns
from bot.sandboxes.baseline import BaseRun, Comparison, compare
from bot.sandboxes.runneroutput import TestCase
from bot.sandboxes.selector import SelectorError, narrowing
from bot.sandboxes.testresults import TestReport

BASE = BaseRun("abc", "pytest", True, 1, ("t.mod::test_net",), "1 passed, 1 failed")


def report(passed: int, failing: tuple[str, ...] = (), command: str = "pytest -q") -> TestReport:
    cases = [TestCase(name, "failed", f"AssertionError: {name}\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\n")
             for name in failing]
    return TestReport(command, passed, len(failing), 0, 0, "junit", 1 if failing else 0, False, "tail", cases,
                      failing=failing)


class Scripted:
    """A runner that returns scripted reports and records what it was asked."""

    def __init__(self, *reports: TestReport, seconds: float = 10.0) -> None:
        self.reports, self.seconds, self.asked = list(reports), seconds, list[tuple[str, float]]()

    def __call__(self, selector: str, cap: float) -> tuple[TestReport, Comparison, float]:
        narrowing("pytest -q", selector)  # raises like the real runner for a refused selector
        self.asked.append((selector, cap))
        found = self.reports.pop(0)
        return found, compare(found, BASE), self.seconds


def runs(runner: Scripted, budget: Budget | None = None) -> TestRuns:
    return TestRuns(runner, budget or Budget(3, 100.0), "main", runner_id=lambda t: t.replace(".", "/") + ".py")


def call(tests: TestRuns, selector: str = "") -> str:
    return tests.tool().run(tests.tool().arguments.model_validate({"selector": selector}))


def test_the_answer_is_short_names_new_failures_as_the_runner_takes_them_and_counts_what_is_left() -> None:
    runner = Scripted(report(2, ("t.mod::test_net", "t.mod::test_split")))
    tests = runs(runner)
    text = call(tests, "t/mod.py")
    assert "Result: 2 passed, 1 failing, 1 already failing on main" in text
    assert "--- t/mod::test_split.py (failed)\nAssertionError: t.mod::test_split\nline 2" in text
    assert "line 6" in text and "line 7" not in text  # the first lines of each failure only
    assert "test_net" not in text  # already failing on the base: counted, not listed
    assert text.endswith("(2 test runs left, 90 s)")
    assert runner.asked == [("t/mod.py", 100.0)]


def test_the_budget_of_runs_and_seconds_is_kept_and_a_refused_selector_costs_nothing() -> None:
    runner = Scripted(report(3), report(3), seconds=40.0)
    tests = runs(runner, Budget(5, 60.0))
    assert call(tests, "; rm -rf /").startswith("Selector refused (no run was used)")
    assert tests.budget.runs == 5
    call(tests)
    assert "(3 test runs left, 0 s)" in call(tests)  # the second run was capped at the 20 s left
    assert runner.asked == [("", 60.0), ("", 20.0)]
    assert call(tests).startswith("No test run left")
    assert len(runner.asked) == 2


def test_finish_is_refused_while_a_regression_shows_a_bounded_number_of_times() -> None:
    tests = runs(Scripted(report(2, ("t.mod::test_split",)), report(3)), Budget(5, 500.0))
    assert tests.finish_problem() is None  # no run yet: nothing known
    call(tests)
    problem = tests.finish_problem()
    assert problem is not None and "t/mod::test_split.py" in problem and "run_tests again" in problem
    for _ in range(MAX_FINISH_REFUSALS - 1):
        assert tests.finish_problem() is not None
    assert tests.finish_problem() is None  # the bound: the answer is taken, the test step judges
    fresh = runs(Scripted(report(2, ("t.mod::test_split",)), report(3)))
    call(fresh)
    assert fresh.finish_problem() is not None
    call(fresh)
    assert fresh.finish_problem() is None  # the latest run passes


def test_failures_already_failing_on_the_base_do_not_block_finish_nor_does_an_empty_budget() -> None:
    tests = runs(Scripted(report(2, ("t.mod::test_net",))))
    call(tests)
    assert tests.finish_problem() is None
    spent = runs(Scripted(report(2, ("t.mod::test_split",))), Budget(1, 100.0))
    call(spent)
    assert spent.finish_problem() is None  # no run left to show a fix: not refused


def test_a_selector_error_from_the_runner_is_reported() -> None:
    def refuse(selector: str, cap: float) -> tuple[TestReport, Comparison, float]:
        raise SelectorError("nope")

    assert call(TestRuns(refuse, Budget(1, 1.0), "main"), "x") == "Selector refused (no run was used): nope"
