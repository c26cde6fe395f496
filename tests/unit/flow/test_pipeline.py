"""The workflow engine: order, concurrency, retries, verification, timeouts, cancel, resume, journal."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

import pytest
import redis

from bot.core.errors import TransientError, describe
from bot.flow.pipeline import Cancelled, Pipeline, Step, StepContext, StepFailed, StepTimeout, step_usage
from bot.runs.journal import RedisJournal
from bot.runs.store import RunStore


class MemoryJournal:
    """An in-memory Journal that keeps outputs as JSON text, like Redis does."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.saved: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def log(self, run_id: str, step: str, event: str, **detail: Any) -> None:
        with self._lock:
            self.entries.append({"run": run_id, "step": step, "event": event, **detail})

    def save_output(self, run_id: str, step: str, output: Mapping[str, Any]) -> None:
        with self._lock:
            self.saved.setdefault(run_id, {})[step] = json.dumps(output)

    def outputs(self, run_id: str) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {step: json.loads(text) for step, text in self.saved.get(run_id, {}).items()}

    def forget(self, run_id: str, steps: Iterable[str]) -> None:
        with self._lock:
            for step in steps:
                self.saved.get(run_id, {}).pop(step, None)

    def events(self, step: str) -> list[str]:
        return [e["event"] for e in self.entries if e["step"] == step]

    def first(self, step: str, event: str) -> dict[str, Any]:
        return next(e for e in self.entries if e["step"] == step and e["event"] == event)


def const(output: dict[str, Any], calls: list[str] | None = None, name: str = "") -> Any:
    def run(ctx: StepContext) -> dict[str, Any]:
        if calls is not None:
            calls.append(name or ctx.step)
        return output
    return run


def engine(steps: list[Step], journal: MemoryJournal | None = None, **kwargs: Any) -> Pipeline:
    return Pipeline(steps, journal if journal is not None else MemoryJournal(), backoff=(0,), grace=2.0, **kwargs)


def test_steps_run_in_dependency_order_and_see_only_their_deps_outputs() -> None:
    calls: list[str] = []
    seen: dict[str, Any] = {}

    def join(ctx: StepContext) -> dict[str, Any]:
        calls.append("d")
        seen.update(outputs=dict(ctx.outputs), inputs=dict(ctx.inputs))
        return {"joined": ctx.outputs["b"]["v"] + ctx.outputs["c"]["v"]}

    steps = [Step("d", join, deps=("b", "c")), Step("b", const({"v": 2}, calls), deps=("a",)),
             Step("c", const({"v": 3}, calls), deps=("a",)), Step("a", const({"v": 1}, calls))]
    result = engine(steps).run("r1", {"issue": 7})
    assert calls[0] == "a" and calls[-1] == "d" and sorted(calls[1:3]) == ["b", "c"]
    assert seen == {"outputs": {"b": {"v": 2}, "c": {"v": 3}}, "inputs": {"issue": 7}}
    assert result.outputs == {"a": {"v": 1}, "b": {"v": 2}, "c": {"v": 3}, "d": {"joined": 5}}
    assert list(result.outputs) == ["a", "b", "c", "d"] or list(result.outputs) == ["a", "c", "b", "d"]
    assert sorted(result.ran) == ["a", "b", "c", "d"] and result.skipped == []
    assert set(result.timings) == {"a", "b", "c", "d"}


def test_independent_steps_overlap_in_time() -> None:
    def nap(ctx: StepContext) -> dict[str, Any]:
        time.sleep(0.3)
        return {"done": ctx.step}

    started = time.monotonic()
    result = engine([Step("x", nap), Step("y", nap)]).run("r1", {})
    assert time.monotonic() - started < 0.5
    assert result.timings["x"] >= 0.3 and result.timings["y"] >= 0.3


def test_a_retryable_error_is_retried_then_succeeds() -> None:
    journal = MemoryJournal()

    def flaky(ctx: StepContext) -> dict[str, Any]:
        if ctx.attempt == 1:
            raise TransientError("GitHub answered 502")
        return {"attempt": ctx.attempt}

    result = engine([Step("s", flaky, retries=2)], journal).run("r1", {})
    assert result.outputs["s"] == {"attempt": 2}
    assert journal.events("s") == ["started", "error", "started", "finished", "verified"]
    error = journal.first("s", "error")
    assert error["retryable"] is True and error["will_retry"] is True and error["attempt"] == 1


