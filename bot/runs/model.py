"""A run: one attempt to turn an issue into a pull request, and its state machine.

```
PLANNING ─▶ AWAITING_APPROVAL ─/approve─▶ APPROVED ─▶ IMPLEMENTING ─▶ TESTING ─▶ PR_OPEN
   ▲             │  /revise                                   ▲            │
   └─────────────┘                                            └────────────┘
any active state ─/cancel─▶ CANCELLED        any step ─fails─▶ FAILED ─/retry─▶ the failed step

PR_OPEN ─review asks for changes─▶ IMPLEMENTING ─▶ TESTING ─▶ PR_OPEN   (a revision round)
PR_OPEN, IMPLEMENTING, TESTING, FAILED ─the pull request is merged─▶ MERGED, ─closed─▶ CLOSED
```
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any


class State(StrEnum):
    """Where a run is."""

    PLANNING = "PLANNING"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    APPROVED = "APPROVED"
    IMPLEMENTING = "IMPLEMENTING"
    TESTING = "TESTING"
    PR_OPEN = "PR_OPEN"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    MERGED = "MERGED"
    CLOSED = "CLOSED"


S = State
TRANSITIONS: dict[State, frozenset[State]] = {
    S.PLANNING: frozenset({S.AWAITING_APPROVAL, S.FAILED, S.CANCELLED}),
    S.AWAITING_APPROVAL: frozenset({S.PLANNING, S.APPROVED, S.CANCELLED, S.FAILED}),
    S.APPROVED: frozenset({S.IMPLEMENTING, S.CANCELLED, S.FAILED}),
    S.IMPLEMENTING: frozenset({S.TESTING, S.FAILED, S.CANCELLED, S.MERGED, S.CLOSED}),
    S.TESTING: frozenset({S.IMPLEMENTING, S.PR_OPEN, S.FAILED, S.CANCELLED, S.MERGED, S.CLOSED}),
    S.PR_OPEN: frozenset({S.IMPLEMENTING, S.MERGED, S.CLOSED}),
    S.FAILED: frozenset({S.PLANNING, S.APPROVED, S.IMPLEMENTING, S.TESTING, S.CANCELLED, S.MERGED, S.CLOSED}),
    S.CANCELLED: frozenset(),
    S.MERGED: frozenset(),
    S.CLOSED: frozenset(),
}
"""Allowed moves: state → the states it may go to next."""

ACTIVE = frozenset({S.PLANNING, S.AWAITING_APPROVAL, S.APPROVED, S.IMPLEMENTING, S.TESTING})
"""While a run is in one of these, the issue gets no second run."""

STEP_OF_STATE = {S.PLANNING: "plan", S.APPROVED: "implement", S.IMPLEMENTING: "implement", S.TESTING: "implement"}
"""Which job works on a run in each state (what `/retry` runs again)."""

ENDED = frozenset({S.CANCELLED, S.MERGED, S.CLOSED})
"""States a run never leaves: work still running for it stops."""

PULL_ENDABLE = frozenset({S.PR_OPEN, S.IMPLEMENTING, S.TESTING, S.FAILED})
"""States from which the bot's pull request being merged or closed ends the run."""


def sources_of(target: State) -> list[State]:
    """The states from which `target` may be entered."""
    return [state for state, targets in TRANSITIONS.items() if target in targets]


def allowed(current: State, target: State) -> bool:
    """Whether the state machine lets a run move from `current` to `target`."""
    return target in TRANSITIONS[current]


@dataclass
class Run:
    """The persistent record of a run (stored as a Redis hash of strings)."""

    id: str
    repo: str
    issue: int
    installation_id: int
    state: State = S.PLANNING
    created_by: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    issue_title: str = ""
    plan_version: int = 0
    approved_version: int = 0
    approved_hash: str = ""
    approved_by: str = ""
    approved_at: float = 0.0
    approved_via: str = ""  # "comment" (/approve) or "label" (the repository's auto-approve label)
    failed_step: str = ""
    error: str = ""
    attempt: int = 0
    revise_notes: list[str] = field(default_factory=list)
    config: str = ""  # the repository's .github/issuesmith.yml as the run started (JSON, bot.config.repo)
    pr_number: int = 0  # the pull request the run opened (0 before it is open)
    branch: str = ""  # the run's `issuesmith/...` branch, once pushed
    pr_round: int = 0  # revision rounds started on the pull request (bot.flow.revise)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def elapsed(self, now: float) -> float:
        """Seconds the run has taken: until `now` while active, else until its last update."""
        end = now if self.active else (self.updated_at or now)
        return max(0.0, end - (self.created_at or end))

    def to_hash(self) -> dict[str, str]:
        """Flatten to strings for HSET."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = "\x1f".join(value) if isinstance(value, list) else str(value)
        return out

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> Run:
        """Rebuild from HGETALL (tolerates fields added since the run was stored)."""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in raw:
                continue
            value = raw[f.name]
            if f.name == "state":
                kwargs[f.name] = State(value)
            elif f.name == "revise_notes":
                kwargs[f.name] = [v for v in value.split("\x1f") if v]
            elif f.type in ("int", int):
                kwargs[f.name] = int(value)
            elif f.type in ("float", float):
                kwargs[f.name] = float(value)
            else:
                kwargs[f.name] = value
        return cls(**kwargs)
