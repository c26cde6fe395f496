"""`bench/replay_bench/outcome.py`: one row read from a run's log entries and step outputs."""

from __future__ import annotations

from typing import Any

from replay_bench.outcome import Outcome, green, judge, stage_seconds, tokens_by_agent

INSTANCE = {"FAIL_TO_PASS": ["tests/test_m.py::test_f"], "PASS_TO_PASS": ["tests/test_m.py::T::test_a"]}
ENTRIES: list[dict[str, Any]] = [
    {"ts": 100.0, "step": "intake", "event": "run_created"},
    {"ts": 101.0, "step": "plan", "event": "model_call", "prompt_tokens": 0, "prompt_estimate": 1200},
    {"ts": 103.5, "step": "plan", "event": "planned"},
    {"ts": 110.0, "step": "code", "event": "setup", "exit_code": 0, "seconds": 60.0},
    {"ts": 111.0, "step": "code", "event": "base_tests", "passed": 5, "failed": 1, "errors": 0, "seconds": 2.0},
    {"ts": 112.0, "step": "reproduce", "event": "model_call", "prompt_estimate": 900},
    {"ts": 113.0, "step": "code", "event": "reproduced", "tests": ["tests.test_m::test_f"],
     "shown": ["tests/test_m.py::test_f"]},
    {"ts": 114.0, "step": "code", "event": "model_call", "prompt_estimate": 2000},
    {"ts": 115.0, "step": "fix", "event": "model_call", "prompt_estimate": 500},
    {"ts": 116.0, "step": "code", "event": "finished", "seconds": 30.25},
    {"ts": 117.0, "step": "test", "event": "tests", "seconds": 1.5},
    {"ts": 118.0, "step": "review", "event": "model_call", "prompt_estimate": 700},
]
OUTPUTS = {"test": {"report": {"source": "junit", "comparison": {
    "already_failing": ["tests.test_m::test_old"], "already_count": 1, "new_failures": 0}}},
    "publish": {"draft": False, "draft_reasons": []}}


def test_tokens_are_the_bots_estimates_summed_per_agent() -> None:
    assert tokens_by_agent(ENTRIES) == {"planner": 1200, "tester": 900, "coder": 2500, "reviewer": 700}


def test_seconds_per_stage_come_from_the_log() -> None:
    assert stage_seconds(ENTRIES) == {"plan": 3.5, "setup": 60.0, "base_tests": 2.0, "code": 30.2, "tests": 1.5}


def test_a_run_ready_with_no_new_failure_is_good() -> None:
    row = Outcome("o__r-1")
    judge(row, INSTANCE, ENTRIES, OUTPUTS)
    assert (row.setup_ok, row.baseline, row.f2p, row.p2p, row.regressions, row.already_failing, row.pr) == \
        ("yes", "5/1", "yes", "yes", "0", "1", "ready")
    assert row.reproduced == "yes (1 failing; F2P 1/1)"
    assert row.good


def test_a_draft_with_new_failures_is_not_good_and_says_why() -> None:
    outputs = {"test": {"report": {"source": "junit", "comparison": {
        "already_failing": ["tests.test_m.T::test_a"], "already_count": 1, "new_failures": 2}}},
        "publish": {"draft": True, "draft_reasons": ["tests failing: 2"]}}
    row = Outcome("o__r-1")
    judge(row, INSTANCE, ENTRIES, outputs)
    assert (row.pr, row.why, row.regressions, row.p2p) == ("draft", "tests failing: 2", "2", "no (1 already failing)")
    assert row.f2p == "unknown (2 new failures)"
    assert not row.good


def test_a_run_without_a_test_step_output_failed_with_its_error() -> None:
    row = Outcome("o__r-1")
    judge(row, INSTANCE, [*ENTRIES, {"ts": 120.0, "step": "test", "event": "error", "error": "boom"}], {})
    assert (row.status, row.reason) == ("failed", "boom")
    assert not row.good


def test_green_needs_counts() -> None:
    assert green(["a.py::t"], set(), 0, counted=False) == "unknown (no counts)"
    assert green([], set(), 0, counted=True) == "n/a"
