"""Telling regressions from tests already failing on the base: the comparison, its caps, and what it says."""

from __future__ import annotations

from dataclasses import replace

from bot.sandboxes.base import CommandResult
from bot.sandboxes.baseline import BaseRun, compare, what
from bot.sandboxes.testresults import MAX_FAILING_IDS, TestReport, build_report, read_junit_text


def report(passed: int, failing: tuple[str, ...], *, listed: int | None = None, source: str = "junit",
           exit_code: int | None = None, timed_out: bool = False) -> TestReport:
    """A run with `passed` passing tests and `failing` failed ones, of which the first `listed` are named."""
    shown = failing[:listed] if listed is not None else failing
    code = exit_code if exit_code is not None else int(bool(failing))
    return TestReport("pytest", passed, len(failing), 0, 0, source, code, timed_out, "", [],  # type: ignore[arg-type]
                      failing=shown)


def base(*failing: str, counted: bool = True, failures: int | None = None) -> BaseRun:
    return BaseRun("abc", "pytest", counted, len(failing) if failures is None else failures, failing, "what")


def test_a_test_failing_on_the_base_and_now_is_already_failing_and_the_run_is_accepted() -> None:
    verdict = compare(report(12, ("t::net_a", "t::net_b", "t::net_c")), base("t::net_a", "t::net_b", "t::net_c"))
    assert (verdict.baseline, verdict.accepted, verdict.new_failures) == ("known", True, 0)
    assert verdict.already_failing == ("t::net_a", "t::net_b", "t::net_c")


def test_a_test_that_passed_on_the_base_and_fails_now_is_a_regression() -> None:
    verdict = compare(report(11, ("t::net", "t::simple")), base("t::net"))
    assert (verdict.accepted, verdict.new_failures, verdict.already_failing) == (False, 1, ("t::net",))


def test_a_new_test_the_base_never_ran_is_not_already_failing() -> None:
    verdict = compare(report(3, ("t::added_by_the_tester",)), base("t::other"))
    assert (verdict.accepted, verdict.new_failures, verdict.already_failing) == (False, 1, ())


def test_a_test_fixed_by_the_change_is_no_failure() -> None:
    verdict = compare(report(4, ()), base("t::the_bug"))
    assert (verdict.accepted, verdict.new_failures, verdict.already_failing) == (True, 0, ())


def test_with_nothing_passing_already_failing_tests_alone_are_not_accepted() -> None:
    verdict = compare(report(0, ("t::a",)), base("t::a"))
    assert (verdict.accepted, verdict.new_failures, verdict.already_failing) == (False, 0, ("t::a",))


def test_a_run_that_timed_out_is_not_accepted_even_if_its_failures_were_already_there() -> None:
    assert not compare(report(5, ("t::a",), timed_out=True), base("t::a")).accepted


def test_without_a_base_run_every_failure_counts() -> None:
    verdict = compare(report(5, ("t::a",)), None)
    assert (verdict.baseline, verdict.accepted, verdict.new_failures, verdict.note) == ("off", False, 1, "")


def test_when_the_base_counts_are_unknown_every_failure_counts_and_it_says_why() -> None:
    verdict = compare(report(5, ("t::a",)), base(counted=False))
    assert (verdict.baseline, verdict.accepted, verdict.new_failures) == ("unknown", False, 1)
    assert "gave no counts" in verdict.note


def test_when_failing_tests_are_not_named_nothing_is_matched() -> None:
    unnamed_now = compare(report(5, ("t::a",), listed=0, source="summary"), base("t::a"))
    unnamed_before = compare(report(5, ("t::a",)), base(failures=3))
    for verdict in (unnamed_now, unnamed_before):
        assert (verdict.baseline, verdict.accepted, verdict.new_failures) == ("unknown", False, 1)
        assert "does not name its failing tests" in verdict.note


def test_a_failure_not_listed_now_counts_as_new_when_the_list_was_cut() -> None:
    """The documented rule: already failing only when listed in both runs, so a cut list never hides a regression."""
    failing = tuple(f"t::{i}" for i in range(5))
    verdict = compare(report(10, failing, listed=3), base(*failing))
    assert (verdict.accepted, verdict.new_failures, len(verdict.already_failing)) == (False, 2, 3)


def test_a_failure_beyond_the_bases_cut_list_counts_as_new() -> None:
    verdict = compare(report(10, ("t::0", "t::9")), base("t::0", "t::1", failures=10))
    assert (verdict.accepted, verdict.new_failures, verdict.already_failing) == (False, 1, ("t::0",))


def test_junit_ids_are_kept_beyond_the_hundred_cases_with_messages_up_to_their_cap() -> None:
    cases = "".join(f'<testcase classname="t" name="n{i}"><failure message="m"/></testcase>'
                    for i in range(MAX_FAILING_IDS + 50))
    parsed = read_junit_text(f"<testsuite>{cases}</testsuite>")
    assert len(parsed.cases) == 100 and len(parsed.failing) == MAX_FAILING_IDS
    assert parsed.failing[:2] == ("t::n0", "t::n1") and parsed.counts.failed == MAX_FAILING_IDS + 50


def test_tap_failures_are_named_for_the_comparison() -> None:
    output = "TAP version 13\nok 1 - adds\nnot ok 2 - needs the network\n1..2\n# pass 1\n# fail 1\n"
    found = build_report("node --test", CommandResult("node --test", 1, output, False, False, 0.1), None)
    assert found.failing == ("needs the network",)
    assert compare(found, base("needs the network")).accepted


def test_the_base_run_survives_the_cache_and_refuses_what_is_not_one() -> None:
    found = BaseRun.of(report(3, ("t::a", "t::b")), "abc", 1.234)
    assert BaseRun.from_dict(found.to_dict()) == replace(found, seconds=1.23)
    for bad in (None, [], {"commit": "abc"}, {**found.to_dict(), "failing": "t::a"},
                {**found.to_dict(), "failing": [1, 2]}, {**found.to_dict(), "failures": "many"}):
        assert BaseRun.from_dict(bad) is None


def test_what_puts_the_already_failing_tests_apart() -> None:
    now = report(12, ("t::a", "t::b", "t::c", "t::new"))
    verdict = compare(now, base("t::a", "t::b", "t::c"))
    assert what(now, verdict, "main") == "12 passed, 1 failing, 3 already failing on main (not caused by this change)"
    clean = report(12, ("t::a",))
    assert what(clean, compare(clean, base("t::a")), "main") == (
        "12 passed, 1 already failing on main (not caused by this change)")
    assert what(now, compare(now, None), "main") == now.what