def test_a_final_error_is_not_retried() -> None:
    journal = MemoryJournal()
    cause = ValueError("the plan names no files")

    def broken(ctx: StepContext) -> dict[str, Any]:
        raise cause

    with pytest.raises(StepFailed) as info:
        engine([Step("plan", broken, retries=3)], journal).run("r1", {})
    assert info.value.step == "plan" and info.value.cause is cause and info.value.__cause__ is cause
    assert info.value.retryable is False and info.value.attempts == 1
    assert "plan" in describe(info.value) and "the plan names no files" in describe(info.value)
    assert journal.events("plan") == ["started", "error"]
    assert journal.first("plan", "error")["will_retry"] is False


def test_exhausted_retries_fail_the_step_but_stay_retryable_for_the_job() -> None:
    journal = MemoryJournal()

    def down(ctx: StepContext) -> dict[str, Any]:
        raise TransientError("model overloaded")

    with pytest.raises(StepFailed) as info:
        engine([Step("s", down, retries=2)], journal).run("r1", {})
    assert info.value.attempts == 3 and info.value.retryable is True
    assert isinstance(info.value.__cause__, TransientError)
    errors = [e for e in journal.entries if e["event"] == "error"]
    assert [e["will_retry"] for e in errors] == [True, True, False]


def test_verification_failure_stops_dependents_and_saves_nothing() -> None:
    journal = MemoryJournal()
    calls: list[str] = []
    steps = [Step("plan", const({"files": []}), verify=lambda out, ctx: [] if out["files"] else ["no files"]),
             Step("implement", const({}, calls), deps=("plan",))]
    with pytest.raises(StepFailed, match="verification failed: no files") as info:
        engine(steps, journal).run("r1", {})
    assert info.value.problems == ["no files"] and info.value.retryable is False and info.value.__cause__ is None
    assert calls == [] and journal.outputs("r1") == {}
    assert journal.events("plan") == ["started", "finished", "verification_failed", "error"]
    assert journal.first("plan", "verification_failed")["problems"] == ["no files"]


def test_verify_sees_the_round_tripped_output() -> None:
    seen: list[Any] = []

    def verify(out: Mapping[str, Any], ctx: StepContext) -> list[str]:
        seen.append(out["pair"])
        return []

    step = Step("s", const({"pair": (1, 2)}), verify=verify)
    engine([step]).run("r1", {})
    assert seen == [[1, 2]]


def test_a_step_past_its_timeout_fails_and_starts_no_dependent() -> None:
    journal = MemoryJournal()
    calls: list[str] = []

    def stuck(ctx: StepContext) -> dict[str, Any]:
        time.sleep(0.6)  # ignores ctx.check(): the engine stops waiting anyway
        return {}

    started = time.monotonic()
    with pytest.raises(StepFailed) as info:
        engine([Step("slow", stuck, timeout=0.1, retries=2), Step("next", const({}, calls), deps=("slow",))],
               journal).run("r1", {})
    assert time.monotonic() - started < 0.4
    assert isinstance(info.value.__cause__, StepTimeout) and info.value.retryable is False
    assert calls == [] and journal.events("slow") == ["started", "timeout", "error"]
    assert journal.first("slow", "timeout")["limit"] == 0.1


def test_ctx_check_raises_past_the_deadline() -> None:
    def loop(ctx: StepContext) -> dict[str, Any]:
        while True:
            ctx.check()
            time.sleep(0.01)

    with pytest.raises(StepFailed) as info:
        engine([Step("loop", loop, timeout=0.1)]).run("r1", {})
    assert isinstance(info.value.__cause__, StepTimeout)


