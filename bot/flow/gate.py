"""One gate in front of every irreversible action: comment, push, open or update a pull request,
delete a branch.

Code decides, not the model. The rules:

* `merge` is always refused: a person merges.
* `force` is never allowed.
* Pushes and pull requests only from branches under the policy's prefix (`issuesmith/`
  by default), never from the default branch; `refs/heads/` is ignored.
* A branch is deleted only if it is under the prefix and not the default branch (the same
  rule as pushes): issuesmith removes nothing but its own branches.
* A change touching a blocked path (`.github/workflows/**` by default) is refused, unless
  `allow_workflows` is set and the blocked path is a workflow. Paths are normalised first;
  a path leaving the repository is refused. Callers pass every path a change touches
  (both sides of a rename).
* In a dry run everything but comments is refused, with a reason starting "dry run".

Every decision made by `enforce` is logged, allowed or not, before the action happens.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from bot.config.policy import Policy, is_blocked
from bot.core.errors import IssuesmithError

ActionKind = Literal["comment", "push", "open_pull", "update_pull", "merge", "delete_branch"]
KINDS = frozenset(get_args(ActionKind))
WORKFLOW_PATTERNS = (".github/workflows/**", "**/.github/workflows/**")
_BAD_REF = re.compile(r"\.\.|@\{|//|[\x00-\x20~^:?*\[\\\x7f]|\.lock$|/$|^/|\.$|/\.")
_MAX_LOGGED_PATHS = 50


@dataclass(frozen=True)
class Action:
    """An irreversible action; `target` is the issue number, branch name or PR number, as text."""

    kind: ActionKind
    target: str
    branch: str = ""
    paths: tuple[str, ...] = ()
    force: bool = False
    detail: str = ""


@dataclass(frozen=True)
class Decision:
    """Whether an action may happen, and why."""

    allowed: bool
    reason: str


class GateRefused(IssuesmithError):
    """The gate refused an action (final: asking again gives the same answer)."""

    def __init__(self, action: Action, reason: str) -> None:
        super().__init__(f"issuesmith may not {action.kind} {action.target}: {reason}",
                         hint="this is a safety rule of issuesmith; a person can do it by hand")
        self.action = action
        self.reason = reason


class Gate:
    """Decides (`check`) and enforces (`enforce`, logged) the rules for irreversible actions."""

    def __init__(self, policy: Policy, journal_log: Callable[..., None]) -> None:
        self.policy = policy
        self._log = journal_log

    def check(self, action: Action) -> Decision:
        """The decision for `action`, without side effects."""
        problem = self._problem(action)
        if self.policy.dry_run and action.kind != "comment":
            return Decision(False, "dry run" if problem is None else f"dry run; {problem}")
        return Decision(False, problem) if problem else Decision(True, "allowed")

    def enforce(self, action: Action) -> None:
        """Decide, log the decision, and raise `GateRefused` if the action is refused."""
        decision = self.check(action)
        self._log("decision", kind=action.kind, target=action.target, branch=action.branch,
                  paths=list(action.paths[:_MAX_LOGGED_PATHS]), path_count=len(action.paths), force=action.force,
                  detail=action.detail, allowed=decision.allowed, reason=decision.reason,
                  dry_run=self.policy.dry_run)
        if not decision.allowed:
            raise GateRefused(action, decision.reason)

    # rules
    def _problem(self, action: Action) -> str | None:
        """Why `action` breaks a rule, or None."""
        kind: Any = action.kind
        if kind not in KINDS:
            return f"unknown action {kind!r}"
        if kind == "merge":
            return "issuesmith never merges; a person does"
        if action.force:
            return "force is never allowed"
        if kind == "comment":
            return _number_problem(action.target, "issue")
        if kind == "delete_branch":
            if action.branch and action.branch != action.target:
                return f"delete target {action.target!r} and branch {action.branch!r} differ"
            return self._branch_problem(action.target)
        if kind == "push":
            if action.branch and action.branch != action.target:
                return f"push target {action.target!r} and branch {action.branch!r} differ"
            return self._branch_problem(action.target) or self._paths_problem(action.paths)
        number = _number_problem(action.target, "pull request") if kind == "update_pull" else None
        return number or self._branch_problem(action.branch) or self._paths_problem(action.paths)

    def _branch_problem(self, branch: str) -> str | None:
        name = branch.removeprefix("refs/heads/")
        prefix = self.policy.branch_prefix
        if not name:
            return "no branch given"
        if name == self.policy.default_branch:
            return f"{name} is the default branch"
        if not name.startswith(prefix) or name == prefix:
            return f"{name} is not an issuesmith branch (it must start with {prefix!r})"
        if _BAD_REF.search(name):
            return f"{name!r} is not a valid branch name"
        return None

    def _paths_problem(self, paths: tuple[str, ...]) -> str | None:
        for raw in paths:
            path = _normalise(raw)
            if path is None:
                return f"{raw!r} is not a path inside the repository"
            if self._blocked(path):
                return f"{path} is a blocked path"
        return None

    def _blocked(self, path: str) -> bool:
        variants = {path, path.lower()}
        blocked = any(is_blocked(p, self.policy.blocked) for p in variants)
        workflow = any(is_blocked(p, WORKFLOW_PATTERNS) for p in variants)
        return blocked and not (self.policy.allow_workflows and workflow)


def _number_problem(target: str, what: str) -> str | None:
    if target.isdecimal() and int(target) > 0:
        return None
    return f"{target!r} is not a valid {what} number"


def _normalise(raw: str) -> str | None:
    """The repository-relative form of `raw`, or None when it is empty, absolute or leaves the repository."""
    if not raw or "\\" in raw or "\x00" in raw or raw.startswith("/"):
        return None
    path = posixpath.normpath(raw)
    if path in (".", "..") or path.startswith("../"):
        return None
    return path
