"""What people see of a test run whose counts are unknown, zero, or never started: never "0 passed, 0 failed".

The reports are built from real runner output (tests/unit/sandboxes/fixtures) the way the worker
builds and stores them, then rendered by the results comment, the PR body, the status checklist,
the local progress lines and the Coder's fix prompt.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.cli.tryout import describe_entry
from bot.flow.implement import _failures, _report_dict
from bot.github.report import TestSummary
from bot.github.status import Snapshot, render
from bot.runs.model import Run, State
from bot.sandboxes.base import CommandResult
from bot.sandboxes.baseline import BaseRun, compare
from bot.sandboxes.testresults import TestReport, build_report, read_junit_text

FIXTURES = Path(__file__).parents[1] / "sandboxes" / "fixtures"


def report_of(command: str, fixture: str, exit_code: int) -> TestReport:
    output = (FIXTURES / fixture).read_text() if fixture else ""
    return build_report(command, CommandResult(command, exit_code, output, False, False, 0.2), None)


def summary_of(command: str, fixture: str, exit_code: int) -> TestSummary:
    return TestSummary.from_report(_report_dict(report_of(command, fixture, exit_code)))


def test_a_failing_make_target_says_counts_unknown_and_shows_the_output() -> None:
    tests = summary_of("make test", "make_test_failing.txt", 2)
    assert tests.line() == "`make test`: counts unknown (exit 2) — ❌ failing"
    text = tests.markdown()
    assert "0 passed" not in text and "add(2, 2) gave 5, expected 4" in text
    assert "make: *** [Makefile:2: test] Error 1" in text
    assert tests.draft_reason() == "tests failing (counts unknown, exit 2)"


def test_a_missing_command_says_it_failed_before_any_test_ran() -> None:
    tests = summary_of("nosuchrunner --all", "sh_command_not_found.txt", 127)
    assert tests.line() == ("`nosuchrunner --all`: the command failed before any test ran "
                            "(exit 127: command not found) — ❌ failing")
    assert "nosuchrunner: not found" in tests.markdown()
    assert tests.draft_reason() == "the test command failed before any test ran"


def test_a_collection_error_is_not_called_failing_tests() -> None:
    tests = summary_of("python -m pytest -q", "pytest_collection_error.txt", 2)
    assert tests.draft_reason() == "the test command failed before any test ran"
    assert "No module named 'nosuchmod'" in tests.markdown()


def test_no_tests_ran_is_said_and_keeps_the_pull_request_a_draft() -> None:
    tests = summary_of("node --test", "node20_tap_no_tests.txt", 0)
    assert tests.line() == "`node --test`: no tests ran — ❌ failing"
    assert tests.draft_reason() == "no tests ran" and "# tests 0" in tests.markdown()


def test_failing_node_tests_are_counted_and_named() -> None:
    tests = summary_of("node --test", "node20_tap_failing.txt", 1)
    assert tests.line() == "`node --test`: 3 passed, 1 failed, 0 errors, 2 skipped — ❌ failing"
    assert tests.draft_reason() == "tests failing: 1"
    assert "<code>subtracts wrongly</code>" in tests.markdown() and "2 !== 1" in tests.markdown()
    assert "The end of the output" not in tests.markdown()  # the failing test says what failed


def test_a_passing_run_with_unknown_counts_passes_and_shows_its_output() -> None:
    tests = summary_of("make test", "", 0)
    assert tests.line() == "`make test`: counts unknown (exit 0) — ✅ passed" and tests.draft_reason() == ""
    assert "(no output)" in tests.markdown()


def test_a_nonzero_exit_with_no_failing_test_says_so() -> None:
    report = build_report("pytest", CommandResult("pytest", 1, "== 4 passed in 0.1s ==\ncoverage too low\n",
                                                  False, False, 0.1), None)
    tests = TestSummary.from_report(_report_dict(report))
    assert tests.draft_reason() == "the test command exited 1 though no test failed"
    assert "coverage too low" in tests.markdown()


def test_the_output_shown_is_the_end_and_bounded_and_cannot_break_out() -> None:
    output = "".join(f"line {i}\n" for i in range(500)) + "y" * 6000 + "\n```\n@alice <!-- x -->\nlast\n"
    tests = TestSummary("make test", 0, 0, 0, 0, False, False, [], "exit_code", 2, output)
    shown = tests.tail()
    assert shown.endswith("last") and "line 0\n" not in shown and len(shown) <= TestSummary.TAIL_CHARS
    assert len(tests.tail().splitlines()) <= TestSummary.TAIL_LINES
    text = tests.markdown()
    fence = text.split("The end of the output:\n\n", 1)[1]
    assert fence.startswith("````") and fence.rstrip().endswith("````")  # longer than any run of backticks inside


def test_a_report_stored_before_these_fields_still_loads() -> None:
    stored: dict[str, Any] = {"command": "pytest", "passed": 3, "failed": 1, "errors": 0, "skipped": 0,
                              "source": "summary", "exit_code": 1, "timed_out": False, "output_tail": "x",
                              "cases": [], "ok": False}
    tests = TestSummary.from_report(stored)
    assert tests.before_tests == "" and tests.draft_reason() == "tests failing: 1"


def test_the_status_checklist_and_local_progress_say_what_happened() -> None:
    report = report_of("make test", "make_test_failing.txt", 2)
    entry = {"step": "test", "event": "tests", "passed": 0, "failed": 0, "errors": 0, "ok": False,
             "what": report.what, "seconds": 0.2, "backend": "bubblewrap"}
    run = Run(id="r1", repo="o/r", issue=3, installation_id=1, created_at=1000.0, updated_at=1000.0,
              state=State.TESTING, plan_version=1, approved_by="carol", approved_version=1)
    log = [{"step": "test", "event": "started"}, entry, {"step": "test", "event": "verified"}]
    text = render(Snapshot(run, log, 10, 0.0), now=1010.0)
    assert "Tests: counts unknown (exit 2)" in text and "0 passed" not in text
    assert describe_entry(entry) == "test      tests: counts unknown (exit 2) in 0.2s (bubblewrap)"


def test_the_coder_is_given_what_happened_and_the_output_when_no_test_is_named() -> None:
    text = _failures(report_of("make test", "make_test_failing.txt", 2))
    assert "Result: counts unknown (exit 2)" in text and "add(2, 2) gave 5, expected 4" in text
    text = _failures(report_of("python -m pytest -q", "pytest_collection_error.txt", 2))
    assert "Result: the command failed before any test ran (exit 2: the tests could not be collected)" in text
    assert "No module named 'nosuchmod'" in text


def compared(failing_on_base: tuple[str, ...], *failing_now: str, passed: int = 12,
             counted: bool = True) -> TestSummary:
    """The summary of a JUnit run with `failing_now` failing, judged against a base run."""
    cases = "".join(f'<testcase classname="t" name="{n}"><failure message="{n} broke"/></testcase>'
                    for n in failing_now) + '<testcase classname="t" name="ok"/>' * passed
    report = build_report("pytest", CommandResult("pytest", 1, "", False, False, 0.1), None)
    parsed = read_junit_text(f"<testsuite>{cases}</testsuite>")
    report = replace(report, passed=parsed.counts.passed, failed=parsed.counts.failed, source="junit",
                     cases=parsed.cases, failing=parsed.failing)
    base = BaseRun("abc", "pytest", counted, len(failing_on_base), failing_on_base, "counts unknown (exit 2)")
    return TestSummary.from_report(_report_dict(report, compare(report, base), "main"))


def test_tests_already_failing_on_main_pass_and_are_named_apart() -> None:
    tests = compared(("t::net_a", "t::net_b", "t::net_c"), "net_a", "net_b", "net_c")
    assert tests.line() == ("`pytest`: 12 passed, 3 already failing on `main` (not caused by this change) "
                            "— ✅ passed")
    assert tests.draft_reason() == "" and tests.failures == []
    assert "3 already failing on <code>main</code> without this change" in tests.markdown()
    assert "- `t::net_a`" in tests.markdown() and "The end of the output" not in tests.markdown()


def test_a_regression_beside_already_failing_tests_keeps_a_draft_and_is_the_one_named() -> None:
    tests = compared(("t::net",), "net", "simple")
    assert tests.draft_reason() == "tests failing: 1 (and 1 already failing on `main`)"
    assert [name for name, _ in tests.failures] == ["t::simple"]
    assert tests.line().endswith("12 passed, 1 failing, 1 already failing on `main` (not caused by this change) "
                                 "— ❌ failing")


def test_without_counts_on_main_every_failure_counts_and_the_summary_says_so() -> None:
    tests = compared((), "net", counted=False)
    assert tests.draft_reason() == "tests failing: 1"
    assert "Not compared with `main`: the tests on the base gave no counts (counts unknown (exit 2))" \
        in tests.markdown()


def test_the_coder_is_not_sent_tests_already_failing_on_main() -> None:
    cases = ('<testcase classname="t" name="net"><failure message="no network"/></testcase>'
             '<testcase classname="t" name="simple"><failure message="3 != 2"/></testcase>'
             '<testcase classname="t" name="ok"/>')
    report = build_report("pytest", CommandResult("pytest", 1, "", False, False, 0.1), None)
    parsed = read_junit_text(f"<testsuite>{cases}</testsuite>")
    report = replace(report, passed=1, failed=2, source="junit", cases=parsed.cases, failing=parsed.failing)
    text = _failures(report, compare(report, BaseRun("abc", "pytest", True, 1, ("t::net",), "")), "main")
    assert "t::simple" in text and "3 != 2" in text and "t::net" not in text and "no network" not in text
    assert "1 of the failing tests fail on main without this change too" in text


def test_failing_tests_are_shown_as_the_test_command_takes_them_back_when_the_report_says_how() -> None:
    """The PR body and results comment name a failing test as the Coder was told it (`tests/t.py::x`, what pytest
    takes back), not JUnit's `tests.t::x`; the report keeps JUnit's ids for matching with the base run's."""
    summary = compared(("t::net_a",), "net_a", "broke")
    ids = {"t::net_a": "tests/t.py::net_a", "t::broke": "tests/t.py::broke"}
    stored = {**_report_dict_of(summary), "shown": ids}
    shown = TestSummary.from_report(stored)
    assert shown.already_failing == ["tests/t.py::net_a"]
    assert [name for name, _ in shown.failures] == ["tests/t.py::broke"]
    markdown = shown.markdown()
    assert "<code>tests/t.py::broke</code>" in markdown and "- `tests/t.py::net_a`" in markdown
    assert "<code>t::broke</code>" not in markdown and "`t::net_a`" not in markdown


def _report_dict_of(summary: TestSummary) -> dict[str, Any]:
    cases = [{"name": f"t::{name.removeprefix('t::')}", "outcome": "failed", "message": message}
             for name, message in summary.failures]
    cases += [{"name": name, "outcome": "failed", "message": ""} for name in summary.already_failing]
    return {"command": summary.command, "passed": summary.passed, "failed": summary.failed, "errors": summary.errors,
            "skipped": summary.skipped, "ok": summary.ok, "source": "junit", "exit_code": 1, "cases": cases,
            "comparison": {"accepted": summary.accepted, "already_failing": summary.already_failing,
                           "already_count": summary.already_count}}
