"""Pass or fail is decided from the runner's report: JUnit XML, else the summary line, else the exit code.

The runner outputs in fixtures/ are real (see fixtures/README.md for how each was made).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from bot.sandboxes import testresults as tr
from bot.sandboxes.base import CommandResult, Limits, run_command

FIXTURES = Path(__file__).parent / "fixtures"

SAMPLE = '''
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")

def test_passes():
    assert 1 + 1 == 2

def test_fails():
    assert "apple" == "pear", "fruit mismatch"

def test_errors_at_setup(broken):
    pass

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass
'''


def result(output: str, exit_code: int | None = 0, timed_out: bool = False) -> CommandResult:
    return CommandResult("cmd", exit_code, output, False, timed_out, 0.1)


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def counts(report: tr.TestReport) -> tuple[int, int, int, int]:
    return report.passed, report.failed, report.errors, report.skipped


def pytest_in(tmp_path: Path, source: str, junit: Path) -> tuple[str, CommandResult]:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_sample.py").write_text(source)
    command = f"{shlex.quote(sys.executable)} -m pytest -p no:cacheprovider test_sample.py"
    return command, run_command(tr.with_junit(command, junit), tmp_path, Limits(timeout=60))


def test_a_real_pytest_run_is_read_from_junit(tmp_path: Path) -> None:
    junit = tmp_path / "out" / "junit.xml"
    command, ran = pytest_in(tmp_path, SAMPLE, junit)
    report = tr.build_report(command, ran, junit)
    assert report.source == "junit" and report.exit_code == 1 and not report.ok
    assert (report.passed, report.failed, report.errors, report.skipped) == (1, 1, 1, 1)
    by_name = {case.name: case for case in report.cases}
    assert set(by_name) == {"test_sample::test_fails", "test_sample::test_errors_at_setup"}
    assert by_name["test_sample::test_fails"].outcome == "failed"
    assert "fruit mismatch" in by_name["test_sample::test_fails"].message
    assert by_name["test_sample::test_errors_at_setup"].outcome == "error"
    assert "fixture exploded" in by_name["test_sample::test_errors_at_setup"].message
    assert all(len(case.message) <= tr.MESSAGE_CHARS for case in report.cases)
    assert "1 failed, 1 passed, 1 skipped, 1 error" in report.output_tail


def test_zero_tests_collected_is_not_ok(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    command, ran = pytest_in(tmp_path, "def helper():\n    pass\n", junit)
    report = tr.build_report(command, ran, junit)
    assert report.exit_code == 5 and report.passed == 0 and not report.ok


def test_passing_run_is_ok() -> None:
    xml = ('<testsuites><testsuite name="a"><testcase classname="t" name="one"/></testsuite>'
           '<testsuite name="b"><testcase classname="t" name="two"/><testcase name="three"><skipped/></testcase>'
           '</testsuite></testsuites>')
    counts, cases = tr.parse_junit(xml)
    assert (counts.passed, counts.skipped, cases) == (2, 1, [])


def test_summary_line_fallback() -> None:
    output = "lots of output\n2 passed in the log\n===== 2 failed, 10 passed, 1 skipped, 3 errors in 0.52s =====\n"
    report = tr.build_report("pytest", result(output, 1), None)
    assert report.source == "summary"
    assert (report.passed, report.failed, report.errors, report.skipped) == (10, 2, 3, 1) and not report.ok
    assert tr.build_report("pytest", result("== 4 passed in 0.1s ==\n"), None).ok


@pytest.mark.parametrize(("output", "expected"), [
    ("1 failed, 3 passed in 2.01s", (3, 1, 0, 0)),
    ("==== no tests ran in 0.01s ====", (0, 0, 0, 0)),
    ("Test Suites: 1 failed, 1 total\nTests:       1 failed, 2 skipped, 5 passed, 8 total\n", (5, 1, 0, 2)),
    ("test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured\n"
     "test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured\n", (4, 2, 0, 1)),
    ("....\nRan 6 tests in 0.010s\n\nFAILED (failures=1, errors=1, skipped=1)\n", (3, 1, 1, 1)),
    ("  5 passing (10ms)\n  1 pending\n  2 failing\n", (5, 2, 0, 1)),
    ("=== RUN TestA\n--- PASS: TestA (0.00s)\n--- FAIL: TestB (0.00s)\nFAIL\texample.com/x\t0.01s\n", (1, 1, 0, 0)),
])
def test_common_runner_summaries(output: str, expected: tuple[int, int, int, int]) -> None:
    counts = tr.parse_summary(output)
    assert counts is not None
    assert (counts.passed, counts.failed, counts.errors, counts.skipped) == expected


def test_exit_code_only_fallback() -> None:
    assert tr.parse_summary("building...\ndone\n") is None
    report = tr.build_report("make test", result("done\n", 0), None)
    assert (report.source, report.ok) == ("exit_code", True)
    assert not tr.build_report("make test", result("boom\n", 2), None).ok


def test_unreadable_junit_falls_back(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text("<testsuite><testcase")
    report = tr.build_report("pytest", result("== 1 passed in 0.1s ==\n"), junit)
    assert report.source == "summary" and report.ok


def test_timed_out_run_is_not_ok() -> None:
    report = tr.build_report("pytest", result("== 3 passed in 0.1s ==\n", None, timed_out=True), None)
    assert report.timed_out and not report.ok


def test_doctype_and_entities_are_refused() -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
            '<testsuite><testcase name="&lol2;"/></testsuite>')
    with pytest.raises(ValueError, match="DOCTYPE"):
        tr.parse_junit(bomb)
    with pytest.raises(ValueError):
        tr.parse_junit("<html><body/></html>")


@pytest.mark.parametrize(("command", "changed"), [
    ("pytest", True),
    ("pytest -x tests/unit", True),
    ("python -m pytest -q", True),
    ("python3.11 -m pytest", True),
    (".venv/bin/pytest", True),
    ("py.test", True),
    ("PYTHONPATH=src uv run pytest", True),
    ("cd sub && pytest", False),
    ("pytest | tee log", False),
    ("npm test", False),
    ("python -m unittest", False),
    ("make test", False),
])
def test_with_junit_only_touches_plain_pytest_commands(command: str, changed: bool) -> None:
    out = tr.with_junit(command, Path("/tmp/run dir/junit.xml"))
    if changed:
        assert out == f"{command} --junitxml='/tmp/run dir/junit.xml' -o junit_family=xunit2"
    else:
        assert out == command


# -- real runner output ---------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "exit_code", "expected"), [
    ("node20_tap_failing.txt", 1, (3, 1, 0, 2)),  # node counts subtests too: 6 tests, 1 skipped, 1 todo
    ("node20_spec_failing.txt", 1, (3, 1, 0, 2)),
    ("node20_tap_import_error.txt", 1, (0, 1, 0, 0)),  # node counts the file that died as a failed test
    ("cargo_no_fail_fast.txt", 101, (3, 1, 0, 1)),  # unit tests + integration test + doc-test
    ("maven_surefire_failing.txt", 1, (2, 1, 1, 1)),  # the aggregate line, not the per-class lines
    ("maven_quiet_failing.txt", 1, (2, 1, 1, 1)),
    ("prove_failing.txt", 1, (3, 1, 0, 0)),
    ("perl_tap_raw_failing.txt", 1, (1, 1, 0, 1)),
])
def test_real_runner_output_is_counted(name: str, exit_code: int, expected: tuple[int, int, int, int]) -> None:
    report = tr.build_report("run", result(fixture(name), exit_code), None)
    assert report.source == "summary" and counts(report) == expected and not report.ok
    assert report.what == "{} passed, {} failed, {} errors, {} skipped".format(*expected)


def test_failing_node_tests_are_named_with_their_assertion() -> None:
    report = tr.build_report("node --test", result(fixture("node20_tap_failing.txt"), 1), None)
    [case] = report.cases
    assert (case.name, case.outcome) == ("subtracts wrongly", "failed")
    assert "Expected values to be strictly equal" in case.message and "2 !== 1" in case.message
    assert "duration_ms" not in case.message and "later" not in case.message


def test_a_node_test_file_that_died_carries_what_it_printed() -> None:
    report = tr.build_report("node --test", result(fixture("node20_tap_import_error.txt"), 1), None)
    [case] = report.cases
    assert case.name.endswith("a.test.mjs")
    assert "Cannot find package 'missing-pkg'" in case.message and "ERR_TEST_FAILURE" in case.message


def test_perl_tap_failures_carry_their_diagnostics() -> None:
    [case] = tr.build_report("perl t/basic.t", result(fixture("perl_tap_raw_failing.txt"), 1), None).cases
    assert case.name == "two and two" and "expected: '5'" in case.message


def test_node_with_no_test_files_ran_no_tests() -> None:
    report = tr.build_report("node --test", result(fixture("node20_tap_no_tests.txt"), 0), None)
    assert report.counted and report.total == 0 and not report.ok
    assert report.what == "no tests ran" and report.before_tests == ""


def test_a_failing_make_target_without_a_summary_has_unknown_counts() -> None:
    report = tr.build_report("make test", result(fixture("make_test_failing.txt"), 2), None)
    assert (report.source, report.counted, report.before_tests) == ("exit_code", False, "")
    assert report.what == "counts unknown (exit 2)" and not report.ok


@pytest.mark.parametrize(("name", "exit_code", "why"), [
    ("sh_command_not_found.txt", 127, "command not found"),
    ("make_no_rule.txt", 2, "make has no such target"),
    ("node20_cannot_find_module.txt", 1, "a module could not be imported"),
    ("pytest_collection_error.txt", 2, "the tests could not be collected"),
    ("unittest_import_error.txt", 1, "a module could not be imported"),
    ("cargo_compile_error.txt", 101, "the build failed"),
])
def test_a_command_that_failed_before_any_test_ran_says_so(name: str, exit_code: int, why: str) -> None:
    report = tr.build_report("run", result(fixture(name), exit_code), None)
    assert report.before_tests == why and not report.ok
    assert report.what == f"the command failed before any test ran (exit {exit_code}: {why})"


def test_exit_codes_126_and_127_say_so_without_a_recognised_message() -> None:
    assert tr.build_report("run", result("", 127), None).before_tests == "command not found"
    assert tr.build_report("run", result("", 126), None).before_tests == "the command could not be executed"
    assert tr.build_report("run", result("", 1), None).before_tests == ""


def test_a_failure_after_tests_ran_is_not_called_a_failure_before_them() -> None:
    output = fixture("cargo_no_fail_fast.txt") + "\nerror: could not compile `other` due to 1 previous error\n"
    assert tr.build_report("cargo test", result(output, 101), None).before_tests == ""
    assert tr.build_report("run", result("ImportError: nope\n", 0), None).before_tests == ""


def test_exit_code_zero_with_unknown_counts_passes_and_says_counts_are_unknown() -> None:
    report = tr.build_report("make test", result("all good\n", 0), None)
    assert report.ok and report.what == "counts unknown (exit 0)"


def test_a_timed_out_run_says_so() -> None:
    report = tr.build_report("pytest", result("== 3 passed in 0.1s ==\n", None, timed_out=True), None)
    assert report.what == "timed out after 3 passed, 0 failed, 0 errors, 0 skipped"
    assert tr.build_report("make test", result("", None, timed_out=True), None).what == "timed out"


# -- Maven's surefire reports ------------------------------------------------------------------------------------

def maven_tree(tmp_path: Path) -> Path:
    reports = tmp_path / "target" / "surefire-reports"
    reports.mkdir(parents=True)
    for report in (FIXTURES / "surefire-reports").iterdir():
        (reports / report.name).write_text(report.read_text())
    (reports / "demo.CalcTest.txt").write_text("not a report")
    return tmp_path


def test_surefire_reports_are_read_for_maven_commands(tmp_path: Path) -> None:
    tree = maven_tree(tmp_path)
    report = tr.build_report("mvn -q test", result(fixture("maven_quiet_failing.txt"), 1), None, tree)
    assert report.source == "junit" and counts(report) == (2, 1, 1, 1)
    by_name = {case.name: case for case in report.cases}
    assert set(by_name) == {"demo.CalcTest::addsWrongly", "demo.OtherTest::two"}
    assert "expected: <5> but was: <4>" in by_name["demo.CalcTest::addsWrongly"].message
    assert tr.build_report("make test", result("", 0), None, tree).source == "exit_code"  # not Maven: not read


def test_surefire_reports_behind_a_link_are_not_read(tmp_path: Path) -> None:
    elsewhere = maven_tree(tmp_path / "elsewhere")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "target").symlink_to(elsewhere / "target")
    report = tr.build_report("./mvnw test", result(fixture("maven_quiet_failing.txt"), 1), None, tree)
    assert report.source == "summary" and counts(report) == (2, 1, 1, 1)
    linked = maven_tree(tmp_path / "linked") / "target" / "surefire-reports"
    for xml in linked.glob("TEST-*.xml"):
        xml.unlink()
        xml.symlink_to(elsewhere / "target" / "surefire-reports" / xml.name)
    assert tr.build_report("mvn test", result("", 1), None, tmp_path / "linked").source == "exit_code"


@pytest.mark.parametrize(("command", "reports"), [
    ("mvn -q test", "target/surefire-reports"), ("./mvnw -B verify", "target/surefire-reports"),
    ("cd core && mvn test", "target/surefire-reports"), ("make test", ""), ("npm test", ""),
])
def test_which_commands_are_maven(command: str, reports: str) -> None:
    assert tr.surefire_reports(command) == reports


# -- documented formats of runners not installed here -------------------------------------------------------------

@pytest.mark.parametrize(("output", "expected"), [
    # Vitest's default reporter (vitest.dev, "Reporters")
    (" Test Files  1 failed | 1 passed (2)\n      Tests  1 failed | 2 passed | 1 skipped (4)\n"
     "   Start at  12:34:32\n   Duration  1.26s\n", (2, 1, 0, 1)),
    # RSpec (rspec.info feature pages)
    ("Finished in 0.0123 seconds\n3 examples, 1 failure, 1 pending\n", (1, 1, 0, 1)),
    ("1 example, 0 failures\n", (1, 0, 0, 0)),
    ("0 examples, 0 failures, 1 error occurred outside of examples\n", (0, 0, 1, 0)),
    # PHPUnit's text result printer
    ("Time: 00:00.010, Memory: 4.00 MB\n\nOK (5 tests, 9 assertions)\n", (5, 0, 0, 0)),
    ("FAILURES!\nTests: 5, Assertions: 9, Errors: 1, Failures: 1, Skipped: 1.\n", (2, 1, 1, 1)),
    ("OK, but incomplete, skipped, or risky tests!\nTests: 4, Assertions: 3, Incomplete: 1.\n", (3, 0, 0, 1)),
    ("No tests executed!\n", (0, 0, 0, 0)),
    # go test with no test file anywhere
    ("?   \texample.com/x\t[no test files]\n", (0, 0, 0, 0)),
    # TAP whose producer died after two of four planned tests
    ("TAP version 13\n1..4\nok 1 - a\nnot ok 2 - b\n", (1, 1, 2, 0)),
])
def test_documented_runner_summaries(output: str, expected: tuple[int, int, int, int]) -> None:
    found = tr.parse_summary(output)
    assert found is not None
    assert (found.passed, found.failed, found.errors, found.skipped) == expected


def test_tap_needs_a_plan_or_a_version_line() -> None:
    assert tr.parse_summary("building\nok\nok done\n") is None
    found = tr.parse_summary("ok 1 - a\nok 2 - b # SKIP no network\n1..2\n")
    assert found is not None and (found.passed, found.skipped) == (1, 1)
