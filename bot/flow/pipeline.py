"""A small workflow engine: named steps, dependencies, timeouts, retries, verification, a journal.

The workflow is code: a `Pipeline` is a fixed graph of `Step`s. The model only writes and
judges text *inside* a step. The engine runs the steps in dependency order (independent
ready steps concurrently), records every attempt in a `Journal`, saves each step's
*verified* output, and on a later run skips steps whose verified output is already saved
(resume), so a retried job picks up where the failed one stopped.

Semantics worth knowing:

* A step's output is a JSON-serialisable mapping. Dependents always see the JSON
  round-tripped copy (tuples become lists, keys become strings), within one run and after
  a resume alike; each step gets its own copy.
* `verify(output, ctx)` returns problems; any problem fails the step (`StepFailed`), the
  output is not saved and no dependent starts.
* Timeouts: each attempt runs in its own daemon thread and the engine waits up to
  `Step.timeout`. Python cannot kill a thread, so on expiry the engine only *stops waiting*
  (`StepTimeout`) and starts no dependent; the abandoned thread keeps running until it
  returns. Steps must therefore call `ctx.check()` in their loops (it raises `StepTimeout`
  past the deadline and `Cancelled` when the run is stopping) and bound their own
  subprocesses (`timeout=` on `subprocess.run`, with `ctx.deadline - time.monotonic()`).
* Retries: an attempt that raises an error for which `is_retryable` is true is tried again,
  up to `Step.retries` extra times, after a short backoff. Timeouts, verification failures
  and final errors are not retried here (a timed-out attempt may still be running).
* Failure: the first failing step stops the run. Steps not yet started are not started,
  running steps see `Cancelled` from `ctx.check()` and are waited for (up to `grace`
  seconds), then the failure is raised as `StepFailed` (`.step`, `.cause`, `__cause__`).
  `StepFailed.retryable` mirrors `is_retryable(cause)`, also when the step exhausted its
  own retries: the condition was transient, so running the whole job again later (RQ's
  retry with a longer backoff) may help. It is False for timeouts, verification failures
  and outputs that are not JSON. Cancellation is not a failure: `Cancelled` is raised as is.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any, Protocol

from bot.core.errors import IssuesmithError, describe, is_retryable

StopCheck = Callable[[], str | None]
DEFAULT_BACKOFF = (1.0, 4.0)


class StepTimeout(IssuesmithError):
    """A step ran past its time limit (final: the abandoned attempt may still be running)."""


class Cancelled(IssuesmithError):
    """The run was asked to stop (e.g. `/cancel`), or another step failed; not a failure."""

    def __init__(self, reason: str, *, step: str = "") -> None:
        super().__init__(f"cancelled: {reason}")
        self.reason = reason
        self.step = step


class StepFailed(IssuesmithError):
    """Step `step` failed; `cause` is the original error (also `__cause__`), if there was one."""

    def __init__(self, step: str, message: str, *, cause: BaseException | None = None, retryable: bool = False,
                 problems: Sequence[str] = (), attempts: int = 1, hint: str = "") -> None:
        super().__init__(f"step {step} failed: {message}", hint=hint)
        self.step = step
        self.cause = cause
        self.retryable = retryable
        self.problems = list(problems)
        self.attempts = attempts


@dataclass
class StepContext:
    """What a step's `run` (and `verify`) gets: ids, inputs, its dependencies' outputs, services."""

    run_id: str
    step: str
    attempt: int
    inputs: Mapping[str, Any]
    outputs: Mapping[str, dict[str, Any]]
    services: Any
    deadline: float
    journal: Journal | None = field(default=None, repr=False)
    should_stop: StopCheck | None = field(default=None, repr=False)

    def remaining(self) -> float:
        """Seconds left before the deadline (never negative); use it to bound subprocesses."""
        return max(0.0, self.deadline - time.monotonic())

    def check(self) -> None:
        """Raise `StepTimeout` past the deadline, `Cancelled` when the run is stopping."""
        if time.monotonic() > self.deadline:
            raise StepTimeout(f"step {self.step} ran past its time limit")
        reason = self.should_stop() if self.should_stop is not None else None
        if reason:
            raise Cancelled(reason, step=self.step)

    def log(self, event: str, **detail: Any) -> None:
        """Append an entry, tagged with this step, to the run's journal."""
        if self.journal is not None:
            self.journal.log(self.run_id, self.step, event, **detail)


