"""Reading a unified diff (git's) into files and hunks: which lines each hunk covers, removed and added.

Used to check what the Reviewer points at (a line within a hunk) and to find edited assertions.
The hunks are delimited by their headers' line counts, so a content line that looks like a
header (`--- x`) is read as content. Binary changes have no hunks; paths git quoted (`"a\\tb"`)
are unquoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HUNK_HEADER = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass
class Hunk:
    """One hunk: the lines it covers in the old and new file, and the lines it removes and adds."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int
    removed: list[tuple[int, str]] = field(default_factory=list)  # (line in the old file, text)
    added: list[tuple[int, str]] = field(default_factory=list)  # (line in the new file, text)

    def covers(self, line: int) -> bool:
        """Whether `line` of the new file is within this hunk."""
        return self.new_start <= line < self.new_start + max(self.new_count, 1)


@dataclass
class FileDiff:
    """The change to one file: its path (the new one; the old one when deleted) and hunks."""

    path: str
    deleted: bool = False
    hunks: list[Hunk] = field(default_factory=list)

    def covers(self, line: int) -> bool:
        """Whether `line` of the new file is within a hunk (line 0: the file as a whole, for a deleted file)."""
        return (self.deleted and line == 0) or any(h.covers(line) for h in self.hunks)


def parse(diff: str) -> dict[str, FileDiff]:
    """The files of `diff` by path."""
    files: dict[str, FileDiff] = {}
    current: FileDiff | None = None
    lines = diff.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("diff --git "):
            current = None
        elif line.startswith("--- ") and current is None:
            old = _path(line[4:])
            new = _path(lines[i + 1][4:]) if i + 1 < len(lines) and lines[i + 1].startswith("+++ ") else old
            current = files.setdefault(new or old, FileDiff(new or old, deleted=not new))
            i += 1
        elif current is not None and (match := HUNK_HEADER.match(line)):
            hunk, i = _hunk(match, lines, i + 1)
            current.hunks.append(hunk)
            continue
        i += 1
    return files


def _hunk(match: re.Match[str], lines: list[str], i: int) -> tuple[Hunk, int]:
    """The hunk whose header is `match`, read from `lines[i:]`; and the index after it."""
    old_start, old_count, new_start, new_count = (int(g) if g is not None else 1 for g in match.groups())
    hunk = Hunk(old_start, old_count, new_start, new_count)
    old, new = old_start, new_start
    old_left, new_left = old_count, new_count
    while i < len(lines) and (old_left > 0 or new_left > 0):
        line = lines[i]
        mark, text = line[:1], line[1:]
        if mark == "-":
            hunk.removed.append((old, text))
            old, old_left = old + 1, old_left - 1
        elif mark == "+":
            hunk.added.append((new, text))
            new, new_left = new + 1, new_left - 1
        elif mark in (" ", ""):
            old, new, old_left, new_left = old + 1, new + 1, old_left - 1, new_left - 1
        elif mark != "\\":
            break
        i += 1
    while i < len(lines) and lines[i].startswith("\\"):
        i += 1
    return hunk, i


def _path(raw: str) -> str:
    """The path of a `---`/`+++` line's name (`a/x`, `b/x`, `/dev/null` → "", git's quoted form)."""
    name = raw.rstrip("\t")
    if name == "/dev/null":
        return ""
    if name.startswith('"') and name.endswith('"'):
        name = _unquote(name[1:-1])
    return name[2:] if name[:2] in ("a/", "b/") else name


def _unquote(text: str) -> str:
    """Git's C-style quoting undone (octal bytes of UTF-8 names included)."""
    raw = text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    return raw.encode("latin-1", "replace").decode("utf-8", "replace")
