"""Holding the Reviewer's findings to the diff: each points at a changed line, or names a missing change.

A finding is kept when its file is changed and its line (in the new file) is within one of the
hunks of the diff the Reviewer saw (`git diff -W`: a hunk is the whole enclosing function), or
when it says the change is missing something (`missing`, with a message). Every other finding is
dropped (the caller logs why). The verdict then follows the findings kept: changes are requested
exactly when a `blocker` or `major` one is left — a request with nothing to act on is no request.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.runs.review import Finding, Review
from bot.workspace import hunks


@dataclass(frozen=True)
class Dropped:
    """A finding that was dropped, and why."""

    finding: Finding
    reason: str


def checked(review: Review, diff: str) -> tuple[Review, list[Dropped]]:
    """`review` with only the findings that point into `diff` (or name a missing change), and the dropped ones."""
    files = hunks.parse(diff)
    kept: list[Finding] = []
    dropped: list[Dropped] = []
    for finding in review.findings:
        reason = _problem(finding, files)
        if reason:
            dropped.append(Dropped(finding, reason))
        else:
            kept.append(finding)
    result = review.model_copy(update={"findings": kept})
    verdict = "request_changes" if result.must_change() else "approve"
    return result.model_copy(update={"verdict": verdict}), dropped


def _problem(finding: Finding, files: dict[str, hunks.FileDiff]) -> str:
    """Why `finding` is dropped, or ""."""
    if finding.missing:
        return "" if finding.message.strip() else "a missing change with no description"
    changed = files.get(finding.file.strip().removeprefix("./"))
    if changed is None:
        return f"{finding.file} is not changed by the diff (and the finding names no missing change)"
    if not changed.covers(finding.line):
        return f"line {finding.line} of {finding.file} is outside the diff's hunks"
    return ""
