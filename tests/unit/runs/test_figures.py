"""The figures behind /metrics and the runs page: run index, worker counters in Redis, the step timeline."""

from __future__ import annotations

import pytest
import redis
from pydantic import ValidationError

from bot.config.settings import Settings
from bot.runs import figures, recount, tallies
from bot.runs.model import Run, State
from bot.runs.store import RunStore
from bot.runs.timeline import spans


@pytest.fixture
def store(redis_url: str) -> RunStore:
    return RunStore(redis.Redis.from_url(redis_url, decode_responses=True))


def new_run(run_id: str, issue: int, created_at: float) -> Run:
    return Run(id=run_id, repo="o/r", issue=issue, installation_id=5, created_at=created_at)


def test_runs_are_indexed_newest_first_and_counted_by_state(store: RunStore) -> None:
    for number, run_id in enumerate(("r1", "r2", "r3"), start=1):
        assert store.create(new_run(run_id, number, 1000.0 + number))[0] == "created"
    assert store.create(new_run("r1", 1, 1001.0))[0] == "exists"
    assert store.create(new_run("r9", 1, 1009.0))[0] == "busy"  # refused: not indexed
    store.transition("r2", State.CANCELLED)
    store.transition("r3", State.AWAITING_APPROVAL)
    assert [run.id for run in store.page(None, 10)[0]] == ["r3", "r2", "r1"]
    assert [run.id for run in store.page(None, 2)[0]] == ["r3", "r2"]
    counts = tallies.runs_by_state(store.redis)
    assert counts[State.PLANNING] == counts[State.CANCELLED] == counts[State.AWAITING_APPROVAL] == 1
    assert sum(counts.values()) == 3 and set(counts) == set(State)
    assert recount.full_recount(store.redis)[0] == counts


def test_model_calls_and_log_entries_add_up_model_usage_and_step_durations(store: RunStore) -> None:
    odd = 'model "x", v2'  # any name round-trips through the hash field
    store.add_usage("r1", "plan", odd, 100, 20, 0.25)
    store.add_usage("r2", "plan", odd, 50, 5, 0.5)
    store.add_usage("r2", "review", "m2", 7, 3, 0.0)
    store.log("r2", "review", "model_call", model="m2", prompt_tokens=7)  # a log entry alone counts nothing
    for seconds in (0.02, 0.05, 0.3, 4000.0):
        store.log("r1", "test", "finished", seconds=seconds)
    store.log("r1", "test", "finished")  # no duration: not counted
    store.log("r1", "test", "error", seconds=9.0)  # only finished steps are timed
    store.log("r1", "gate", "decision", kind="push")

    usage = figures.model_usage(store.redis)
    assert usage[(odd, "plan")] == {"calls": 2, "prompt_tokens": 150, "completion_tokens": 25, "cost_usd": 0.75}
    assert usage[("m2", "review")]["calls"] == 1
    [(step, histogram)] = figures.step_durations(store.redis).items()
    assert step == "test" and histogram.count == 4 and histogram.sum == pytest.approx(4000.37)
    cumulative = dict(histogram.buckets)
    assert (cumulative["0.05"], cumulative["0.1"], cumulative["0.5"], cumulative["3600.0"]) == (2, 2, 3, 3)
    assert cumulative["+Inf"] == 4 and list(cumulative)[-1] == "+Inf"
    assert len(store.entries("r1")) == 8  # the log itself is unchanged


def test_buckets_are_upper_bounds() -> None:
    assert figures.bucket_of(0.0) == figures.bucket_of(0.05) == "0.05"
    assert figures.bucket_of(0.051) == "0.1"
    assert figures.bucket_of(3600.0) == "3600.0" and figures.bucket_of(3600.1) == "+Inf"


def test_timeline_pairs_starts_with_their_ends() -> None:
    log = [
        {"ts": 10.0, "step": "plan", "event": "started", "attempt": 0},
        {"ts": 11.0, "step": "plan", "event": "model_call"},
        {"ts": 12.5, "step": "plan", "event": "finished", "seconds": 2.5},
        {"ts": 20.0, "step": "implement", "event": "started"},
        {"ts": 20.1, "step": "code", "event": "started", "attempt": 1},
        {"ts": 21.0, "step": "code", "event": "error", "will_retry": True},
        {"ts": 21.5, "step": "code", "event": "started", "attempt": 2},
        {"ts": 23.0, "step": "code", "event": "finished"},
        {"ts": 23.0, "step": "test", "event": "started", "attempt": 1},
        {"ts": 24.0, "step": "test", "event": "timeout"},
        {"ts": 24.0, "step": "test", "event": "error"},  # the timeout's error: already closed
        {"ts": 24.1, "step": "implement", "event": "error"},
        {"ts": 30.0, "step": "plan", "event": "started"},
    ]
    got = [(s.step, s.start, s.seconds, s.outcome, s.attempt) for s in spans(log, active=True)]
    assert got == [("plan", 10.0, 2.5, "ok", 0), ("implement", 20.0, pytest.approx(4.1), "failed", None),
                   ("code", 20.1, pytest.approx(0.9), "failed", 1), ("code", 21.5, 1.5, "ok", 2),
                   ("test", 23.0, 1.0, "failed", 1), ("plan", 30.0, None, "running", None)]
    assert spans(log, active=False)[-1].outcome == "unfinished"
    assert spans([{"ts": 1.0, "step": "x", "event": "started"}, {"ts": 2.0, "step": "x", "event": "started"}],
                 active=False)[0].outcome == "unfinished"


def test_dashboard_token_is_off_when_empty_and_must_be_long() -> None:
    base = {"webhook_secret": "settings-secret-0123456789"}
    assert Settings(_env_file=None, **base).dashboard_token is None  # type: ignore[call-arg]
    assert Settings(_env_file=None, dashboard_token="  ", **base).dashboard_token is None  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="DASHBOARD_TOKEN is too short"):
        Settings(_env_file=None, dashboard_token="short", **base)  # type: ignore[call-arg]
    token = Settings(_env_file=None, dashboard_token="x" * 32, **base).dashboard_token  # type: ignore[call-arg]
    assert token is not None and "x" * 32 not in repr(token)
