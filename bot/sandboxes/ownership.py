"""Lending a work tree to the sandbox's user for one command, and taking it back.

The isolating backends run a command as an unprivileged user of its own (uid 65534 by
default), never as the worker's user and never as root: so the command cannot write the
worker's files, signal its processes or read its keys, even where a path is visible. That
user must still write the work tree (tests write caches, build output, reports), so the tree
is chowned to it just before the command and back to the worker just after, in a `finally`,
so that the worker's git can read, commit and clean it as before.

Both walks go through directory file descriptors and never follow symlinks (`walk`,
lchown), so a symlink the command left in the tree cannot send the worker's chown outside
it. Taking the tree back also clears setuid/setgid bits the command may have set, since the
files become the worker's again. It runs only after every process of the command is gone.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from bot.core import walk

_SETID = stat.S_ISUID | stat.S_ISGID


@contextlib.contextmanager
def lent(tree: Path, uid: int, gid: int) -> Iterator[None]:
    """Own `tree` (recursively) by `uid:gid` inside the block; by the worker's uid and gid again after it."""
    owner = os.geteuid(), os.getegid()
    try:
        chown_tree(tree, uid, gid)
        yield
    finally:
        chown_tree(tree, *owner, clear_setid=True)


def chown_tree(tree: Path, uid: int, gid: int, *, clear_setid: bool = False) -> int:
    """Give `tree` and everything in it to `uid:gid` without following symlinks; returns how many entries.

    Taking a tree back (`clear_setid`) deletes what lies deeper than `walk.MAX_DEPTH` levels
    (no repository needs it; left alone it would stay the sandbox user's); lending one leaves
    such folders the worker's, so the command cannot write there.
    """
    os.chown(tree, uid, gid, follow_symlinks=False)
    count = 1
    report = walk.Walk()
    for folder in walk.walk(tree, report):
        for name in (*folder.dirnames, *folder.filenames):
            with contextlib.suppress(FileNotFoundError):
                os.chown(name, uid, gid, dir_fd=folder.fd, follow_symlinks=False)
                count += 1
                if clear_setid:
                    _clear_setid(name, folder.fd)
    if clear_setid:
        for deep in report.deeper:
            walk.remove_tree(tree / deep)
    return count


def _clear_setid(name: str, dirfd: int) -> None:
    mode = os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode
    if stat.S_ISREG(mode) and mode & _SETID:
        os.chmod(name, stat.S_IMODE(mode) & ~_SETID, dir_fd=dirfd)
