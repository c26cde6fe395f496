"""Unified diffs as the files they change, and a file's change as exact `replace_text` edits.

`file_diffs` splits a `git diff` into one `FileDiff` per file. `replacements` turns a file's old and
new content into the edits a Coder would make with `replace_text`: one per changed region, each
`old_text` occurring exactly once in the file at the moment it is applied (widened line by line
until it does), applied bottom-up so the earlier regions' text is still as in the old content.
"""

from __future__ import annotations

import ast
import difflib
import itertools
import re
from dataclasses import dataclass

_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.M)
CONTEXT_LINES = 1


@dataclass(frozen=True)
class FileDiff:
    """One file's part of a unified diff."""

    path: str
    status: str  # modify, create or delete
    text: str


@dataclass(frozen=True)
class Replacement:
    """One `replace_text` call: `old_text` occurs exactly once in the file when it is applied."""

    old_text: str
    new_text: str


def file_diffs(patch: str) -> list[FileDiff]:
    """The files a `git diff` changes, in its order."""
    starts = [m.start() for m in _HEADER.finditer(patch)] + [len(patch)]
    found = []
    for begin, end in itertools.pairwise(starts):
        text = patch[begin:end]
        header = _HEADER.match(text)
        assert header is not None
        if "\n--- /dev/null" in text or "\nnew file mode" in text:
            status, path = "create", header.group(2)
        elif "\n+++ /dev/null" in text or "\ndeleted file mode" in text:
            status, path = "delete", header.group(1)
        else:
            status, path = "modify", header.group(2)
        found.append(FileDiff(path, status, text))
    return found


def replacements(old: str, new: str, context: int = CONTEXT_LINES) -> list[Replacement]:
    """The `replace_text` edits that turn `old` into `new`, in the order to apply them (bottom-up)."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    groups = list(difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(context))
    current = list(a)
    edits = []
    for group in reversed(groups):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        start, end = _unique_span(current, i1, i2)
        old_text = "".join(current[start:end])
        middle = b[j1:j2]
        new_lines = current[start:i1] + middle + current[i2:end]
        edits.append(Replacement(old_text, "".join(new_lines)))
        current[start:end] = new_lines
    return edits


def _unique_span(lines: list[str], start: int, end: int) -> tuple[int, int]:
    """`lines[start:end]` widened a line at a time (before, then after) until its text occurs once in `lines`."""
    whole = "".join(lines)
    while True:
        text = "".join(lines[start:end])
        if text and whole.count(text) == 1:
            return start, end
        if start == 0 and end == len(lines):
            return start, end
        start, end = max(0, start - 1), min(len(lines), end + 1)


def apply(content: str, edits: list[Replacement]) -> str:
    """`content` with `edits` applied in order, each required to match exactly once (as `replace_text` does)."""
    for edit in edits:
        if content.count(edit.old_text) != 1:
            raise ValueError(f"old_text occurs {content.count(edit.old_text)} times")
        content = content.replace(edit.old_text, edit.new_text, 1)
    return content


def wrong_variant(old: str, new: str, path: str = "") -> str | None:
    """A plausible wrong fix: `new` with one of its changes undone, or None when none can be.

    Tried in order: one changed line of a region that replaces as many lines as it had (its old line
    back), then, when the change has several regions, the last region undone whole. A variant of a
    Python file that does not parse is skipped (the edit tools would refuse it).
    """
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    ops = [op for op in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes() if op[0] != "equal"]
    candidates = []
    for tag, i1, i2, j1, j2 in reversed(ops):
        if tag == "replace" and i2 - i1 == j2 - j1:
            line = next(k for k in range(i2 - i1) if a[i1 + k] != b[j1 + k])
            candidates.append(b[:j1 + line] + a[i1 + line:i1 + line + 1] + b[j1 + line + 1:])
    if len(ops) > 1:
        tag, i1, i2, j1, j2 = ops[-1]
        candidates.append(b[:j1] + a[i1:i2] + b[j2:])
    for lines in candidates:
        text = "".join(lines)
        if text not in (new, old) and _parses(path, text):
            return text
    return None


def _parses(path: str, text: str) -> bool:
    if not path.endswith(".py"):
        return True
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True
