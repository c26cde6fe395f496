"""Telling a regression from a test that already failed before the change: the base run and the comparison.

The test command runs once on the base tree, before the change (`bot.flow.baseline`), and what
it did is kept as a `BaseRun`. A test failing now is **already failing** when its id is among
the base run's failing ids; every other failure is **new**: a regression (a test that passed, or
did not fail, on the base), or a failing test the Tester added (its id is not in the base run).
Only new failures go to the Coder, and only they keep a pull request a draft.

The rule when a list was cut (at `MAX_FAILING_IDS` ids a run): a failure is already failing only
when its id is listed in both runs; every other failure (not listed now, or not among the
base's listed ids) is new. A cut list can make an old failure look new, never hide a new one.

Nothing can be matched, and every failure counts as it would without a base run (`Comparison.note`
says why), when the base run's counts are unknown (the runner printed nothing we read) or a run
failed tests without naming them (a summary line without the tests' names).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from bot.sandboxes.testresults import MAX_CASES, MAX_FAILING_IDS, TestReport

Baseline = Literal["off", "unknown", "known"]


@dataclass(frozen=True)
class BaseRun:
    """What the test command did on the base tree: whether it counted, how many and which tests failed."""

    commit: str
    command: str
    counted: bool
    failures: int  # failed and errored tests
    failing: tuple[str, ...]  # their ids, at most MAX_FAILING_IDS
    what: str
    seconds: float = 0.0

    @classmethod
    def of(cls, report: TestReport, commit: str, seconds: float) -> BaseRun:
        """The base run of `report`, the test command's verdict on `commit`."""
        return cls(commit, report.command, report.counted, report.failed + report.errors,
                   report.failing[:MAX_FAILING_IDS], report.what, round(seconds, 2))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for the cache and the run's log)."""
        return {**asdict(self), "failing": list(self.failing)}

    def summary(self) -> dict[str, Any]:
        """`to_dict` without the ids (for the test step's output)."""
        return {k: v for k, v in self.to_dict().items() if k != "failing"}

    def without(self, tests: tuple[str, ...]) -> BaseRun:
        """This base run with `tests` never counted as failing on it (the reproduction tests: they fail on the
        base by design, so a failure of theirs with the change is always new)."""
        kept = tuple(test for test in self.failing if test not in set(tests))
        return replace(self, failing=kept, failures=self.failures - (len(self.failing) - len(kept)))

    @classmethod
    def from_dict(cls, data: Any) -> BaseRun | None:
        """The base run stored as `to_dict` made it, or None when `data` is not one."""
        if not isinstance(data, dict):
            return None
        try:
            failing = data["failing"]
            if not isinstance(failing, list) or not all(isinstance(i, str) for i in failing):
                return None
            return cls(str(data["commit"]), str(data["command"]), bool(data["counted"]), int(data["failures"]),
                       tuple(failing[:MAX_FAILING_IDS]), str(data["what"]), float(data.get("seconds", 0.0)))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Comparison:
    """A test run judged against the base run.

    `accepted`: the run counts as passing (it passed, or its only failures were already failing
    and at least one test passed); `new_failures`: the failures that are not already failing.
    """

    baseline: Baseline
    accepted: bool
    new_failures: int
    already_failing: tuple[str, ...] = ()
    note: str = ""

    def to_dict(self, names: int = MAX_CASES) -> dict[str, Any]:
        """A JSON-ready dict for the test step's output: the first `names` already failing ids, and their count."""
        return {**asdict(self), "already_failing": list(self.already_failing[:names]),
                "already_count": len(self.already_failing)}


def compare(now: TestReport, base: BaseRun | None) -> Comparison:
    """Judge `now` against `base` (None: no base run, every failure counts); see the module docstring."""
    failures = now.failed + now.errors
    if base is None:
        return Comparison("off", now.ok, failures)
    if not base.counted:
        return Comparison("unknown", now.ok, failures,
                          note=f"the tests on the base gave no counts ({base.what}), so every failure counts")
    if now.ok or failures == 0:
        return Comparison("known", now.ok, failures)
    if not now.failing or (base.failures and not base.failing):
        return Comparison("unknown", now.ok, failures,
                          note="the test runner does not name its failing tests, so they cannot be matched "
                               "with the base's; every failure counts")
    before = set(base.failing)
    already = tuple(test for test in now.failing if test in before)
    new = failures - len(already)
    accepted = new == 0 and not now.timed_out and now.passed > 0
    return Comparison("known", accepted, new, already)


def counts_text(passed: int, new: int, skipped: int, already: int, where: str) -> str:
    """`12 passed, 3 already failing on main (not caused by this change)`, with `N failing` and `N skipped`
    when there are such (`where`: the base branch, formatted by the caller)."""
    parts = [f"{passed} passed", *([f"{new} failing"] if new else []), *([f"{skipped} skipped"] if skipped else [])]
    return ", ".join(parts) + f", {already} already failing on {where} (not caused by this change)"


def what(report: TestReport, comparison: Comparison, where: str) -> str:
    """What happened, in a few words: `report.what`, or the counts with the already failing tests apart."""
    if not comparison.already_failing or report.timed_out or report.before_tests:
        return report.what
    return counts_text(report.passed, comparison.new_failures, report.skipped, len(comparison.already_failing),
                       where)
