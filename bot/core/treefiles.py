"""Read and write files of an untrusted work tree without leaving it.

Every name in a work tree is the repository's: any file may be a symlink, any folder a link to
somewhere else (committed as git mode 120000, or left behind by the repository's tests), and the
worker reading it runs with more privileges than the repository has. So a path here is never
resolved the ordinary way. It is opened one component at a time relative to the folder before it
(`openat`): each folder with `O_DIRECTORY | O_NOFOLLOW`, the last component with `O_NOFOLLOW`
after `lstat` said it is a regular file. No symlink anywhere on the path is followed, no name is
looked up twice, and the file opened is inside the tree however folders are swapped meanwhile.

Refusals are `TreeFileError`s whose message says what and why, one class per kind:

* `OutsideTree`: not a plain relative path (empty, absolute, `..`, NUL);
* `HiddenName`: a name with a character one cannot see or that reorders text (controls,
  zero-width and bidi marks, unusual spaces), so a person reading it would read another name;
* `LinkInPath`: the file, or a folder on the way, is a symlink;
* `NotRegularFile`: a folder, FIFO, device or socket (never opened, so a FIFO cannot block us);
* `TooLarge`, `Missing`, `Exists`.

Only the root itself is trusted (the worker chose it), so it may be reached through links.
"""

from __future__ import annotations

import os
import secrets
import stat
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path, PurePosixPath
from typing import Literal

MAX_BYTES = 8_000_000
"""The default bound of a read: a larger file is `TooLarge`."""

Kind = Literal["file", "folder", "link", "missing", "other"]

_ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})  # U+0020 is allowed
_CHUNK = 1 << 20


class TreeFileError(Exception):
    """A path of the work tree was refused; `str()` says which path and why."""

    def __init__(self, rel: str, reason: str) -> None:
        super().__init__(reason)
        self.rel = rel
        self.reason = reason


class OutsideTree(TreeFileError):
    """Not a plain relative path inside the tree."""


class HiddenName(TreeFileError):
    """A name with a character that is invisible or reorders the text around it."""


class LinkInPath(TreeFileError):
    """The file, or a folder on the way to it, is a symlink."""


class NotRegularFile(TreeFileError):
    """A folder, FIFO, device or socket where a regular file was wanted."""


class TooLarge(TreeFileError):
    """The file is larger than the read allows."""


class Missing(TreeFileError):
    """Nothing of that name (or a folder on the way is missing or is a file)."""


class Exists(TreeFileError):
    """Something of that name is already there (a new file was wanted)."""


# -- paths ----------------------------------------------------------------------------------------


def parts_of(rel: str) -> tuple[str, ...]:
    """The components of a repository-relative path (`./a//b` → `("a", "b")`; the root is `()`).

    Raises `OutsideTree` for an absolute path, `..` or NUL, and `HiddenName` for a name
    with an invisible or text-reordering character.
    """
    if "\0" in rel:
        raise OutsideTree(rel, f"{rel!r} is not a path inside the repository (it contains NUL)")
    pure = PurePosixPath(rel)
    if pure.is_absolute():
        raise OutsideTree(rel, f"{rel!r} is not a path inside the repository (it is absolute)")
    if ".." in pure.parts:
        raise OutsideTree(rel, f"{rel!r} is not a path inside the repository (it goes up with '..')")
    for name in pure.parts:
        if (hidden := hidden_character(name)) is not None:
            raise HiddenName(rel, f"{rel!r} is refused: its name has the hard-to-see character "
                                  f"U+{ord(hidden):04X} ({unicodedata.name(hidden, 'unnamed')})")
    return pure.parts


def hidden_character(name: str) -> str | None:
    """The first character of `name` that one cannot see or that reorders text, or None."""
    return next((ch for ch in name if ch != " " and unicodedata.category(ch) in _HIDDEN_CATEGORIES), None)


