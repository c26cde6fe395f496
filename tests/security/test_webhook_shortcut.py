"""The shortcut that ignores a delivery without parsing it (`ignored_unread`) comes after the signature check:
a forged delivery the shortcut would ignore is still refused, and nothing is stored or counted as ignored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.config.settings import Settings
from bot.web.app import create_app
from standins.server import ServerThread
from tests.integration.test_web import SECRET, post


@pytest.fixture
def web_app(redis_url: str, tmp_path: Path) -> Iterator[tuple[str, redis.Redis]]:
    settings = Settings(_env_file=None, webhook_secret=SECRET, redis_url=redis_url,  # type: ignore[call-arg]
                        work_dir=tmp_path)
    server = ServerThread(create_app(settings)).start()
    try:
        yield server.url, redis.Redis.from_url(redis_url)
    finally:
        server.stop()


@pytest.mark.parametrize(("event", "body"), [
    ("push", b'{"ref":"refs/heads/main"}'),
    ("issues", b'{"action":"opened","issue":{"number":1}}'),
    ("pull_request_review_comment", b'{"action":"created"}'),
])
def test_a_forged_delivery_the_shortcut_would_ignore_is_refused(web_app: tuple[str, redis.Redis], event: str,
                                                                 body: bytes) -> None:
    url, client = web_app
    forged = post(url, event, None, body=body, secret="an-attacker-guess-of-the-secret")
    assert forged.status_code == 401
    assert client.dbsize() == 0
    signed = post(url, event, None, body=body)
    assert signed.status_code == 200 and "ignored" in signed.json()
