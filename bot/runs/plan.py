"""The Planner's typed output and its content hash (approval binds to it)."""

from __future__ import annotations

import hashlib
from typing import Literal

import orjson
from pydantic import BaseModel, Field, field_validator


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