def _file_parts(rel: str) -> tuple[str, ...]:
    parts = parts_of(rel)
    if not parts:
        raise OutsideTree(rel, f"{rel!r} names the repository's root, not a file")
    return parts


# -- walking --------------------------------------------------------------------------------------


def _open_folder(root: Path, parts: tuple[str, ...], rel: str, made: list[str] | None = None) -> int:
    """A descriptor of the folder `parts` under `root`, no link followed; with `made`, missing
    folders are created and recorded there (outermost first)."""
    fd = os.open(root, _ROOT_FLAGS)
    try:
        for depth, name in enumerate(parts, start=1):
            child = _open_child(fd, name, rel, "/".join(parts[:depth]), made)
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_child(parent: int, name: str, rel: str, so_far: str, made: list[str] | None) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except FileNotFoundError:
        if made is None:
            raise Missing(rel, f"{rel} does not exist") from None
        os.mkdir(name, 0o777, dir_fd=parent)
        made.append(so_far)
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        info = _lstat(parent, name, rel)
        if stat.S_ISLNK(info.st_mode):
            raise LinkInPath(rel, f"{rel}: {so_far} is a symlink, and links in the work tree are not followed"
                             ) from exc
        if not stat.S_ISDIR(info.st_mode):
            raise Missing(rel, f"{rel} does not exist ({so_far} is {_what(info.st_mode)}, not a folder)") from exc
        raise


@contextmanager
def _folder(root: Path, parts: tuple[str, ...], rel: str, made: list[str] | None = None) -> Iterator[int]:
    fd = _open_folder(root, parts, rel, made)
    try:
        yield fd
    finally:
        os.close(fd)