@dataclass(frozen=True)
class Step:
    """One named unit of work; `run` returns a JSON-serialisable mapping (the step's output)."""

    name: str
    run: Callable[[StepContext], Mapping[str, Any]]
    deps: tuple[str, ...] = ()
    timeout: float = 600.0
    retries: int = 0
    verify: Callable[[dict[str, Any], StepContext], list[str]] | None = None


class Journal(Protocol):
    """Where the engine writes its log and keeps verified step outputs."""

    def log(self, run_id: str, step: str, event: str, **detail: Any) -> None:
        """Append one entry to the run's log."""

    def save_output(self, run_id: str, step: str, output: Mapping[str, Any]) -> None:
        """Keep a step's verified output."""

    def outputs(self, run_id: str) -> dict[str, dict[str, Any]]:
        """The verified outputs saved so far, by step."""
        ...

    def forget(self, run_id: str, steps: Iterable[str]) -> None:
        """Drop the saved outputs of `steps` (they will run again)."""


@dataclass
class PipelineResult:
    """What a finished run produced: every output, which steps ran, which were resumed, timings."""

    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _RunState:
    """Per-run bookkeeping shared by the scheduler and its workers."""

    run_id: str
    inputs: Mapping[str, Any]
    services: Any
    user_stop: StopCheck
    texts: dict[str, str] = field(default_factory=dict)
    abort: threading.Event = field(default_factory=threading.Event)
    abort_reason: str = ""

    def stop_reason(self) -> str | None:
        """Why the run should stop now, if it should."""
        return self.abort_reason if self.abort.is_set() else self.user_stop()

    def stop(self, reason: str) -> None:
        self.abort_reason = reason
        self.abort.set()

    def outputs_for(self, step: Step) -> dict[str, dict[str, Any]]:
        """Fresh JSON-decoded copies of the outputs of `step`'s dependencies."""
        return {dep: json.loads(self.texts[dep]) for dep in step.deps}


@dataclass
class _Outcome:
    value: Any = None
    error: BaseException | None = None


