"""The shortcut that ignores a delivery without parsing it (`ignored_unread`) comes after the signature check:
a forged delivery the shortcut would ignore is still refused, and nothing is stored or counted as ignored."""

from __future__ import annotations

import pytest
import redis

from tests.integration.test_web import post, web

__all__ = ["web"]  # the fixture: the web app served on its own, as the web tests serve it


@pytest.mark.parametrize(("event", "body"), [
    ("push", b'{"ref":"refs/heads/main"}'),
    ("issues", b'{"action":"opened","issue":{"number":1}}'),
    ("pull_request_review_comment", b'{"action":"created"}'),
])
def test_a_forged_delivery_the_shortcut_would_ignore_is_refused(web: tuple[str, redis.Redis], event: str,
                                                                 body: bytes) -> None:
    url, client = web
    forged = post(url, event, None, body=body, secret="an-attacker-guess-of-the-secret")
    assert forged.status_code == 401
    assert client.dbsize() == 0
    signed = post(url, event, None, body=body)
    assert signed.status_code == 200 and "ignored" in signed.json()