def _lstat(folder: int, name: str, rel: str) -> os.stat_result:
    try:
        return os.stat(name, dir_fd=folder, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        raise Missing(rel, f"{rel} does not exist") from None


def _what(mode: int) -> str:
    for test, what in ((stat.S_ISREG, "a file"), (stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symlink"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what
    return "not a regular file"


def _require_regular(mode: int, rel: str) -> None:
    if stat.S_ISLNK(mode):
        raise LinkInPath(rel, f"{rel} is a symlink, and links in the work tree are not followed")
    if not stat.S_ISREG(mode):
        raise NotRegularFile(rel, f"{rel} is {_what(mode)}, not a regular file")


@contextmanager
def _opened(root: Path, rel: str) -> Iterator[tuple[int, os.stat_result]]:
    """The regular file `rel` opened for reading (descriptor and its `fstat`)."""
    *folders, name = _file_parts(rel)
    with _folder(root, tuple(folders), rel) as parent:
        _require_regular(_lstat(parent, name, rel).st_mode, rel)
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            raise Missing(rel, f"{rel} does not exist") from None
        except OSError:  # swapped since the lstat: say what it is now
            _require_regular(_lstat(parent, name, rel).st_mode, rel)
            raise
    try:
        info = os.fstat(fd)
        _require_regular(info.st_mode, rel)
        yield fd, info
    finally:
        os.close(fd)


# -- reading --------------------------------------------------------------------------------------


def read_bytes(root: Path, rel: str, limit: int = MAX_BYTES) -> bytes:
    """The contents of the regular file `rel` under `root`; `TooLarge` beyond `limit` bytes."""
    with _opened(root, rel) as (fd, info):
        if info.st_size > limit:
            raise TooLarge(rel, f"{rel} is larger than {limit} bytes ({info.st_size})")
        data = _read_up_to(fd, limit + 1)
    if len(data) > limit:
        raise TooLarge(rel, f"{rel} is larger than {limit} bytes")
    return data


def read_head(root: Path, rel: str, size: int) -> bytes:
    """At most the first `size` bytes of the regular file `rel` (a larger file is not an error)."""
    with _opened(root, rel) as (fd, _):
        return _read_up_to(fd, size)


def read_text(root: Path, rel: str, limit: int = MAX_BYTES) -> str:
    """`read_bytes` decoded as UTF-8 (undecodable bytes replaced)."""
    return read_bytes(root, rel, limit).decode("utf-8", errors="replace")


def _read_up_to(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = os.read(fd, min(left, _CHUNK))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def kind(root: Path, rel: str) -> Kind:
    """What `rel` is, without following links ("link" also when a folder on the way is one).

    Raises only for a path that is not a plain relative one (`OutsideTree`, `HiddenName`).
    """
    parts = parts_of(rel)
    if not parts:
        return "folder"
    *folders, name = parts
    try:
        with _folder(root, tuple(folders), rel) as parent:
            mode = _lstat(parent, name, rel).st_mode
    except LinkInPath:
        return "link"
    except Missing:
        return "missing"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "folder"
    return "link" if stat.S_ISLNK(mode) else "other"


def list_folder(root: Path, rel: str) -> list[tuple[str, Kind]]:
    """The entries of folder `rel` (the root for ""), sorted by name, each with its kind (links not followed)."""
    parts = parts_of(rel)
    with _folder(root, parts, rel) as fd, os.scandir(fd) as entries:
        return sorted((entry.name, _entry_kind(entry)) for entry in entries)


def _entry_kind(entry: os.DirEntry[str]) -> Kind:
    if entry.is_symlink():
        return "link"
    if entry.is_dir(follow_symlinks=False):
        return "folder"
    return "file" if entry.is_file(follow_symlinks=False) else "other"


# -- writing --------------------------------------------------------------------------------------


def create_file(root: Path, rel: str, data: bytes) -> None:
    """Write a new regular file `rel`, creating missing folders; `Exists` when the name is taken.

    On any failure the folders this call created are removed again.
    """
    *folders, name = _file_parts(rel)
    made: list[str] = []
    try:
        with _folder(root, tuple(folders), rel, made) as parent:
            try:
                fd = os.open(name, _CREATE_FLAGS, 0o666, dir_fd=parent)
            except FileExistsError:
                raise Exists(rel, f"{rel} already exists ({_what(_lstat(parent, name, rel).st_mode)})") from None
            try:
                _write_all(fd, data)
            except BaseException:
                os.close(fd)
                os.unlink(name, dir_fd=parent)
                raise
            os.close(fd)
    except BaseException:
        _remove_folders(root, made)
        raise


def overwrite_file(root: Path, rel: str, data: bytes) -> None:
    """Replace the contents of the existing regular file `rel` atomically, keeping its permissions."""
    *folders, name = _file_parts(rel)
    with _folder(root, tuple(folders), rel) as parent:
        info = _lstat(parent, name, rel)
        _require_regular(info.st_mode, rel)
        temporary = f".{name}.{secrets.token_hex(6)}.issuesmith"
        fd = os.open(temporary, _CREATE_FLAGS, 0o600, dir_fd=parent)
        try:
            try:
                _write_all(fd, data)
                os.fchmod(fd, stat.S_IMODE(info.st_mode) & 0o777)
            finally:
                os.close(fd)
            os.replace(temporary, name, src_dir_fd=parent, dst_dir_fd=parent)
        except BaseException:
            with suppress(OSError):
                os.unlink(temporary, dir_fd=parent)
            raise


def remove_file(root: Path, rel: str) -> None:
    """Delete the regular file `rel` (never a link, a folder or anything else)."""
    *folders, name = _file_parts(rel)
    with _folder(root, tuple(folders), rel) as parent:
        _require_regular(_lstat(parent, name, rel).st_mode, rel)
        os.unlink(name, dir_fd=parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _remove_folders(root: Path, made: list[str]) -> None:
    """Remove the (empty) folders a failed `create_file` made, innermost first."""
    for rel in reversed(made):
        *folders, name = parts_of(rel)
        with suppress(OSError, TreeFileError), _folder(root, tuple(folders), rel) as parent:
            os.rmdir(name, dir_fd=parent)