class Pipeline:
    """A validated graph of steps, run with `run()`; see the module docstring for the semantics."""

    def __init__(self, steps: Sequence[Step], journal: Journal, *, max_workers: int = 4,
                 should_stop: StopCheck = lambda: None, backoff: Sequence[float] = DEFAULT_BACKOFF,
                 grace: float = 30.0) -> None:
        self.steps = {step.name: step for step in steps}
        self.journal = journal
        self.max_workers = max_workers
        self.should_stop = should_stop
        self.backoff = tuple(backoff)
        self.grace = grace
        _validate(steps, max_workers)
        self.order = _topological_order(self.steps)

    # public
    def dependents(self, name: str) -> set[str]:
        """Every step that depends on `name`, directly or transitively."""
        found: set[str] = set()
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for step in self.steps.values():
                if current in step.deps and step.name not in found:
                    found.add(step.name)
                    frontier.append(step.name)
        return found

    def run(self, run_id: str, inputs: Mapping[str, Any], services: Any = None, *, resume: bool = True,
            redo_from: str | None = None) -> PipelineResult:
        """Run the steps for `run_id`; raises `StepFailed` or `Cancelled` when the run does not finish.

        `resume=True` skips steps whose verified output is saved (and whose dependencies were
        skipped too); `resume=False` forgets every saved output first. `redo_from=X` forgets X
        and all its dependents before resuming.
        """
        saved = self._prepare(run_id, resume, redo_from)
        state = _RunState(run_id, inputs, services, self.should_stop)
        result = PipelineResult()
        pool = ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix=f"pipeline-{run_id}")
        try:
            failure = self._schedule(state, saved, result, pool)
        except BaseException:
            state.stop("the pipeline itself failed")
            raise
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        if failure is not None:
            raise failure  # a StepFailed keeps the step's error as __cause__
        result.outputs = {name: json.loads(state.texts[name]) for name in self.order if name in state.texts}
        return result

    # scheduling (main thread)
    def _prepare(self, run_id: str, resume: bool, redo_from: str | None) -> dict[str, dict[str, Any]]:
        if redo_from is not None:
            if redo_from not in self.steps:
                raise ValueError(f"unknown step {redo_from!r}")
            self.journal.forget(run_id, [redo_from, *sorted(self.dependents(redo_from))])
        if not resume:
            self.journal.forget(run_id, self.order)
            return {}
        return self.journal.outputs(run_id)

    def _schedule(self, state: _RunState, saved: Mapping[str, dict[str, Any]], result: PipelineResult,
                  pool: ThreadPoolExecutor) -> StepFailed | Cancelled | None:
        sorter = TopologicalSorter({name: step.deps for name, step in self.steps.items()})
        sorter.prepare()
        pending: list[str] = []
        running: dict[Future[float], str] = {}
        failure: StepFailed | Cancelled | None = None
        while failure is None and sorter.is_active():
            for name in sorter.get_ready():
                if self._resume(state, name, saved, result):
                    sorter.done(name)
                else:
                    pending.append(name)
            failure = self._start_ready(state, pending, running, pool)
            if failure is not None or not running:
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                failure = self._collect(future, name, result) or failure
                if future.exception() is None:
                    sorter.done(name)
        if failure is not None:
            self._drain(state, failure, pending, running, result)
        return failure

    def _resume(self, state: _RunState, name: str, saved: Mapping[str, dict[str, Any]],
                result: PipelineResult) -> bool:
        deps_resumed = all(dep in result.skipped for dep in self.steps[name].deps)
        if name not in saved or not deps_resumed:
            return False
        state.texts[name] = json.dumps(saved[name])
        result.skipped.append(name)
        self.journal.log(state.run_id, name, "resumed", output=_summary(saved[name]))
        return True

    def _start_ready(self, state: _RunState, pending: list[str], running: dict[Future[float], str],
                     pool: ThreadPoolExecutor) -> Cancelled | None:
        while pending and len(running) < self.max_workers:
            name = pending.pop(0)
            reason = state.stop_reason()
            if reason:
                self.journal.log(state.run_id, name, "cancelled", reason=reason, started=False)
                return Cancelled(reason, step=name)
            running[pool.submit(self._execute, state, self.steps[name])] = name
        return None

    def _collect(self, future: Future[float], name: str, result: PipelineResult) -> StepFailed | Cancelled | None:
        error = future.exception()
        if error is None:
            result.ran.append(name)
            result.timings[name] = round(future.result(), 3)
            return None
        if isinstance(error, StepFailed | Cancelled):
            return error
        return _wrap(name, error, attempts=1)

    def _drain(self, state: _RunState, failure: StepFailed | Cancelled, pending: list[str],
               running: dict[Future[float], str], result: PipelineResult) -> None:
        """Stop after the first failure: start nothing more, let running steps wind down (bounded)."""
        reason = failure.reason if isinstance(failure, Cancelled) else f"step {failure.step} failed"
        state.stop(reason)
        for name in pending:
            self.journal.log(state.run_id, name, "cancelled", reason=reason, started=False)
        pending.clear()
        done, not_done = wait(running, timeout=self.grace)
        for future in done:
            self._collect(future, running[future], result)
        for future in not_done:
            self.journal.log(state.run_id, running[future], "cancelled", reason=reason, started=True,
                             abandoned=True)

    # one step (worker thread)
    def _execute(self, state: _RunState, step: Step) -> float:
        """All attempts of one step; returns its seconds, or raises `StepFailed` / `Cancelled`."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                self._attempt(state, step, attempt)
                return time.monotonic() - started
            except Cancelled as exc:
                exc.step = exc.step or step.name
                self.journal.log(state.run_id, step.name, "cancelled", reason=exc.reason, attempt=attempt)
                raise
            except Exception as exc:
                will_retry = attempt <= step.retries and is_retryable(exc)
                self._log_error(state, step, attempt, exc, will_retry, time.monotonic() - started)
                if not will_retry:
                    raise _wrap(step.name, exc, attempts=attempt)  # noqa: B904 (_wrap sets __cause__)
            self._backoff(state, step, attempt)

    def _attempt(self, state: _RunState, step: Step, attempt: int) -> None:
        reason = state.stop_reason()
        if reason:
            raise Cancelled(reason, step=step.name)
        ctx = StepContext(state.run_id, step.name, attempt, state.inputs, state.outputs_for(step), state.services,
                          time.monotonic() + step.timeout, self.journal, state.stop_reason)
        self.journal.log(state.run_id, step.name, "started", attempt=attempt, timeout=step.timeout)
        began = time.monotonic()
        output = _call_with_timeout(step, ctx)
        text, data = _serialise(step.name, output)
        self.journal.log(state.run_id, step.name, "finished", attempt=attempt,
                         seconds=round(time.monotonic() - began, 3), output=_summary(data))
        problems = list(step.verify(data, ctx)) if step.verify is not None else []
        if problems:
            self.journal.log(state.run_id, step.name, "verification_failed", attempt=attempt, problems=problems)
            raise StepFailed(step.name, "verification failed: " + "; ".join(problems), problems=problems,
                             attempts=attempt)
        self.journal.log(state.run_id, step.name, "verified", attempt=attempt, checked=step.verify is not None)
        self.journal.save_output(state.run_id, step.name, data)
        state.texts[step.name] = text

    def _log_error(self, state: _RunState, step: Step, attempt: int, exc: Exception, will_retry: bool,
                   seconds: float) -> None:
        if isinstance(exc, StepTimeout):
            self.journal.log(state.run_id, step.name, "timeout", attempt=attempt, limit=step.timeout)
        self.journal.log(state.run_id, step.name, "error", attempt=attempt, error=describe(exc),
                         retryable=is_retryable(exc), will_retry=will_retry, seconds=round(seconds, 3))

    def _backoff(self, state: _RunState, step: Step, attempt: int) -> None:
        delay = self.backoff[min(attempt, len(self.backoff)) - 1] if self.backoff else 0.0
        if delay > 0:
            state.abort.wait(delay)


def step_usage(entries: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Sum the "model_call" entries of a run's log per step, plus a "total" entry (last).

    Each value has prompt_tokens, completion_tokens, calls (ints) and cost_usd.
    """
    per_step: dict[str, dict[str, float]] = {}
    total = _zero_usage()
    for entry in entries:
        if entry.get("event") != "model_call":
            continue
        usage = per_step.setdefault(str(entry.get("step") or "?"), _zero_usage())
        for bucket in (usage, total):
            bucket["prompt_tokens"] += int(entry.get("prompt_tokens") or 0)
            bucket["completion_tokens"] += int(entry.get("completion_tokens") or 0)
            bucket["cost_usd"] = round(bucket["cost_usd"] + float(entry.get("cost_usd") or 0.0), 6)
            bucket["calls"] += 1
    return {**per_step, "total": total}


