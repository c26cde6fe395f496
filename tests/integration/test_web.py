"""The web path: status codes, de-duplication, real example payloads, Redis outages."""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path

import httpx
import pytest
import redis

from bot.cli import dispatcher
from bot.config.settings import Settings
from bot.web.app import create_app
from bot.web.webhooks import sign
from standins.server import ServerThread
from tests.contracts.openapi import webhook_examples

SECRET = "web-test-secret-0123456789"


@pytest.fixture
def web(redis_url: str, tmp_path: Path):
    settings = Settings(_env_file=None, webhook_secret=SECRET, redis_url=redis_url,  # type: ignore[call-arg]
                        work_dir=tmp_path)
    server = ServerThread(create_app(settings)).start()
    try:
        yield server.url, redis.Redis.from_url(redis_url)
    finally:
        server.stop()


def post(url: str, event: str, payload: object, *, secret: str = SECRET, delivery: str | None = None,
         body: bytes | None = None) -> httpx.Response:
    raw = body if body is not None else json.dumps(payload).encode()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
               "X-Hub-Signature-256": sign(secret.encode(), raw), "Content-Type": "application/json"}
    return httpx.post(f"{url}/webhook", content=raw, headers=headers, timeout=10)


def labeled(label: str = "issuesmith") -> dict:
    [example] = [p for p in webhook_examples("issues") if p["action"] == "labeled"][:1]
    example["label"]["name"] = label
    example["sender"]["type"] = "User"
    example.setdefault("installation", {"id": 1, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="})
    return example


def test_every_real_example_payload_is_answered_2xx(web) -> None:
    url, _ = web
    count = 0
    for event in ("issues", "issue_comment", "ping", "pull_request_review", "pull_request_review_comment"):
        for payload in webhook_examples(event):
            response = post(url, event, payload)
            assert 200 <= response.status_code < 300, (event, payload.get("action"), response.text)
            count += 1
    assert count > 40


def test_bad_signature_is_401_and_stores_nothing(web) -> None:
    url, client = web
    response = post(url, "issues", labeled(), secret="not-the-secret-at-all")
    assert response.status_code == 401
    assert "ISSUESMITH_WEBHOOK_SECRET" in response.json()["error"]
    assert client.dbsize() == 0


def test_missing_signature_is_401(web) -> None:
    url, client = web
    response = httpx.post(f"{url}/webhook", content=b"{}", headers={"X-GitHub-Event": "issues"})
    assert response.status_code == 401 and client.dbsize() == 0


def test_malformed_json_is_400(web) -> None:
    url, _ = web
    assert post(url, "issues", None, body=b"{not json").status_code == 400


def test_oversized_body_is_413_before_reading_it(web) -> None:
    url, client = web
    big = b'{"pad": "' + b"x" * (25 * 1024 * 1024 + 10) + b'"}'
    assert post(url, "issues", None, body=big).status_code == 413
    assert client.dbsize() == 0


def test_ping_is_answered(web) -> None:
    url, _ = web
    response = post(url, "ping", {"zen": "Keep it logically awesome.", "hook_id": 1})
    assert response.status_code == 200 and response.json() == {"msg": "pong"}


def test_irrelevant_events_do_not_touch_redis(web) -> None:
    url, client = web
    unlabeled = {**labeled("bug"), "action": "unlabeled"}
    assert post(url, "issues", unlabeled).status_code == 200
    assert post(url, "push", {"ref": "refs/heads/main"}).status_code == 200
    assert client.dbsize() == 0


def test_relevant_event_is_queued_once_per_delivery(web, redis_url: str, tmp_path: Path) -> None:
    url, client = web
    delivery = str(uuid.uuid4())
    first = post(url, "issues", labeled(), delivery=delivery)
    second = post(url, "issues", labeled(), delivery=delivery)
    assert (first.status_code, first.json()) == (202, {"queued": "label"})
    assert (second.status_code, second.json()) == (200, {"duplicate": delivery})
    assert client.xlen("issuesmith:inbox") == 1 and client.llen("rq:queue:issuesmith-intake") == 0
    settings = Settings(_env_file=None, webhook_secret=SECRET, redis_url=redis_url,  # type: ignore[call-arg]
                        work_dir=tmp_path)
    assert dispatcher.build(settings, "test").drain() == 1
    assert client.llen("rq:queue:issuesmith-intake") == 1 and client.xlen("issuesmith:inbox") == 0
    assert client.llen("rq:queue:issuesmith") == 0  # intake jobs go to the intake queue, never the work queue
    assert client.exists(f"rq:job:intake-{delivery}")
    assert post(url, "issues", labeled(), delivery=delivery).status_code == 200  # still a duplicate


def test_redis_down_is_503_so_github_can_redeliver(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = Settings(_env_file=None, webhook_secret=SECRET,  # type: ignore[call-arg]
                        redis_url=f"redis://127.0.0.1:{port}/0", work_dir=tmp_path)
    with ServerThread(create_app(settings)) as server:
        response = post(server.url, "issues", labeled())
        assert response.status_code == 503
        health = httpx.get(f"{server.url}/healthz")
        assert health.status_code == 503 and "unreachable" in health.json()["redis"]
        unlabeled = {**labeled("bug"), "action": "unlabeled"}
        assert post(server.url, "issues", unlabeled).status_code == 200  # irrelevant: no Redis needed


def test_healthz_reports_redis(web) -> None:
    url, _ = web
    response = httpx.get(f"{url}/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok", "redis": "ok"}


def test_get_on_webhook_is_405(web) -> None:
    url, _ = web
    assert httpx.get(f"{url}/webhook").status_code == 405
