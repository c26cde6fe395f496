"""Values an unauthenticated sender or a repository chooses, at the edges that compare or label them."""

from __future__ import annotations

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from bot.config.settings import Settings
from bot.runs import figures
from bot.web.metrics import OTHER, RedisFigures, deployment_models, model_label, role_label
from bot.web.webhooks import sign, valid_delivery, verify_signature

SECRET = b"edge-secret-0123456789"
BODY = b'{"zen": "hi"}'


@pytest.mark.parametrize("header", ["sha256=é", "sha256=" + "é" * 64, "sha256=\udcff", "é", "",
                                    b"sha256=\xff", b"", None])
def test_any_wrong_signature_header_is_just_wrong(header: str | bytes | None) -> None:
    assert verify_signature(SECRET, BODY, header) is False


def test_the_right_signature_checks_out_as_str_or_bytes() -> None:
    right = sign(SECRET, BODY)
    assert verify_signature(SECRET, BODY, right) and verify_signature(SECRET, BODY, right.encode())
    assert not verify_signature(SECRET, BODY + b" ", right)


@pytest.mark.parametrize(("delivery", "ok"), [("72d3162e-cc78-11e3-81ab-4c9367dc0958", True), ("", False),
                                              ("a" * 65, False), ("x-->", False), ("é", False), ("a b", False)])
def test_delivery_ids_have_githubs_shape(delivery: str, ok: bool) -> None:
    assert valid_delivery(delivery) is ok


def test_model_and_role_labels_come_from_closed_sets() -> None:
    settings = Settings(_env_file=None, webhook_secret="edge-secret-0123456789",  # type: ignore[call-arg]
                        model="local-llm", prices={"local-llm": (0, 0), "team-model": (1, 2)})
    known = deployment_models(settings)
    assert {"local-llm", "team-model", "gpt-4o-mini", "gpt-4.1"} <= known
    for name in ("local-llm", "team-model", "gpt-4.1"):
        assert model_label(name, known) == name
    for name in ("gpt-4o-<script>", "gpt-4o-2024-08-06", "", "x" * 1000, 'a"}\n'):
        assert model_label(name, known) == OTHER
    assert [role_label(r) for r in ("plan", "code", "review", "test", "fix", "evil", "")] == [
        "plan", "code", "review", "test", "fix", OTHER, OTHER]


def test_the_scrape_adds_up_unknown_models_under_other(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    pipe = client.pipeline()
    for model, cost in (("gpt-4o-mini", 0.5), ("gpt-4o-<script>", 1.0), ("repo-model", 2.0)):
        figures.record_call(pipe, model, "plan", 10, 1, cost)
    pipe.execute()
    collector = RedisFigures(redis.Redis.from_url(redis_url), client, {"gpt-4o-mini"})
    families = {f.name: f for f in collector.collect()}
    costs = {(s.labels["model"], s.labels["role"]): s.value for s in families["issuesmith_model_cost_usd"].samples}
    assert costs == {("gpt-4o-mini", "plan"): 0.5, ("other", "plan"): 3.0}
    calls = [s for family in text_string_to_metric_families(_render(collector)) for s in family.samples
             if s.name == "issuesmith_model_calls_total"]
    assert {s.labels["model"]: s.value for s in calls} == {"gpt-4o-mini": 1, "other": 2}


def _render(collector: RedisFigures) -> str:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(collector)
    return generate_latest(registry).decode()
