"""The gate in front of irreversible actions: every rule, and every decision logged."""

from __future__ import annotations

from typing import Any

import pytest

from bot.config.policy import Policy
from bot.core.errors import is_retryable
from bot.flow.gate import Action, Decision, Gate, GateRefused

POLICY = Policy(default_branch="main")


def decide(action: Action, policy: Policy = POLICY) -> Decision:
    return Gate(policy, lambda event, **detail: None).check(action)


@pytest.mark.parametrize("action", [
    Action("comment", "12"),
    Action("push", "issuesmith/12-fix-typo", paths=("src/app.py", "tests/test_app.py")),
    Action("push", "issuesmith/12-fix-typo", branch="issuesmith/12-fix-typo"),
    Action("push", "refs/heads/issuesmith/12"),
    Action("open_pull", "main", branch="issuesmith/12-fix-typo"),
    Action("update_pull", "34", branch="issuesmith/12-fix-typo", paths=("README.md",)),
])
def test_allowed_actions(action: Action) -> None:
    assert decide(action) == Decision(True, "allowed")


@pytest.mark.parametrize(("action", "reason"), [
    (Action("merge", "34"), "never merges"),
    (Action("merge", "34", branch="issuesmith/12"), "never merges"),
    (Action("comment", "twelve"), "not a valid issue number"),
    (Action("comment", "0"), "not a valid issue number"),
    (Action("push", "main"), "default branch"),
    (Action("push", "refs/heads/main"), "default branch"),
    (Action("push", "feature/x"), "not an issuesmith branch"),
    (Action("push", "issuesmith/"), "not an issuesmith branch"),
    (Action("push", ""), "no branch given"),
    (Action("push", "issuesmith/a..b"), "not a valid branch name"),
    (Action("push", "issuesmith/12", force=True), "force"),
    (Action("push", "issuesmith/12", branch="main"), "differ"),
    (Action("push", "issuesmith/12", paths=("src/a.py", ".github/workflows/ci.yml")), "blocked path"),
    (Action("push", "issuesmith/12", paths=("sub/.github/workflows/ci.yml",)), "blocked path"),
    (Action("push", "issuesmith/12", paths=("./.github/workflows/ci.yml",)), "blocked path"),
    (Action("push", "issuesmith/12", paths=("docs/../.github/workflows/ci.yml",)), "blocked path"),
    (Action("push", "issuesmith/12", paths=(".GitHub/Workflows/ci.yml",)), "blocked path"),
    (Action("push", "issuesmith/12", paths=("../outside.py",)), "not a path inside"),
    (Action("push", "issuesmith/12", paths=("/etc/passwd",)), "not a path inside"),
    (Action("open_pull", "main", branch="main"), "default branch"),
    (Action("open_pull", "main", branch="feature/x"), "not an issuesmith branch"),
    (Action("open_pull", "main"), "no branch given"),
    (Action("open_pull", "main", branch="issuesmith/12", paths=(".github/workflows/x.yml",)), "blocked path"),
    (Action("update_pull", "34", branch="someone-else"), "not an issuesmith branch"),
    (Action("update_pull", "#34", branch="issuesmith/12"), "not a valid pull request number"),
    (Action("update_pull", "34", branch="issuesmith/12", force=True), "force"),
    (Action("deploy", "prod"), "unknown action"),  # type: ignore[arg-type]
])
def test_refused_actions(action: Action, reason: str) -> None:
    decision = decide(action)
    assert not decision.allowed and reason in decision.reason


def test_the_default_branch_is_refused_even_under_the_prefix() -> None:
    policy = Policy(default_branch="issuesmith/main")
    assert "default branch" in decide(Action("push", "issuesmith/main"), policy).reason


def test_allow_workflows_lets_workflow_paths_through_but_not_other_blocked_paths() -> None:
    policy = Policy(default_branch="main", allow_workflows=True,
                    blocked=(".github/workflows/**", "secrets/**"))
    assert decide(Action("push", "issuesmith/1", paths=(".github/workflows/ci.yml",)), policy).allowed
    refused = decide(Action("push", "issuesmith/1", paths=("secrets/key.pem",)), policy)
    assert not refused.allowed and "secrets/key.pem is a blocked path" in refused.reason


def test_a_custom_prefix_is_honoured() -> None:
    policy = Policy(default_branch="trunk", branch_prefix="bots/smith-")
    assert decide(Action("push", "bots/smith-12"), policy).allowed
    assert not decide(Action("push", "issuesmith/12"), policy).allowed


def test_dry_run_refuses_everything_but_comments() -> None:
    policy = Policy(default_branch="main", dry_run=True)
    assert decide(Action("comment", "12"), policy).allowed
    assert decide(Action("push", "issuesmith/12"), policy) == Decision(False, "dry run")
    assert decide(Action("open_pull", "main", branch="issuesmith/12"), policy) == Decision(False, "dry run")
    merge = decide(Action("merge", "34"), policy)
    assert not merge.allowed and merge.reason.startswith("dry run") and "never merges" in merge.reason


def test_check_is_pure_and_enforce_logs_every_decision() -> None:
    logged: list[tuple[str, dict[str, Any]]] = []
    gate = Gate(POLICY, lambda event, **detail: logged.append((event, detail)))
    gate.check(Action("merge", "1"))
    assert logged == []

    gate.enforce(Action("push", "issuesmith/12", paths=("src/a.py",), detail="commit abc123"))
    with pytest.raises(GateRefused) as info:
        gate.enforce(Action("push", "main"))
    assert info.value.reason == "main is the default branch" and not is_retryable(info.value)
    assert "may not push main" in str(info.value)

    assert [event for event, _ in logged] == ["decision", "decision"]
    allowed, refused = logged[0][1], logged[1][1]
    assert allowed == {"kind": "push", "target": "issuesmith/12", "branch": "", "paths": ["src/a.py"],
                       "path_count": 1, "force": False, "detail": "commit abc123", "allowed": True,
                       "reason": "allowed", "dry_run": False}
    assert refused["allowed"] is False and refused["reason"] == "main is the default branch"


def test_enforce_logs_before_refusing_in_dry_run() -> None:
    logged: list[dict[str, Any]] = []
    gate = Gate(Policy(default_branch="main", dry_run=True), lambda event, **detail: logged.append(detail))
    gate.enforce(Action("comment", "5"))
    with pytest.raises(GateRefused, match="dry run"):
        gate.enforce(Action("update_pull", "6", branch="issuesmith/5"))
    assert [(d["kind"], d["allowed"], d["dry_run"]) for d in logged] == [
        ("comment", True, True), ("update_pull", False, True)]
