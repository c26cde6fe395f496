"""Figures the workers add up in Redis, for the web process's `/metrics` to read at scrape time.

Workers are separate processes from the web app, so their counters cannot live in a
`prometheus_client` registry. Instead they are added to hashes in the same transaction as what
they count:

* `issuesmith:metrics:model` — per model and role (the call's step: plan, code, review, test,
  fix): calls, prompt tokens, completion tokens, cost in USD; `RunStore.add_usage` calls
  `record_call` in the transaction that adds the call to the run's totals and logs it;
* `issuesmith:metrics:step_seconds` — a histogram of step durations by step, from `finished`
  log entries (`RunStore.log` calls `record`): one count per bucket (not cumulative), the sum
  and the count. `bot.runs.tallies` keeps its phase histograms in the same format.

Field names are JSON arrays of the label values, so any model or step name round-trips.
Only names and numbers are kept here: no issue text, paths or errors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis

MODEL_KEY = "issuesmith:metrics:model"
STEPS_KEY = "issuesmith:metrics:step_seconds"
STEP_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
"""Upper bounds (seconds) of the step-duration buckets; `+Inf` is added after them."""

MODEL_FIGURES = ("calls", "prompt_tokens", "completion_tokens", "cost_usd")


def _field(*labels: str) -> str:
    return orjson.dumps(list(labels)).decode()


def _labels(raw: str | bytes) -> list[str]:
    value = orjson.loads(raw)
    return [str(v) for v in value] if isinstance(value, list) else []


def bucket_of(seconds: float, bounds: tuple[float, ...] = STEP_BUCKETS) -> str:
    """The bucket a duration falls in: the smallest upper bound not below it, as Prometheus writes it."""
    for bound in bounds:
        if seconds <= bound:
            return bucket_label(bound)
    return "+Inf"


def bucket_label(bound: float) -> str:
    """An upper bound as the `le` label writes it: `0.05`, `1.0`, `+Inf`."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def record_call(pipe: redis.client.Pipeline, model: str, role: str, prompt_tokens: int, completion_tokens: int,
                cost_usd: float) -> None:
    """Queue on `pipe` the increments of one model call."""
    pipe.hincrby(MODEL_KEY, _field(model, role, "calls"), 1)
    pipe.hincrby(MODEL_KEY, _field(model, role, "prompt_tokens"), prompt_tokens)
    pipe.hincrby(MODEL_KEY, _field(model, role, "completion_tokens"), completion_tokens)
    pipe.hincrbyfloat(MODEL_KEY, _field(model, role, "cost_usd"), cost_usd)


def record(pipe: redis.client.Pipeline, step: str, event: str, detail: Mapping[str, Any]) -> None:
    """Queue on `pipe` the increments that one execution-log entry stands for (a finished step's duration)."""
    if event == "finished" and isinstance(detail.get("seconds"), int | float):
        seconds = max(0.0, float(detail["seconds"]))
        pipe.hincrby(STEPS_KEY, _field(step, bucket_of(seconds)), 1)
        pipe.hincrby(STEPS_KEY, _field(step, "count"), 1)
        pipe.hincrbyfloat(STEPS_KEY, _field(step, "sum"), seconds)


def model_usage(client: redis.Redis) -> dict[tuple[str, str], dict[str, float]]:
    """Totals by (model, role): calls, prompt_tokens, completion_tokens, cost_usd."""
    totals: dict[tuple[str, str], dict[str, float]] = {}
    for raw_field, raw_value in client.hgetall(MODEL_KEY).items():
        labels = _labels(raw_field)
        if len(labels) != 3 or labels[2] not in MODEL_FIGURES:
            continue
        row = totals.setdefault((labels[0], labels[1]), dict.fromkeys(MODEL_FIGURES, 0.0))
        row[labels[2]] = float(raw_value)
    return totals


@dataclass
class Histogram:
    """One step's durations: cumulative counts per upper bound (Prometheus order), the sum and the count."""

    buckets: list[tuple[str, float]] = field(default_factory=list)
    sum: float = 0.0
    count: float = 0.0


def step_durations(client: redis.Redis) -> dict[str, Histogram]:
    """The step-duration histograms by step name."""
    return histograms(client, STEPS_KEY, STEP_BUCKETS)


def histograms(client: redis.Redis, key: str, bounds: tuple[float, ...]) -> dict[str, Histogram]:
    """The histograms kept in hash `key` (fields `[name, bucket]`, `[name, "sum"]`, `[name, "count"]`) by name."""
    raw: dict[str, dict[str, float]] = {}
    for raw_field, raw_value in client.hgetall(key).items():
        labels = _labels(raw_field)
        if len(labels) == 2:
            raw.setdefault(labels[0], {})[labels[1]] = float(raw_value)
    return {name: cumulative(values, bounds) for name, values in raw.items()}


def cumulative(values: Mapping[str, float], bounds: tuple[float, ...]) -> Histogram:
    """One histogram from its per-bucket counts (by `le` label), `sum` and `count`."""
    running = 0.0
    buckets: list[tuple[str, float]] = []
    for bound in (*bounds, math.inf):
        running += values.get(bucket_label(bound), 0.0)
        buckets.append((bucket_label(bound), running))
    return Histogram(buckets, values.get("sum", 0.0), values.get("count", running))
