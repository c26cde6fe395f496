"""A disk quota on what a command may write (a run's work tree and HOME), enforced by measuring the trees.

The trees are bind mounts of the worker's disk, so no filesystem caps them; `RLIMIT_FSIZE`
only caps single files. So while a command runs, `DiskWatch` measures the trees now and then
and says when their total passes the quota; the supervisor then stops the run (as on a
timeout), and measures once more when the command has ended, so a burst between two
measurements is caught too.

A measurement walks each tree through directory descriptors without following symlinks
(`os.fwalk`, `lstat`): a link the command planted cannot send it outside the tree or make it
count what is not there. Each inode is counted once (hard links), by the blocks it takes on
disk (`st_blocks`), so a sparse file costs what it really uses. `skip` leaves out paths the
command cannot write (the tree's read-only `.git`). The walks' cost is bounded: a walk that
took t seconds is followed by the next one no sooner than t / `share` seconds later (at most
10% of a core by default), and never sooner than `min_interval` seconds.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.core import walk

MIN_INTERVAL = 1.0
SHARE = 0.1
_BLOCK = 512


@dataclass(frozen=True)
class Usage:
    """What a measurement found: bytes on disk, entries seen, seconds it took, folders too deep to walk."""

    bytes: int
    entries: int
    seconds: float
    too_deep: tuple[str, ...] = ()


def measure(trees: Sequence[Path], skip: Sequence[Path] = (), pids: Sequence[int] = ()) -> Usage:
    """The disk space the `trees` take together, each inode once, without following any link.

    Files that `pids` (the command's processes) deleted but hold open still take their space:
    they are counted too, through /proc/PID/fd.
    """
    started = time.monotonic()
    seen: set[tuple[int, int]] = set()
    total = entries = 0
    deep: list[str] = []
    for tree in trees:
        size, count, deeper = _tree_usage(tree, {os.path.abspath(path) for path in skip}, seen)
        total, entries, deep = total + size, entries + count, deep + deeper
    total += _held_open(pids, seen)
    return Usage(total, entries, time.monotonic() - started, tuple(deep))


def _tree_usage(tree: Path, skipped: set[str], seen: set[tuple[int, int]]) -> tuple[int, int, list[str]]:
    try:
        top = os.lstat(tree)
    except OSError:
        return 0, 0, []
    seen.add((top.st_dev, top.st_ino))
    total, entries, report = top.st_blocks * _BLOCK, 0, walk.Walk()
    for folder in walk.walk(tree, report):
        folder.dirnames[:] = [d for d in folder.dirnames if os.path.join(tree, folder.rel, d) not in skipped]
        for name in (*folder.dirnames, *folder.filenames):
            with contextlib.suppress(OSError):  # gone since the directory was read
                info = os.stat(name, dir_fd=folder.fd, follow_symlinks=False)
                entries += 1
                if (info.st_dev, info.st_ino) not in seen:
                    seen.add((info.st_dev, info.st_ino))
                    total += info.st_blocks * _BLOCK
    return total, entries, report.deeper


def _held_open(pids: Sequence[int], seen: set[tuple[int, int]]) -> int:
    """Blocks of regular files the processes hold open that are no longer in any folder."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if not os.readlink(f"/proc/{pid}/fd/{fd}").endswith(" (deleted)"):
                        continue
                    info = os.stat(f"/proc/{pid}/fd/{fd}")
                    if stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) not in seen:
                        seen.add((info.st_dev, info.st_ino))
                        total += info.st_blocks * _BLOCK
    return total


def human(size: int) -> str:
    """A byte count for people: 1.5 GiB, 50.0 MiB, 812 bytes."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


class DiskWatch:
    """Measures `trees` from time to time while a command runs; `over()` says when they pass `limit` bytes."""

    def __init__(self, trees: Sequence[Path], limit: int, *, skip: Sequence[Path] = (),
                 min_interval: float = MIN_INTERVAL, share: float = SHARE) -> None:
        self.trees, self.limit, self.skip = tuple(trees), limit, tuple(skip)
        self.min_interval, self.share = min_interval, share
        self.used = 0
        self.too_deep: tuple[str, ...] = ()
        self.next_walk = 0.0

    def due(self, now: float) -> bool:
        """Whether it is time for the next measurement."""
        return now >= self.next_walk

    def over(self, pids: Sequence[int] = ()) -> bool:
        """Measure now (with what `pids` hold open); True when the trees take more than the quota, or nest
        folders deeper than can be walked."""
        usage = measure(self.trees, self.skip, pids)
        self.used, self.too_deep = usage.bytes, usage.too_deep
        self.next_walk = time.monotonic() + max(self.min_interval, usage.seconds / self.share)
        return self.exceeded

    @property
    def exceeded(self) -> bool:
        """Whether the last measurement was over the quota (or found folders too deep to measure)."""
        return self.used > self.limit or bool(self.too_deep)

    def message(self) -> str:
        """What happened, for the command's result and the issue."""
        if self.too_deep:
            return (f"disk quota exceeded: the work tree or HOME nests folders more than {walk.MAX_DEPTH} levels "
                    f"deep ({self.too_deep[0][:80]}...), more than issuesmith measures or keeps")
        return (f"disk quota exceeded: the work tree and HOME took {human(self.used)}, over the quota of "
                f"{human(self.limit)} (ISSUESMITH_DISK_BYTES)")
