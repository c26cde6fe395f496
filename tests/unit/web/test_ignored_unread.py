"""Deliveries ignored from their event and leading `action`, without parsing the body, are exactly those
`decide` would ignore, with the same reason: checked on every example of GitHub's webhook payloads
(octokit/webhooks, `tests/contracts/webhooks`), compact as GitHub sends them and spaced out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.web.webhooks import decide, ignored_unread

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "webhooks"


def _examples() -> list[tuple[str, dict[str, Any]]]:
    return [(path.stem, payload) for path in sorted(EXAMPLES.glob("*.json"))
            for payload in json.loads(path.read_text())]


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
def test_every_example_ignored_unread_is_ignored_by_decide_with_the_same_reason(separators: tuple[str, str]) -> None:
    shortcut = 0
    for event, payload in _examples():
        raw = json.dumps(payload, separators=separators).encode()
        early = ignored_unread(event, raw)
        if early is None:
            continue
        shortcut += 1
        assert decide(event, "d-1", payload) == early, (event, payload.get("action"))
    assert shortcut >= 40  # most of GitHub's examples are actions the bot does not act on


def test_a_handled_action_or_an_unknown_shape_is_left_to_the_whole_payload() -> None:
    assert ignored_unread("issues", b'{"action":"labeled","label":{"name":"x"}}') is None
    assert ignored_unread("issue_comment", b'{"action":"created"}') is None
    assert ignored_unread("issues", b'{"issue":{},"action":"opened"}') is None  # action not first: parse
    assert ignored_unread("issues", b'  {"action":"opened"}') is None
    assert ignored_unread("issues", b"not json") is None
    assert ignored_unread("ping", b'{"zen":"Keep it logically awesome."}') is None


def test_unhandled_events_and_actions_are_told_apart_from_the_header_and_the_first_member() -> None:
    assert ignored_unread("push", b"{}") == "event push is not handled"
    assert ignored_unread("issues", b'{"action":"unlabeled","label":{"name":"issuesmith"}}') == \
        "issues.unlabeled is not handled"
    assert ignored_unread("issue_comment", b'{ "action" : "deleted" }') == "issue_comment.deleted is not handled"
    assert ignored_unread("pull_request_review_comment", b'{"action":"created"}') == \
        "review comments are read with the review that requests changes"