def test_should_stop_cancels_before_the_next_step() -> None:
    journal = MemoryJournal()
    stop = threading.Event()
    calls: list[str] = []

    def first(ctx: StepContext) -> dict[str, Any]:
        stop.set()
        return {"ok": True}

    steps = [Step("a", first), Step("b", const({}, calls), deps=("a",))]
    pipeline = engine(steps, journal, should_stop=lambda: "cancelled by @alice" if stop.is_set() else None)
    with pytest.raises(Cancelled) as info:
        pipeline.run("r1", {})
    assert info.value.step == "b" and info.value.reason == "cancelled by @alice"
    assert calls == [] and journal.events("b") == ["cancelled"]
    assert journal.outputs("r1") == {"a": {"ok": True}}


def test_a_failure_cancels_running_and_waiting_steps() -> None:
    journal = MemoryJournal()
    calls: list[str] = []

    def fails(ctx: StepContext) -> dict[str, Any]:
        time.sleep(0.05)
        raise ValueError("broken")

    def polite(ctx: StepContext) -> dict[str, Any]:
        while True:
            ctx.check()
            time.sleep(0.01)

    steps = [Step("fails", fails), Step("polite", polite), Step("waiting", const({}, calls))]
    started = time.monotonic()
    with pytest.raises(StepFailed) as info:
        engine(steps, journal, max_workers=2).run("r1", {})
    assert info.value.step == "fails" and time.monotonic() - started < 1.0
    assert journal.events("polite")[-1] == "cancelled"
    assert "fails failed" in journal.first("polite", "cancelled")["reason"]
    assert calls == [] and journal.events("waiting") == ["cancelled"]


def test_resume_skips_verified_steps_and_passes_identical_types() -> None:
    journal = MemoryJournal()
    calls: list[str] = []
    seen: list[Any] = []
    output = {"pair": (1, 2), "ids": {3: "x"}, "nested": [{"a": None, "b": 1.5, "c": True}]}

    def consume(ctx: StepContext) -> dict[str, Any]:
        seen.append(ctx.outputs["a"])
        if len(seen) == 1:
            raise ValueError("first time fails")
        return {"n": len(seen)}

    steps = [Step("a", const(output, calls)), Step("b", consume, deps=("a",))]
    with pytest.raises(StepFailed):
        engine(steps, journal).run("r1", {})
    result = engine(steps, journal).run("r1", {})
    assert calls == ["a"] and result.skipped == ["a"] and result.ran == ["b"]
    assert seen[0] == seen[1] == {"pair": [1, 2], "ids": {"3": "x"}, "nested": [{"a": None, "b": 1.5, "c": True}]}
    assert json.dumps(seen[0]) == json.dumps(seen[1])
    assert result.outputs == {"a": seen[0], "b": {"n": 2}}
    assert journal.events("a") == ["started", "finished", "verified", "resumed"]


def test_redo_from_forgets_the_step_and_its_dependents() -> None:
    journal = MemoryJournal()
    calls: list[str] = []
    steps = [Step("a", const({}, calls)), Step("b", const({}, calls), deps=("a",)),
             Step("c", const({}, calls), deps=("b",)), Step("d", const({}, calls))]
    pipeline = engine(steps, journal)
    assert pipeline.dependents("a") == {"b", "c"}
    pipeline.run("r1", {})
    calls.clear()
    result = pipeline.run("r1", {}, redo_from="b")
    assert sorted(calls) == ["b", "c"] and sorted(result.skipped) == ["a", "d"]
    calls.clear()
    pipeline.run("r1", {}, resume=False)
    assert sorted(calls) == ["a", "b", "c", "d"]
    with pytest.raises(ValueError, match="unknown step"):
        pipeline.run("r1", {}, redo_from="nope")


def test_a_saved_step_reruns_when_a_dependency_reruns() -> None:
    journal = MemoryJournal()
    calls: list[str] = []
    steps = [Step("a", const({}, calls)), Step("b", const({}, calls), deps=("a",))]
    engine(steps, journal).run("r1", {})
    journal.forget("r1", ["a"])
    calls.clear()
    engine(steps, journal).run("r1", {})
    assert calls == ["a", "b"]


