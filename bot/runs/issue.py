"""The issue a run is about, as the agents see it (a neutral type: GitHub fills it, the agents read it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IssueInfo:
    """What the agents need to know about an issue."""

    number: int
    title: str
    body: str
    author: str
    labels: tuple[str, ...]
    state: str