def _zero_usage() -> dict[str, float]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0, "calls": 0}


def _validate(steps: Sequence[Step], max_workers: int) -> None:
    if max_workers < 1:
        raise ValueError("max_workers must be at least 1")
    names = [step.name for step in steps]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"duplicate step names: {', '.join(duplicates)}")
    for step in steps:
        unknown = [dep for dep in step.deps if dep not in names]
        if unknown:
            raise ValueError(f"step {step.name} depends on unknown step(s): {', '.join(unknown)}")
        if step.timeout <= 0 or step.retries < 0:
            raise ValueError(f"step {step.name} needs a positive timeout and retries >= 0")


def _topological_order(steps: Mapping[str, Step]) -> list[str]:
    try:
        return list(TopologicalSorter({name: step.deps for name, step in steps.items()}).static_order())
    except CycleError as exc:
        raise ValueError(f"steps form a cycle: {' -> '.join(exc.args[1])}") from exc


def _call_with_timeout(step: Step, ctx: StepContext) -> Any:
    """Run `step.run(ctx)` in a daemon thread; stop waiting (`StepTimeout`) after `step.timeout`."""
    outcome = _Outcome()

    def target() -> None:
        try:
            outcome.value = step.run(ctx)
        except BaseException as exc:  # handed to the waiting thread
            outcome.error = exc

    thread = threading.Thread(target=target, name=f"step-{ctx.run_id}-{step.name}-{ctx.attempt}", daemon=True)
    thread.start()
    thread.join(step.timeout)
    if thread.is_alive():
        raise StepTimeout(f"step {step.name} did not finish within {step.timeout:g} s",
                          hint="the step was abandoned; its work may be incomplete")
    if isinstance(outcome.error, Exception):
        raise outcome.error
    if outcome.error is not None:
        raise RuntimeError(f"step {step.name} raised {type(outcome.error).__name__}") from outcome.error
    return outcome.value


def _serialise(name: str, output: Any) -> tuple[str, dict[str, Any]]:
    """The output as JSON text and its round-tripped dict; `StepFailed` when it is not JSON."""
    if not isinstance(output, Mapping):
        raise StepFailed(name, f"output must be a mapping, not {type(output).__name__}")
    try:
        text = json.dumps(dict(output), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StepFailed(name, f"output is not JSON-serialisable ({exc})", cause=exc) from exc
    return text, json.loads(text)


def _summary(output: Mapping[str, Any]) -> dict[str, int]:
    """Each key of an output with the size of its JSON value, in characters."""
    return {str(key): len(json.dumps(value)) for key, value in output.items()}


def _wrap(step: str, exc: BaseException, *, attempts: int) -> StepFailed:
    if isinstance(exc, StepFailed) and exc.step == step:
        return exc
    hint = exc.hint if isinstance(exc, IssuesmithError) else ""
    failed = StepFailed(step, describe(exc), cause=exc, retryable=is_retryable(exc), attempts=attempts, hint=hint)
    failed.__cause__ = exc
    return failed


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
