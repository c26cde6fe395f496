"""Walking a tree a command wrote, however deep, without following a link: `walk`.

`os.fwalk` recurses (Python 3.11), so a chain of a thousand folders, which any test can make,
raises `RecursionError` in the middle of taking a tree back or measuring it. `walk` does the
same top-down walk through directory descriptors with a stack instead: each folder is opened
relative to its parent's descriptor with `O_NOFOLLOW`, so a link (or a folder swapped for one)
is never entered, and a parent's descriptor is closed once its last sub-folder is opened, so
at most one descriptor per level is open. Past `max_depth` levels it does not descend: it
names the folder in `deeper` and leaves it to the caller (delete it, or count the tree as
over its limits).
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

MAX_DEPTH = 256
"""Folder levels below a root that the walks go into (real repositories stay far below it)."""
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class Folder:
    """One folder of the walk: its path relative to the root ("" for the root), descriptor and entries.

    Remove names from `dirnames` to keep the walk out of them (as with `os.walk`).
    """

    rel: str
    fd: int
    dirnames: list[str]
    filenames: list[str]


@dataclass
class Walk:
    """A walk's result besides the folders it yields: the folders it did not go into for their depth."""

    deeper: list[str] = field(default_factory=list)


@dataclass
class _Open:
    fd: int
    pending: int


def walk(root: Path, report: Walk | None = None, max_depth: int = MAX_DEPTH) -> Iterator[Folder]:
    """Every folder under `root` (itself first), top-down, never through a link; see the module docstring."""
    report = report if report is not None else Walk()
    stack: list[tuple[str, _Open | None, int]] = [("", None, 0)]
    opened: list[_Open] = []
    current: int | None = None  # the folder yielded last, until its sub-folders hold its descriptor
    try:
        while stack:
            rel, parent, depth = stack.pop()
            current = _enter(root, rel, parent)
            if current is None:
                continue
            folder = Folder(rel, current, *_entries(current))
            yield folder
            if depth >= max_depth and folder.dirnames:
                report.deeper += [_join(rel, name) for name in folder.dirnames]
                folder.dirnames = []
            if folder.dirnames:
                opened.append(_Open(current, len(folder.dirnames)))
                stack += [(_join(rel, name), opened[-1], depth + 1) for name in reversed(folder.dirnames)]
            else:
                os.close(current)
            current = None
    finally:
        if current is not None:
            os.close(current)
        for entry in opened:
            if entry.pending > 0:
                os.close(entry.fd)


def _enter(root: Path, rel: str, parent: _Open | None) -> int | None:
    """Open the folder `rel` (the root when there is no parent); None when it is gone or is no folder now."""
    try:
        if parent is None:
            return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return os.open(rel.rsplit("/", 1)[-1], _OPEN_DIR, dir_fd=parent.fd)
    except OSError:
        return None
    finally:
        if parent is not None:
            parent.pending -= 1
            if parent.pending == 0:
                os.close(parent.fd)


def _entries(fd: int) -> tuple[list[str], list[str]]:
    """The folder's sub-folders and other entries (links are "other": never entered)."""
    dirs: list[str] = []
    others: list[str] = []
    with os.scandir(fd) as entries:
        for entry in entries:
            (dirs if entry.is_dir(follow_symlinks=False) else others).append(entry.name)
    return dirs, others


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def lstat_in(folder: Folder, name: str) -> os.stat_result:
    """The entry `name` of `folder`, not following a link."""
    return os.stat(name, dir_fd=folder.fd, follow_symlinks=False)


def remove_tree(path: Path) -> None:
    """Delete `path` and everything under it, however deep, never following a link (nothing when it is gone).

    `rm -r --one-file-system` walks without recursion limits and does not cross into another
    filesystem mounted inside; a link is removed, never followed.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(mode):
        os.unlink(path)
        return
    done = subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], capture_output=True, text=True,
                          check=False, env={"PATH": os.defpath, "LC_ALL": "C"})
    if done.returncode != 0 or os.path.lexists(path):
        raise OSError(f"could not delete {path}: {done.stderr.strip()[-300:] or 'it is still there'}")
