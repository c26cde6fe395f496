"""Reproduction first: judging the new tests on the base tree, and what the Coder, the base run and the PR make
of the tests that reproduce the issue."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.agents.testruns import Budget, TestRuns
from bot.config.settings import Settings
from bot.flow.implement import reproduced
from bot.flow.reproduce import Reproduction
from bot.flow.services import seconds_for_code_step
from bot.sandboxes.base import CommandResult
from bot.sandboxes.baseline import BaseRun, compare
from bot.sandboxes.reproduction import rejection, reproducing
from bot.sandboxes.testresults import TestReport, build_report
from tests.unit.flow.test_implement_parts import _body

REPRO = "tests.test_issue.test_double_spaces"


def pytest_on(tmp_path: Path, source: str) -> TestReport:
    """The report of real pytest run on one test file holding `source`."""
    (tmp_path / "test_issue.py").write_text(source)
    junit = tmp_path / "junit.xml"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
                           "test_issue.py"], cwd=tmp_path, capture_output=True, text=True)
    result = CommandResult("pytest -q test_issue.py", done.returncode, done.stdout + done.stderr, False, False, 1.0)
    return build_report("pytest -q test_issue.py", result, junit if junit.exists() else None, tmp_path)


def test_a_test_failing_an_assertion_on_base_is_accepted_and_named(tmp_path: Path) -> None:
    report = pytest_on(tmp_path, "def test_double_spaces():\n    assert len('a  b'.split(' ')) == 2\n")
    assert rejection(report) is None
    assert reproducing(report) == ("test_issue::test_double_spaces",)


def test_a_test_passing_on_base_is_rejected(tmp_path: Path) -> None:
    report = pytest_on(tmp_path, "def test_double_spaces():\n    assert len('a  b'.split()) == 2\n")
    assert rejection(report) == "every test passed on the base tree, so none of them reproduces the issue"


@pytest.mark.parametrize("source", ["import no_such_module_anywhere\n\n\ndef test_x():\n    assert False\n",
                                    "def test_x(:\n    pass\n"])
def test_a_collection_error_is_rejected_not_taken_for_a_failure(tmp_path: Path, source: str) -> None:
    why = rejection(pytest_on(tmp_path, source))
    assert why is not None and ("errored" in why or "before any test ran" in why)


def test_a_run_that_timed_out_or_ran_nothing_is_rejected() -> None:
    stopped = TestReport("pytest", 0, 1, 0, 0, "junit", None, True, "", failing=(REPRO,))
    nothing = TestReport("pytest", 0, 0, 0, 0, "junit", 5, False, "")
    assert "timed out" in str(rejection(stopped)) and rejection(nothing) == "no test ran"


def test_the_base_run_never_counts_a_reproduction_test_as_already_failing() -> None:
    base = BaseRun("abc", "pytest", True, 2, (REPRO, "tests.t.test_old"), "1 passed, 2 failed")
    now = TestReport("pytest", 5, 2, 0, 0, "junit", 1, False, "", failing=(REPRO, "tests.t.test_old"))
    assert compare(now, base).already_failing == (REPRO, "tests.t.test_old")
    judged = compare(now, base.without((REPRO,)))
    assert (judged.already_failing, judged.new_failures, judged.accepted) == (("tests.t.test_old",), 1, False)


def runs(*reports: TestReport) -> TestRuns:
    queue = list(reports)
    return TestRuns(lambda selector, cap: (queue[0], compare(queue.pop(0), None), 1.0), Budget(5, 100.0), "main",
                    runner_id=lambda t: "tests/test_issue.py::test_double_spaces", reproduction=(REPRO,))


def call(tests: TestRuns, selector: str = "") -> str:
    return tests.tool().run(tests.tool().arguments.model_validate({"selector": selector}))


def test_finish_is_refused_until_a_run_shows_the_reproduction_passing() -> None:
    failing = TestReport("pytest", 2, 1, 0, 0, "junit", 1, False, "", failing=(REPRO,))
    passing = TestReport("pytest", 1, 0, 0, 0, "junit", 0, False, "")
    tests = runs(passing, failing, passing)
    assert "reproduce the issue" in str(tests.finish_problem())  # no run yet
    assert "not shown passing by this run" in call(tests, "tests/test_other.py")  # did not run it
    assert not tests.reproduced
    assert "Reproduction tests (tests/test_issue.py::test_double_spaces): still failing." in call(tests)
    assert not tests.reproduced
    assert "passing now." in call(tests, "tests/test_issue.py")
    assert tests.reproduced and tests.finish_problem() is None and tests.refusals == 1


def test_the_pull_request_says_which_test_reproduces_the_issue_and_whether_it_passes_now() -> None:
    found = Reproduction((REPRO,), ("tests/test_issue.py::test_double_spaces",), ("tests/test_issue.py",))
    clean = {"failed": 0, "errors": 0, "source": "junit", "cases": []}
    still = {"failed": 1, "errors": 0, "source": "junit", "cases": [{"name": REPRO, "outcome": "failed"}]}
    assert reproduced(found, clean) == [("tests/test_issue.py::test_double_spaces", True)]
    assert reproduced(found, still) == [("tests/test_issue.py::test_double_spaces", False)]
    assert reproduced(found, {**clean, "source": "exit_code"})[0][1] is False and reproduced(None, clean) == []
    body = _body(True, "approve", 0)
    assert "### Reproduction" not in body.render()
    shown = type(body)(**{**body.__dict__, "reproduction": reproduced(found, clean)}).render()
    assert "`tests/test_issue.py::test_double_spaces`: failed on `the base branch` before the change; passes " \
           "with it." in shown


def test_the_code_step_has_room_for_each_try_of_the_reproduction() -> None:
    settings = Settings(webhook_secret="a-webhook-secret-0123456789", _env_file=None,  # type: ignore[call-arg]
                        setup_timeout=900, coder_test_seconds=1200,
                        reproduce=True, reproduce_attempts=2)
    assert seconds_for_code_step(settings, 3600) == 3600 + 900 + 3600 + 1200 + 2 * 3600
    alone = settings.model_copy(update={"coder_test_runs": 0})
    assert seconds_for_code_step(alone, 3600) == 3600 + 900 + 3600 + 2 * 3600
