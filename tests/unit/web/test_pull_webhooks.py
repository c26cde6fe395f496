"""Decisions on pull request deliveries, on GitHub's real example payloads (vendored), and the
gate's rule for deleting branches."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bot.config.policy import Policy
from bot.flow.gate import Action, Gate
from bot.runs.intents import Intent
from bot.web.webhooks import decide
from tests.contracts.openapi import webhook_examples

BRANCH = "issuesmith/7-count-words"


def example(event: str, action: str) -> dict[str, Any]:
    """A vendored example as an app receives it (GitHub adds the installation to an app's deliveries)."""
    payload = copy.deepcopy(next(p for p in webhook_examples(event) if p.get("action") == action))
    payload.setdefault("installation", {"id": 42, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDI="})
    return payload


def on_our_branch(payload: dict[str, Any]) -> dict[str, Any]:
    payload["pull_request"]["head"]["ref"] = BRANCH
    return payload


def changes_requested() -> dict[str, Any]:
    payload = on_our_branch(example("pull_request_review", "submitted"))
    payload["review"]["state"] = "changes_requested"  # webhooks carry the state in lower case
    return payload


def test_a_review_requesting_changes_on_our_branch_becomes_a_review_intent() -> None:
    payload = changes_requested()
    intent = decide("pull_request_review", "d1", payload)
    assert isinstance(intent, Intent)
    assert (intent.kind, intent.issue_number, intent.review_id, intent.sender, intent.head_branch) == (
        "review", payload["pull_request"]["number"], payload["review"]["id"], payload["review"]["user"]["login"],
        BRANCH)
    assert intent.repo == payload["repository"]["full_name"]
    assert intent.installation_id == payload["installation"]["id"]


def test_the_vendored_review_examples_ask_for_nothing() -> None:
    for payload in webhook_examples("pull_request_review"):
        assert isinstance(decide("pull_request_review", "d", on_our_branch(copy.deepcopy(payload))), str)


@pytest.mark.parametrize("change", ["other branch", "bot", "approved", "dismissed"])
def test_reviews_we_do_not_act_on(change: str) -> None:
    payload = changes_requested()
    if change == "other branch":
        payload["pull_request"]["head"]["ref"] = "feature/issuesmith"
    elif change == "bot":
        payload["review"]["user"] = payload["sender"] = {"login": "issuesmith[bot]", "type": "Bot"}
    elif change == "approved":
        payload["review"]["state"] = "approved"
    else:
        payload["action"] = "dismissed"
    assert isinstance(decide("pull_request_review", "d", payload), str)


@pytest.mark.parametrize("merged", [True, False])
def test_our_pull_request_closed_becomes_a_pull_closed_intent(merged: bool) -> None:
    payload = on_our_branch(example("pull_request", "closed"))
    payload["pull_request"]["merged"] = merged
    intent = decide("pull_request", "d2", payload)
    assert isinstance(intent, Intent)
    assert (intent.kind, intent.merged, intent.issue_number, intent.head_branch) == (
        "pull_closed", merged, payload["pull_request"]["number"], BRANCH)


def test_other_pull_request_events_are_ignored() -> None:
    for payload in webhook_examples("pull_request"):
        assert isinstance(decide("pull_request", "d", copy.deepcopy(payload)), str)  # not our branch
    opened = on_our_branch(example("pull_request", "opened"))
    assert isinstance(decide("pull_request", "d", opened), str)
    for payload in webhook_examples("pull_request_review_comment"):
        assert isinstance(decide("pull_request_review_comment", "d", on_our_branch(copy.deepcopy(payload))), str)


def pull_comment(body: str) -> dict[str, Any]:
    payload = example("issue_comment", "created")
    payload["issue"]["pull_request"] = {"url": "https://api.github.com/repos/o/r/pulls/5"}
    payload["comment"]["body"] = body
    return payload


def test_revise_on_a_pull_request_becomes_a_pull_revise_intent() -> None:
    payload = pull_comment("/revise handle tabs too")
    intent = decide("issue_comment", "d3", payload)
    assert isinstance(intent, Intent)
    assert (intent.kind, intent.args, intent.issue_number, intent.comment_id) == (
        "pull_revise", "handle tabs too", payload["issue"]["number"], payload["comment"]["id"])


@pytest.mark.parametrize("body", ["/approve", "/cancel", "/retry", "looks good"])
def test_other_comments_on_a_pull_request_do_nothing(body: str) -> None:
    assert isinstance(decide("issue_comment", "d", pull_comment(body)), str)


def test_commands_on_issues_are_unchanged() -> None:
    payload = example("issue_comment", "created")
    payload["issue"].pop("pull_request", None)
    payload["comment"]["body"] = "/approve"
    intent = decide("issue_comment", "d4", payload)
    assert isinstance(intent, Intent) and (intent.kind, intent.command) == ("command", "approve")


@pytest.mark.parametrize(("branch", "allowed"), [
    (BRANCH, True), ("main", False), ("feature/x", False), ("issuesmith/", False), ("refs/heads/main", False)])
def test_the_gate_deletes_only_our_branches(branch: str, allowed: bool) -> None:
    gate = Gate(Policy(default_branch="main"), lambda event, **detail: None)
    assert gate.check(Action("delete_branch", branch, branch=branch)).allowed is allowed


def test_the_gate_never_deletes_the_default_branch_even_under_the_prefix() -> None:
    gate = Gate(Policy(default_branch="issuesmith/main"), lambda event, **detail: None)
    decision = gate.check(Action("delete_branch", "issuesmith/main"))
    assert not decision.allowed and "default branch" in decision.reason
