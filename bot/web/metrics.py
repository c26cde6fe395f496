"""What `GET /metrics` exposes: the web process's own figures and, read at scrape time, everyone else's.

Each app has its own `CollectorRegistry` (never the global one), holding:

* `issuesmith_webhooks_total{event,outcome}` — deliveries received, by GitHub event and what we
  did with them (queued, duplicate, ignored, ping, bad_signature, bad_request, too_large,
  unavailable). The event is counted as `unknown` unless the signature checked out, so unsigned
  traffic cannot invent label values.
* `issuesmith_web_request_duration_seconds{outcome}` — latency of every HTTP request: the
  webhook outcome on `/webhook`, else the status class (`2xx`, `4xx`, ...).
* `RedisFigures`, a collector that reads Redis when scraped: RQ jobs by queue and state
  (queued, started, finished, failed, deferred, scheduled, canceled), runs by state and phase
  durations (`bot.runs.tallies`, kept by the state-change scripts), and the workers' figures from
  `bot.runs.figures` (model calls, tokens and dollars by model and role; step durations by step).
  `issuesmith_redis_up` says whether that read worked. A scrape reads a few hashes and RQ's
  registry sizes, never the runs: it costs the same with 10 or 100,000 runs. The first scrape on a
  Redis from before the tallies counts them once (`bot.runs.recount.ensure`).

Labels are only event, outcome, queue, state, step, phase, model and role: no secrets, no repository text.
Every label comes from a closed set: events are GitHub's (once signed), outcomes, queues, states and
steps are issuesmith's own names, roles are the agents', and `model` is a model the deployment
configured (`ISSUESMITH_MODEL`) or priced (the price table and `ISSUESMITH_PRICES`). A repository may
name its own models (`models.*`), so any other name, or a dated snapshot of a priced model, is counted
as `other`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from rq import Queue

from bot.config.pricing import DEFAULT_PRICES
from bot.config.settings import Settings
from bot.runs import figures, recount, tallies
from bot.runs.queueing import QueueNames

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_EVENT_NAME = re.compile(r"[a-z_]{1,64}")
JOB_STATES = ("queued", "started", "finished", "failed", "deferred", "scheduled", "canceled")
ROLES = frozenset({"plan", "code", "review", "test", "fix"})
"""The steps that call the model (`role` label)."""
OTHER = "other"
"""The label value for anything outside a label's closed set."""


def deployment_models(settings: Settings) -> frozenset[str]:
    """The model names `/metrics` shows as themselves: the configured model and every priced one."""
    return frozenset({settings.model, *DEFAULT_PRICES, *settings.prices})


def model_label(model: str, known: frozenset[str]) -> str:
    """The `model` label: `model` if the deployment configured or priced it, else `other`."""
    return model if model in known else OTHER


def role_label(role: str) -> str:
    """The `role` label: one of `ROLES`, else `other`."""
    return role if role in ROLES else OTHER


def event_label(event: str, verified: bool) -> str:
    """The `event` label for a delivery: GitHub's event name once the signature is verified, else `unknown`."""
    return event if verified and _EVENT_NAME.fullmatch(event) else "unknown"


def status_class(status: int) -> str:
    """`2xx`, `4xx`, ... for an HTTP status."""
    return f"{status // 100}xx"


