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
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

MIN_INTERVAL = 1.0
SHARE = 0.1
_BLOCK = 512


@dataclass(frozen=True)
class Usage:
    """What a measurement found: bytes on disk, entries seen, seconds it took."""

    bytes: int
    entries: int
    seconds: float


def measure(trees: Sequence[Path], skip: Sequence[Path] = ()) -> Usage:
    """The disk space the `trees` take together, each inode once, without following any link."""
    started = time.monotonic()
    skipped = {os.path.abspath(path) for path in skip}
    seen: set[tuple[int, int]] = set()
    total = entries = 0
    for tree in trees:
        try:
            top = os.lstat(tree)
        except OSError:
            continue
        seen.add((top.st_dev, top.st_ino))
        total += top.st_blocks * _BLOCK
        for dirpath, dirnames, filenames, dirfd in os.fwalk(tree, follow_symlinks=False):
            dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skipped]
            for name in (*dirnames, *filenames):
                with contextlib.suppress(OSError):  # gone since the directory was read
                    info = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
                    entries += 1
                    if (info.st_dev, info.st_ino) not in seen:
                        seen.add((info.st_dev, info.st_ino))
                        total += info.st_blocks * _BLOCK
    return Usage(total, entries, time.monotonic() - started)


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
        self.next_walk = 0.0

    def due(self, now: float) -> bool:
        """Whether it is time for the next measurement."""
        return now >= self.next_walk

    def over(self) -> bool:
        """Measure now; True when the trees take more than the quota."""
        usage = measure(self.trees, self.skip)
        self.used = usage.bytes
        self.next_walk = time.monotonic() + max(self.min_interval, usage.seconds / self.share)
        return self.exceeded

    @property
    def exceeded(self) -> bool:
        """Whether the last measurement was over the quota."""
        return self.used > self.limit

    def message(self) -> str:
        """What happened, for the command's result and the issue."""
        return (f"disk quota exceeded: the work tree and HOME took {human(self.used)}, over the quota of "
                f"{human(self.limit)} (ISSUESMITH_DISK_BYTES)")
