"""Run state in real Redis: atomic, validated transitions; one active run per issue."""

from __future__ import annotations

import threading

import pytest
import redis

from bot.core.errors import InvalidTransition
from bot.runs.model import Run, State
from bot.runs.store import RunStore, run_id_for


@pytest.fixture
def store(redis_url: str) -> RunStore:
    return RunStore(redis.Redis.from_url(redis_url, decode_responses=True))


def new_run(run_id: str = "r1", issue: int = 1) -> Run:
    return Run(id=run_id, repo="o/r", issue=issue, installation_id=5, created_by="alice")


def test_run_ids_are_derived_from_the_delivery() -> None:
    assert run_id_for("abc") == run_id_for("abc") != run_id_for("abd")


def test_create_is_idempotent_and_one_active_run_per_issue(store: RunStore) -> None:
    assert store.create(new_run("r1")) == ("created", "r1")
    assert store.create(new_run("r1")) == ("exists", "r1")
    assert store.create(new_run("r2")) == ("busy", "r1")
    assert store.create(new_run("r3", issue=2)) == ("created", "r3")
    store.transition("r1", State.CANCELLED)
    assert store.create(new_run("r2")) == ("created", "r2")
    assert store.for_issue("o/r", 1).id == "r2"  # type: ignore[union-attr]


def test_illegal_transition_is_refused_and_writes_nothing(store: RunStore) -> None:
    store.create(new_run())
    with pytest.raises(InvalidTransition, match="PLANNING cannot move to PR_OPEN"):
        store.transition("r1", State.PR_OPEN, error="should not be written")
    run = store.require("r1")
    assert run.state == State.PLANNING and run.error == ""


def test_only_from_is_a_compare_and_set(store: RunStore) -> None:
    store.create(new_run())
    store.transition("r1", State.AWAITING_APPROVAL, plan_version=1)
    with pytest.raises(InvalidTransition):
        store.transition("r1", State.CANCELLED, only_from={State.PLANNING})
    assert store.transition("r1", State.APPROVED, only_from={State.AWAITING_APPROVAL}, approved_by="a") \
        == State.AWAITING_APPROVAL
    run = store.require("r1")
    assert (run.state, run.plan_version, run.approved_by) == (State.APPROVED, 1, "a")


def test_concurrent_transitions_let_exactly_one_win(store: RunStore) -> None:
    store.create(new_run())
    store.transition("r1", State.AWAITING_APPROVAL)
    wins: list[State] = []

    def attempt(target: State) -> None:
        try:
            store.transition("r1", target, only_from={State.AWAITING_APPROVAL})
            wins.append(target)
        except InvalidTransition:
            pass

    threads = [threading.Thread(target=attempt, args=(t,)) for t in [State.APPROVED, State.CANCELLED] * 10]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and store.require("r1").state == wins[0]


def test_missing_run_is_an_error(store: RunStore) -> None:
    with pytest.raises(InvalidTransition, match="does not exist"):
        store.transition("nope", State.FAILED)


def test_plans_log_usage_comments_and_permissions(store: RunStore) -> None:
    store.create(new_run())
    store.add_plan("r1", 1, {"title": "t"}, "h1")
    store.mark_plan_posted("r1", 1, 99, "2026-01-01T00:00:00Z")
    record = store.plan("r1", 1)
    assert record is not None and (record.hash, record.comment_id, record.posted_at) == (
        "h1", 99, "2026-01-01T00:00:00Z")
    store.log("r1", "plan", "started", attempt=0)
    store.log("r1", "plan", "finished", seconds=1.5)
    assert [e["event"] for e in store.entries("r1")] == ["started", "finished"]
    store.add_usage("r1", "plan", "m1", 100, 20, 0.01, seconds=1.0)
    store.add_usage("r1", "plan", "m1", 50, 5, 0.02)
    assert [e["event"] for e in store.entries("r1")] == ["started", "finished", "model_call", "model_call"]
    assert store.entries("r1")[2] | {"ts": 0} == {"ts": 0, "step": "plan", "event": "model_call", "model": "m1",
                                                  "prompt_tokens": 100, "completion_tokens": 20, "cost_usd": 0.01,
                                                  "seconds": 1.0}
    assert store.usage("r1") == {"prompt_tokens": 150, "completion_tokens": 25, "calls": 2,
                                 "cost_usd": pytest.approx(0.03)}
    store.remember_comment("r1", "<!-- m -->", 7)
    assert store.comment_id("r1", "<!-- m -->") == 7 and store.comment_id("r1", "other") is None
    store.cache_permission("o/r", "Alice", "write", 60)
    assert store.cached_permission("o/r", "alice") == "write"
    assert store.redis.ttl("issuesmith:perm:o/r:alice") <= 60
