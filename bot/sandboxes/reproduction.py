"""Whether the Tester's new tests reproduce the issue: run on the base tree, they must fail.

A reproduction is accepted only when the tests ran and at least one of them failed (an assertion,
not an error): a run that timed out, stopped before any test ran, or errored (a collection,
import or fixture error) shows that the test is broken, not that the issue exists; a run where
every test passed shows that the test does not catch the issue.
"""

from __future__ import annotations

from bot.sandboxes.testresults import TestReport


def rejection(report: TestReport) -> str | None:
    """Why `report` (the new tests on the base tree) is no reproduction of the issue, or None when it is one."""
    if report.timed_out:
        return "the tests did not finish on the base tree (timed out)"
    if report.before_tests:
        return f"the command failed before any test ran (a collection or import error?): {report.before_tests}"
    if not report.counted:
        return "the test runner's counts could not be read, so no failing test can be named"
    if report.errors:
        return (f"{report.errors} of the tests errored (collection, import or fixture error) instead of failing "
                "an assertion")
    if report.failed == 0:
        return ("every test passed on the base tree, so none of them reproduces the issue"
                if report.passed else "no test ran")
    return None


def reproducing(report: TestReport) -> tuple[str, ...]:
    """The ids of the tests that failed (the reproduction, once `rejection` found no error), as the report names
    them for matching with other runs (`TestReport.failing`)."""
    return report.failing
