"""What a relevant webhook delivery asks of us (`Intent`), as it is queued for the worker."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PULL_KINDS = frozenset({"review", "pull_revise", "pull_closed"})


@dataclass(frozen=True)
class Intent:
    """What a relevant delivery asks of us, in primitives (it is queued as job arguments)."""

    kind: str  # "label", "command", or one of PULL_KINDS
    delivery: str
    installation_id: int
    repo: str
    issue_number: int
    sender: str
    command: str = ""
    args: str = ""
    comment_id: int = 0
    comment_created_at: str = ""  # when the command was written: created, or edited into a command
    issue_title: str = ""
    label: str = ""
    review_id: int = 0  # "review": the review that requested changes
    head_branch: str = ""  # "review", "pull_closed": the pull request's head branch
    merged: bool = False  # "pull_closed": merged, or closed without merging
    edited: bool = False  # the command comes from an edit of an existing comment

    def to_record(self) -> dict[str, Any]:
        """The intent as a plain dict (an RQ job argument)."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Intent:
        """Rebuild an intent from `to_record()`'s output."""
        return cls(**record)