@pytest.mark.parametrize(("steps", "message"), [
    ([Step("a", const({}), deps=("b",)), Step("b", const({}), deps=("a",))], "cycle"),
    ([Step("a", const({}), deps=("a",))], "cycle"),
    ([Step("a", const({}), deps=("ghost",))], "unknown step"),
    ([Step("a", const({})), Step("a", const({}))], "duplicate"),
])
def test_bad_graphs_are_rejected_at_construction(steps: list[Step], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Pipeline(steps, MemoryJournal())


@pytest.mark.parametrize(("output", "message"), [
    ({"when": object()}, "not JSON-serialisable"),
    ({"x": float("nan")}, "not JSON-serialisable"),
    (["not", "a", "mapping"], "must be a mapping"),
])
def test_output_that_is_not_a_json_mapping_is_refused(output: Any, message: str) -> None:
    journal = MemoryJournal()
    with pytest.raises(StepFailed, match=message) as info:
        engine([Step("s", const(output))], journal).run("r1", {})
    assert info.value.retryable is False and journal.outputs("r1") == {}


def test_journal_events_carry_the_specified_detail() -> None:
    journal = MemoryJournal()

    def work(ctx: StepContext) -> dict[str, Any]:
        ctx.log("note", files=2)
        return {"text": "hello", "items": [1, 2, 3]}

    engine([Step("s", work, verify=lambda out, ctx: [])], journal).run("run-9", {})
    assert journal.events("s") == ["started", "note", "finished", "verified"]
    assert all(e["run"] == "run-9" for e in journal.entries)
    assert journal.first("s", "started")["attempt"] == 1
    assert journal.first("s", "note")["files"] == 2
    finished = journal.first("s", "finished")
    assert finished["output"] == {"text": 7, "items": 9} and finished["seconds"] >= 0
    assert journal.first("s", "verified")["checked"] is True


def test_step_usage_sums_model_calls_per_step_and_in_total() -> None:
    entries: list[dict[str, Any]] = [
        {"step": "plan", "event": "model_call", "prompt_tokens": 100, "completion_tokens": 20, "cost_usd": 0.001},
        {"step": "plan", "event": "started"},
        {"step": "plan", "event": "model_call", "prompt_tokens": 50, "completion_tokens": 5, "cost_usd": 0.0005},
        {"step": "review", "event": "model_call", "prompt_tokens": 10, "completion_tokens": 1, "cost_usd": 0.0001},
    ]
    usage = step_usage(entries)
    assert list(usage) == ["plan", "review", "total"]
    assert usage["plan"] == {"prompt_tokens": 150, "completion_tokens": 25, "cost_usd": 0.0015, "calls": 2}
    assert usage["total"] == {"prompt_tokens": 160, "completion_tokens": 26, "cost_usd": 0.0016, "calls": 3}
    assert step_usage([]) == {"total": {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0, "calls": 0}}


def test_redis_journal_keeps_outputs_and_the_log_for_a_resume(redis_url: str) -> None:
    store = RunStore(redis.Redis.from_url(redis_url, decode_responses=True))
    journal = RedisJournal(store, redact=lambda text: text.replace("s3cret", "[redacted]"))
    calls: list[str] = []

    def fails_once(ctx: StepContext) -> dict[str, Any]:
        calls.append("b")
        if len(calls) == 1:
            raise ValueError("token s3cret rejected")
        return {"from_a": ctx.outputs["a"]}

    steps = [Step("a", const({"pair": (1, 2)})), Step("b", fails_once, deps=("a",))]
    with pytest.raises(StepFailed):
        Pipeline(steps, journal, backoff=(0,)).run("r1", {})
    assert store.redis.hgetall(RedisJournal.key("r1")) == {"a": '{"pair": [1, 2]}'}
    result = Pipeline(steps, journal, backoff=(0,)).run("r1", {})
    assert result.skipped == ["a"] and result.outputs["b"] == {"from_a": {"pair": [1, 2]}}
    events = [(e["step"], e["event"]) for e in store.entries("r1")]
    assert ("a", "resumed") in events and ("b", "verified") in events
    error = next(e for e in store.entries("r1") if e["event"] == "error")
    assert "s3cret" not in error["error"] and "[redacted]" in error["error"]
    journal.forget("r1", ["a", "b"])
    assert journal.outputs("r1") == {}
