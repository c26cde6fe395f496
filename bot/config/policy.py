"""What issuesmith may touch in a repository: the paths never changed and the policy every action is checked against."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

DEFAULT_BLOCKED = ("**/.github/workflows/**", ".github/workflows/**")


def is_blocked(path: str, blocked: tuple[str, ...] = DEFAULT_BLOCKED) -> bool:
    """Whether a path matches one of the blocked patterns (`.github/workflows/**` by default)."""
    return any(fnmatch.fnmatchcase(path, pattern) for pattern in blocked)


@dataclass(frozen=True)
class Policy:
    """What issuesmith may do in one repository."""

    default_branch: str
    branch_prefix: str = "issuesmith/"
    blocked: tuple[str, ...] = DEFAULT_BLOCKED
    dry_run: bool = False
    allow_workflows: bool = False
