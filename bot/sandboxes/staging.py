"""Letting bwrap reach directories its unprivileged user cannot traverse (an interpreter under /root, 0700).

bwrap runs as the sandbox's user and resolves every bind source itself, as that user, so it
cannot bind /root/.pyenv/versions/3.11.7 when /root is 0700, nor a work tree under a 0700
pytest or worker directory (`--bind-fd` does not help: bwrap resolves the descriptor back to
its path the same way). So the worker, root, in the child between fork and exec (`enter`),
moves into a private mount namespace of its own and bind-mounts each such directory onto an
empty directory of a staging directory the sandbox's user can traverse; bwrap, started from
there, binds the staged directories onto their real paths, read-only or not as asked.

The staging binds exist only in that private namespace: on the host the staging directories
stay empty (nothing is exposed to other users), and they are removed after the run.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

STAGING_BASE = Path("/tmp")
PREFIX = "issuesmith-stage-"
_CLONE_NEWNS = 0x00020000
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000


class Staging:
    """Where each source directory appears, for bwrap, inside the private mount namespace of the child."""

    def __init__(self, root: Path, sources: Sequence[Path]) -> None:
        self.root = root
        self.places = {source: root / str(index) for index, source in enumerate(sources)}
        self._libc = _libc()

    def __getitem__(self, source: Path) -> Path:
        return self.places[source]

    def file(self, name: str, data: bytes) -> Path:
        """A file of the worker's, readable by anyone, in the staging directory (removed with it), for a bind."""
        path = self.root / name
        path.write_bytes(data)
        path.chmod(0o644)
        return path

    def enter(self) -> None:
        """In the child, as root: a private mount namespace, each source bound on its staging directory."""
        libc = self._libc
        if libc.unshare(_CLONE_NEWNS) != 0:
            _fail("unshare(CLONE_NEWNS)")
        if libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
            _fail("making / private")
        for source, place in self.places.items():
            if libc.mount(os.fsencode(source), os.fsencode(place), None, _MS_BIND | _MS_REC, None) != 0:
                _fail(f"binding {source}")


@contextlib.contextmanager
def staged(sources: Sequence[Path], base: Path = STAGING_BASE) -> Iterator[Staging]:
    """Empty staging directories for `sources` (traversable by anyone, 0711) for the block; removed after it."""
    root = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
    try:
        os.chmod(root, 0o711)
        staging = Staging(root, sources)
        for place in staging.places.values():
            place.mkdir(mode=0o700)
        yield staging
    finally:
        shutil.rmtree(root, ignore_errors=True)


def sweep(base: Path = STAGING_BASE, older_than: float = 3600) -> int:
    """Remove staging directories a killed worker left behind (only old ones: a young one may be in use)."""
    removed = 0
    for leftover in base.glob(f"{PREFIX}*"):
        with contextlib.suppress(OSError):
            if time.time() - leftover.stat().st_mtime > older_than:
                shutil.rmtree(leftover)
                removed += 1
    return removed


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    libc.unshare.argtypes = [ctypes.c_int]
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
    return libc


def _fail(what: str) -> None:
    errno = ctypes.get_errno()
    raise OSError(errno, f"{what}: {os.strerror(errno)}")
