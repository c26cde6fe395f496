"""The result of one doctor check: a status, what was found, and (when it is not fine) the fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Check:
    """One line of the report: `name` and `detail`; `fix` says what to do on a warning or failure;
    `notes` are further facts shown below the line (e.g. why the other sandbox backends are not used)."""

    name: str
    status: Status
    detail: str
    fix: str = ""
    notes: tuple[str, ...] = ()


def ok(name: str, detail: str, *notes: str) -> Check:
    """A passed check."""
    return Check(name, "ok", detail, notes=notes)


def warn(name: str, detail: str, fix: str, *notes: str) -> Check:
    """A check that found something to improve, which does not stop issuesmith from working."""
    return Check(name, "warn", detail, fix, notes)


def fail(name: str, detail: str, fix: str, *notes: str) -> Check:
    """A failed check: issuesmith will not work until it is fixed."""
    return Check(name, "fail", detail, fix, notes)
