"""Command parsing, signature checks and the web path's cheap relevance decision."""

from __future__ import annotations

import copy

import pytest

from bot.github.commands import Command, parse_command
from bot.runs.intents import Intent
from bot.web.webhooks import decide, sign, verify_signature

SECRET = b"a-test-webhook-secret"


@pytest.mark.parametrize(("body", "expected"), [
    ("/approve", Command("approve")),
    ("  \n/approve v2\n", Command("approve", "v2")),
    ("/revise use a dataclass\nand add tests", Command("revise", "use a dataclass\nand add tests")),
    ("/cancel", Command("cancel")),
    ("/retry please", Command("retry", "please")),
    ("/approved", None),
    ("/deploy now", None),
    ("please /approve", None),
    ("> /approve\nquoted", None),
    ("", None),
    (None, None),
])
def test_parse_command(body: str | None, expected: Command | None) -> None:
    assert parse_command(body) == expected


def test_plan_version_argument() -> None:
    assert Command("approve", "v3").plan_version() == 3
    assert Command("approve", "2").plan_version() == 2
    assert Command("approve", "").plan_version() is None
    assert Command("approve", "looks good").plan_version() is None


def test_signature_roundtrip_and_tampering() -> None:
    body = b'{"action": "labeled"}'
    header = sign(SECRET, body)
    assert header.startswith("sha256=")
    assert verify_signature(SECRET, body, header)
    assert not verify_signature(SECRET, body + b" ", header)
    assert not verify_signature(b"another-secret", body, header)
    assert not verify_signature(SECRET, body, None)
    assert not verify_signature(SECRET, body, header.replace("sha256=", "sha1="))


def _labeled() -> dict:
    return {
        "action": "labeled",
        "label": {"name": "IssueSmith"},
        "issue": {"number": 7, "title": "Fix it"},
        "repository": {"full_name": "octo/demo"},
        "installation": {"id": 42},
        "sender": {"login": "alice", "type": "User"},
    }


def _comment(body: str, user_type: str = "User", login: str = "alice") -> dict:
    return {
        "action": "created",
        "issue": {"number": 7, "title": "Fix it"},
        "comment": {"id": 99, "body": body, "created_at": "2026-01-01T00:00:00Z",
                    "user": {"login": login, "type": user_type}},
        "repository": {"full_name": "octo/demo"},
        "installation": {"id": 42},
        "sender": {"login": login, "type": user_type},
    }


def test_every_human_label_becomes_intent_for_the_repository_to_judge() -> None:
    intent = decide("issues", "d1", _labeled())
    assert isinstance(intent, Intent)
    assert (intent.kind, intent.repo, intent.issue_number, intent.sender, intent.installation_id) == (
        "label", "octo/demo", 7, "alice", 42)
    other = copy.deepcopy(_labeled())
    other["label"]["name"] = "bug"
    bug = decide("issues", "d1", other)
    assert isinstance(bug, Intent) and bug.label == "bug"
    assert Intent.from_record(intent.to_record()) == intent


@pytest.mark.parametrize("change", ["unlabeled", "bot_sender", "no_installation"])
def test_irrelevant_issue_events_are_ignored(change: str) -> None:
    payload = copy.deepcopy(_labeled())
    if change == "unlabeled":
        payload["action"] = "unlabeled"
    elif change == "bot_sender":
        payload["sender"] = {"login": "issuesmith[bot]", "type": "Bot"}
    else:
        del payload["installation"]
    assert isinstance(decide("issues", "d1", payload), str)


def test_command_comment_becomes_intent() -> None:
    intent = decide("issue_comment", "d2", _comment("/revise smaller please"))
    assert isinstance(intent, Intent)
    assert (intent.command, intent.args, intent.comment_id) == ("revise", "smaller please", 99)
    assert intent.comment_created_at == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize(("body", "user_type", "login"), [
    ("just a comment", "User", "alice"),
    ("/unknown thing", "User", "alice"),
    ("/approve", "Bot", "issuesmith[bot]"),
    ("/approve", "User", "renovate[bot]"),
])
def test_non_commands_and_bots_are_ignored(body: str, user_type: str, login: str) -> None:
    assert isinstance(decide("issue_comment", "d3", _comment(body, user_type, login)), str)


def _edited(before: str, after: str, editor: str = "bob") -> dict:
    """An `issue_comment.edited` delivery shaped like GitHub's example (octokit/webhooks): `changes.body.from`."""
    payload = _comment(after)
    payload["action"] = "edited"
    payload["changes"] = {"body": {"from": before}}
    payload["comment"]["updated_at"] = "2026-01-01T00:05:00Z"
    payload["sender"] = {"login": editor, "type": "User"}
    return payload


def test_a_comment_edited_into_a_command_is_that_command_by_the_editor_at_the_time_of_the_edit() -> None:
    intent = decide("issue_comment", "d4", _edited("/aprove", "/approve v2"))
    assert isinstance(intent, Intent)
    assert (intent.command, intent.args, intent.sender, intent.edited) == ("approve", "v2", "bob", True)
    assert intent.comment_created_at == "2026-01-01T00:05:00Z"  # binds to the plan on screen at the edit


def test_an_edited_command_is_passed_on_to_be_answered_not_run() -> None:
    intent = decide("issue_comment", "d5", _edited("/revise a", "/approve"))
    assert isinstance(intent, Intent)
    assert (intent.command, intent.args) == ("edited", "approve")


@pytest.mark.parametrize("payload", [
    _edited("/aprove", "thanks"),  # not a command after the edit
    {**_edited("x", "/approve"), "changes": {"title": {"from": "old"}}},  # the text did not change
    _edited("x", "/approve", editor="dependabot[bot]"),
])
def test_edits_that_make_no_command_are_ignored(payload: dict) -> None:
    assert isinstance(decide("issue_comment", "d6", payload), str)


def test_other_events_are_ignored() -> None:
    deleted = _comment("/approve")
    deleted["action"] = "deleted"
    assert isinstance(decide("issue_comment", "d7", deleted), str)
    assert isinstance(decide("push", "d8", {}), str)
