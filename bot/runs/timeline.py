"""A run's step timeline, read from its execution log: each step attempt with start, end and outcome.

A span opens at a step's `started` entry and closes at the next `finished`, `error`,
`timeout` or `cancelled` entry of the same step. A step still open at the end of the log is
`running` while the run is active, else `unfinished` (its worker died, or the log ends there).
Outer job steps (`plan`, `implement`) and the pipeline's inner steps (`prepare`, `code`,
`test`, `publish`, `report`) each get their own spans; the inner ones lie within `implement`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CLOSING = {"finished": "ok", "error": "failed", "timeout": "failed", "cancelled": "cancelled"}


@dataclass(frozen=True)
class Span:
    """One attempt of one step."""

    step: str
    start: float
    end: float | None
    outcome: str  # ok, failed, cancelled, running, unfinished
    attempt: int | None = None

    @property
    def seconds(self) -> float | None:
        """How long it took (None while open)."""
        return None if self.end is None else max(0.0, self.end - self.start)


def spans(entries: Iterable[Mapping[str, Any]], *, active: bool) -> list[Span]:
    """The spans of an execution log (oldest first, as `RunStore.entries` returns it), in start order."""
    done: list[Span] = []
    open_: dict[str, Span] = {}
    for entry in entries:
        step, event, ts = str(entry.get("step", "")), entry.get("event"), entry.get("ts")
        if not isinstance(ts, int | float):
            continue
        if event == "started":
            if step in open_:  # a started without an end: the previous attempt never finished
                done.append(_close(open_.pop(step), None, "unfinished"))
            attempt = entry.get("attempt")
            open_[step] = Span(step, float(ts), None, "running", attempt if isinstance(attempt, int) else None)
        elif event in CLOSING and step in open_:
            done.append(_close(open_.pop(step), float(ts), CLOSING[str(event)]))
    done.extend(_close(span, None, "running" if active else "unfinished") for span in open_.values())
    return sorted(done, key=lambda span: span.start)


def _close(span: Span, end: float | None, outcome: str) -> Span:
    return Span(span.step, span.start, end, outcome, span.attempt)