class WebMetrics:
    """The registry behind one app's `/metrics`, and the web-side metrics it feeds."""

    def __init__(self, connection: redis.Redis, text: redis.Redis, models: Iterable[str] = (),
                 queues: Sequence[str] = QueueNames().served) -> None:
        """`connection`: the web app's Redis client (bytes, as RQ needs); `text`: the same with decoded replies;
        `models`: the model names shown as themselves (`deployment_models`), any other is `other`; `queues`: the
        deployment's queues (`QueueNames.served`), shown even while RQ knows none of them."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.webhooks = Counter("issuesmith_webhooks", "Webhook deliveries received, by event and outcome.",
                                ["event", "outcome"], registry=self.registry)
        self.latency = Histogram("issuesmith_web_request_duration_seconds",
                                 "Web request latency: by webhook outcome on /webhook, else by status class.",
                                 ["outcome"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.registry.register(RedisFigures(connection, text, models, queues))

    def delivery(self, event: str, outcome: str, seconds: float) -> None:
        """Count one webhook delivery and its latency."""
        self.webhooks.labels(event, outcome).inc()
        self.latency.labels(outcome).observe(seconds)

    def request(self, status: int, seconds: float) -> None:
        """Time one request to another route."""
        self.latency.labels(status_class(status)).observe(seconds)

    def render(self) -> bytes:
        """The exposition text (reads Redis: call it off the event loop)."""
        return generate_latest(self.registry)


class RedisFigures(Collector):
    """Reads the figures kept in Redis (RQ registries, runs, workers' counters) at scrape time."""

    def __init__(self, connection: redis.Redis, text: redis.Redis, models: Iterable[str] = (),
                 queues: Sequence[str] = QueueNames().served) -> None:
        self._rq = connection
        self._text = text
        self._models = frozenset(models)
        self._queues = tuple(queues)

    def describe(self) -> list[Metric]:
        """Nothing up front, so registering does not read Redis."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Every family read from Redis, and `issuesmith_redis_up` (0 with nothing else when Redis fails)."""
        up = GaugeMetricFamily("issuesmith_redis_up", "1 if the figures kept in Redis could be read.")
        try:
            recount.ensure(self._text)
            families = [self._jobs(), self._runs(), self._phases(), *self._model(), self._steps()]
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _jobs(self) -> Metric:
        family = GaugeMetricFamily("issuesmith_jobs", "RQ jobs by queue and state (queue length, registry sizes).",
                                   labels=["queue", "state"])
        names = sorted({*self._queues, *(q.name for q in Queue.all(connection=self._rq))})
        pipe = self._rq.pipeline(transaction=False)
        for name in names:
            queue = Queue(name, connection=self._rq)
            pipe.llen(queue.key)
            for registry in (queue.started_job_registry, queue.finished_job_registry, queue.failed_job_registry,
                             queue.deferred_job_registry, queue.scheduled_job_registry,
                             queue.canceled_job_registry):
                pipe.zcard(registry.key)
        counts = pipe.execute()
        for index, name in enumerate(names):
            row = counts[index * len(JOB_STATES):(index + 1) * len(JOB_STATES)]
            for state, count in zip(JOB_STATES, row, strict=True):
                family.add_metric([name, state], int(count))
        return family

    def _runs(self) -> Metric:
        family = GaugeMetricFamily("issuesmith_runs", "Runs by state.", labels=["state"])
        for state, count in tallies.runs_by_state(self._text).items():
            family.add_metric([state.value], count)
        return family

    def _phases(self) -> Metric:
        family = HistogramMetricFamily("issuesmith_run_phase_seconds",
                                       "How long runs took: plan (label to first plan ready for approval), "
                                       "pull_request (approval to pull request open); once per run.",
                                       labels=["phase"])
        for phase, histogram in tallies.phase_durations(self._text).items():
            family.add_metric([phase], histogram.buckets, histogram.sum)
        return family

    def _model(self) -> list[Metric]:
        names = {"calls": ("issuesmith_model_calls", "Model calls"),
                 "prompt_tokens": ("issuesmith_model_prompt_tokens", "Prompt tokens sent to the model"),
                 "completion_tokens": ("issuesmith_model_completion_tokens", "Completion tokens from the model"),
                 "cost_usd": ("issuesmith_model_cost_usd", "Model cost in US dollars")}
        families = {key: CounterMetricFamily(name, f"{text}, by model and role (plan, code, review, test, fix).",
                                             labels=["model", "role"]) for key, (name, text) in names.items()}
        for (model, role), totals in sorted(self._usage_by_label().items()):
            for key, family in families.items():
                family.add_metric([model, role], totals[key])
        return list(families.values())

    def _usage_by_label(self) -> dict[tuple[str, str], dict[str, float]]:
        """The workers' model usage added up by label values (names outside the closed sets become `other`)."""
        summed: dict[tuple[str, str], dict[str, float]] = {}
        for (model, role), totals in figures.model_usage(self._text).items():
            row = summed.setdefault((model_label(model, self._models), role_label(role)),
                                    dict.fromkeys(figures.MODEL_FIGURES, 0.0))
            for key in figures.MODEL_FIGURES:
                row[key] += totals[key]
        return summed

    def _steps(self) -> Metric:
        family = HistogramMetricFamily("issuesmith_step_duration_seconds",
                                       "Durations of the steps that finished, by step.", labels=["step"])
        for step, histogram in sorted(figures.step_durations(self._text).items()):
            family.add_metric([step], histogram.buckets, histogram.sum)
        return family
