"""`GET /metrics` as Prometheus scrapes it, after real runs through the whole world."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.config.settings import Settings
from bot.web.app import create_app
from bot.web.webhooks import sign
from standins.server import ServerThread
from tests.world import MODEL_KEY, REPO, SAMPLE_PLAN, WEBHOOK_SECRET, World, script_implementation

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> tuple[str, Samples]:
    """The exposition text of `url`/metrics and its samples by (name, labels)."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return response.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def by_label(samples: Samples, name: str, label: str) -> dict[str, float]:
    return {dict(key)[label]: v for (n, key), v in samples.items() if n == name}


def test_metrics_show_webhooks_runs_tokens_and_step_durations_of_real_runs(world: World) -> None:
    script_implementation(world.openai)
    world.plan_and_approve()
    done = world.run()
    assert done is not None and done.state == "PR_OPEN"

    world.new_issue(title="longest_word ignores punctuation", body="See textstats/__init__.py.")
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    waiting = world.run()
    assert waiting is not None and waiting.state == "AWAITING_APPROVAL"

    labeled = next(d for d in world.github.deliveries if d.event == "issues" and d.action == "labeled")
    world.github.redeliver(labeled.guid)
    world.github.wait_for_deliveries()
    forged = b'{"action": "labeled"}'
    bad = httpx.post(f"{world.web_url}/webhook", content=forged, timeout=10, headers={
        "X-GitHub-Event": "issues", "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign(b"not-the-secret", forged)})
    assert bad.status_code == 401

    text, samples = scrape(world.web_url)

    # webhooks: every delivery the stand-in made is counted under its event, with what we did
    delivered = Counter(d.event for d in world.github.deliveries)
    webhooks = defaultdict(float)
    for (name, key), v in samples.items():
        if name == "issuesmith_webhooks_total":
            webhooks[dict(key)["event"]] += v
    assert webhooks == {**delivered, "unknown": 1}
    assert value(samples, "issuesmith_webhooks_total", event="issues", outcome="queued") == 2
    assert value(samples, "issuesmith_webhooks_total", event="issue_comment", outcome="queued") == 1
    assert value(samples, "issuesmith_webhooks_total", event="issues", outcome="duplicate") == 1
    assert value(samples, "issuesmith_webhooks_total", event="unknown", outcome="bad_signature") == 1
    queued = sum(1 for d in world.github.deliveries if d.status_code == 202)
    assert queued == 3
    assert value(samples, "issuesmith_web_request_duration_seconds_count", outcome="queued") == queued

    # runs by state, every state present
    runs = by_label(samples, "issuesmith_runs", "state")
    assert runs["PR_OPEN"] == 1 and runs["AWAITING_APPROVAL"] == 1
    assert sum(runs.values()) == 2 and set(runs) >= {"PLANNING", "FAILED", "CANCELLED"}

    # tokens and dollars by model and role equal what the runs recorded, and what the model reported
    recorded: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])
    finished: Counter[str] = Counter()
    for run in (done, waiting):
        for entry in world.services.store.entries(run.id):
            if entry["event"] == "model_call":
                row = recorded[(entry["model"], entry["step"])]
                row[0] += 1
                row[1] += entry["prompt_tokens"]
                row[2] += entry["completion_tokens"]
                row[3] += entry["cost_usd"]
            elif entry["event"] == "finished" and "seconds" in entry:
                finished[entry["step"]] += 1
    assert {role for _, role in recorded} >= {"plan", "code", "review", "test"}
    for (model, role), (calls, prompt, completion, cost) in recorded.items():
        labels = {"model": model, "role": role}
        assert value(samples, "issuesmith_model_calls_total", **labels) == calls
        assert value(samples, "issuesmith_model_prompt_tokens_total", **labels) == prompt
        assert value(samples, "issuesmith_model_completion_tokens_total", **labels) == completion
        assert abs(value(samples, "issuesmith_model_cost_usd_total", **labels) - cost) < 1e-5
    prompt_total = sum(by_label(samples, "issuesmith_model_prompt_tokens_total", "role").values())
    completion_total = sum(by_label(samples, "issuesmith_model_completion_tokens_total", "role").values())
    assert (prompt_total, completion_total) == world.openai.usage_total
    usage = [world.services.store.usage(r.id) for r in (done, waiting)]
    assert abs(sum(u["cost_usd"] for u in usage)
               - sum(by_label(samples, "issuesmith_model_cost_usd_total", "role").values())) < 1e-6

    # step durations: one observation per finished step, the pipeline's inner steps included
    assert set(finished) >= {"plan", "implement", "prepare", "code", "test", "publish", "report"}
    for step, count in finished.items():
        assert value(samples, "issuesmith_step_duration_seconds_count", step=step) == count
        assert value(samples, "issuesmith_step_duration_seconds_bucket", step=step, le="+Inf") == count
    assert value(samples, "issuesmith_step_duration_seconds_sum", step="implement") > 0

    # jobs: RQ's registries of every queue (intake, work), nothing left behind, nothing failed
    for queue in world.services.queues.served:
        jobs = {dict(key)["state"]: v for (n, key), v in samples.items()
                if n == "issuesmith_jobs" and dict(key)["queue"] == queue.name}
        assert jobs["queued"] == 0 and jobs["started"] == 0 and jobs["failed"] == 0, queue.name
        assert jobs["finished"] == len(queue.finished_job_registry.get_job_ids()), queue.name
    finished = {q.name: len(q.finished_job_registry.get_job_ids()) for q in world.services.queues.served}
    queues = world.services.queues
    assert finished[queues.intake.name] >= 3 and finished[queues.plan.name] >= 2 and finished[queues.work.name] >= 1, \
        finished
    assert value(samples, "issuesmith_redis_up") == 1

    # no secrets and no repository text
    for secret in (WEBHOOK_SECRET, MODEL_KEY, "longest_word", "word_count", REPO):
        assert secret not in text


def test_metrics_answer_when_redis_is_down(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, webhook_secret="metrics-test-secret-0123",  # type: ignore[call-arg]
                        redis_url="redis://127.0.0.1:1/0", work_dir=tmp_path)
    with ServerThread(create_app(settings)) as server:
        raw = b"{}"
        httpx.post(f"{server.url}/webhook", content=raw, timeout=10, headers={
            "X-GitHub-Event": "ping", "X-GitHub-Delivery": "d1", "X-Hub-Signature-256": sign(b"x", raw)})
        assert httpx.get(f"{server.url}/healthz", timeout=10).status_code == 503
        scrape(server.url)
        _, samples = scrape(server.url)
    assert value(samples, "issuesmith_redis_up") == 0
    assert value(samples, "issuesmith_web_request_duration_seconds_count", outcome="5xx") == 1  # /healthz
    assert value(samples, "issuesmith_web_request_duration_seconds_count", outcome="2xx") == 1  # the first scrape
    assert value(samples, "issuesmith_webhooks_total", event="unknown", outcome="bad_signature") == 1
    assert not any(name == "issuesmith_runs" for name, _ in samples)
