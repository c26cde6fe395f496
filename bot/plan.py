"""The Planner's typed output, its content hash, and its verification against the work tree."""

from __future__ import annotations

import fnmatch
import hashlib
from pathlib import Path, PurePosixPath
from typing import Literal

import orjson
from pydantic import BaseModel, Field, field_validator

from bot import treefiles

DEFAULT_BLOCKED = ("**/.github/workflows/**", ".github/workflows/**")


class FileChange(BaseModel):
    """A file the plan will change, create or delete, and why."""

    path: str = Field(description="Repository-relative path, forward slashes")
    action: Literal["modify", "create", "delete"]
    reason: str = Field(description="Why this file changes, in one sentence")

    @field_validator("path")
    @classmethod
    def _one_line(cls, path: str) -> str:
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
            raise ValueError("a path has no control characters (newlines, tabs, ...)")
        return path


class Plan(BaseModel):
    """What the Coder will do, for a human to approve."""

    title: str = Field(description="Short title for the pull request, imperative mood")
    summary: str = Field(description="Two to four sentences: the problem and the approach")
    steps: list[str] = Field(min_length=1, description="Numbered implementation steps, in order")
    files: list[FileChange] = Field(min_length=1)
    acceptance_criteria: list[str] = Field(min_length=1, description="Checkable statements of done")
    test_strategy: str = Field(description="How the change will be tested, including the test command")
    risks: list[str] = Field(description="Risks, and what is out of scope")


def plan_hash(plan: Plan) -> str:
    """A short content hash of the plan (approval binds to it)."""
    canonical = orjson.dumps(plan.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:12]


def is_blocked(path: str, blocked: tuple[str, ...] = DEFAULT_BLOCKED) -> bool:
    """Whether a path matches one of the blocked patterns (`.github/workflows/**` by default)."""
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in blocked)


def _kind(root: Path, path: str) -> str:
    """What `path` is in the tree, never following a link ("link" also when a folder on the way is one)."""
    try:
        return treefiles.kind(root, path)
    except treefiles.TreeFileError:
        return "outside"


def verify_plan(plan: Plan, root: Path, blocked: tuple[str, ...] = DEFAULT_BLOCKED) -> list[str]:
    """Problems that make a plan unusable on this work tree; empty when it is fine."""
    problems: list[str] = []
    for change in plan.files:
        path = change.path.strip()
        pure = PurePosixPath(path)
        if not path or pure.is_absolute() or ".." in pure.parts or "\\" in path:
            problems.append(f"{path!r} is not a relative path inside the repository")
            continue
        if is_blocked(path, blocked):
            problems.append(f"{path} is a blocked path and may not be changed")
        kind = _kind(root, path)
        if kind == "outside":
            problems.append(f"{path!r} is not a plain relative path (hidden or unusual characters?)")
            continue
        if kind == "link":
            problems.append(f"{path} is a link, or inside a linked folder: issuesmith neither edits nor follows links")
            continue
        exists = kind == "file"
        if change.action in ("modify", "delete") and not exists:
            done = "modified" if change.action == "modify" else "deleted"
            problems.append(f"{path} does not exist, so it cannot be {done} (create it instead?)")
        if change.action == "create" and exists:
            problems.append(f"{path} already exists; use action 'modify'")
    return problems
