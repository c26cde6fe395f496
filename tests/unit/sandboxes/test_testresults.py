"""Pass or fail is decided from the runner's report: JUnit XML, else the summary line, else the exit code."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from bot.sandboxes import testresults as tr
from bot.sandboxes.base import CommandResult, Limits, run_command

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
