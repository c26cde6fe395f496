"""The on-disk index cache of one repository, in the worker, bounded in bytes.

* `records-v<N>.<F>.sqlite`: one parsed record per (blob id, path), reused by every later commit
  that still holds the blob, with when it was last used; `N` is the parser version and `F` the
  table's, so a change of either starts afresh (and the older file is removed);
* `trees/<key>.idx`: the query-ready index of one exact tree (see `snapshot.TreeSnapshot.key`):
  a marshalled head, then the postings and the per-file definitions, which are mmapped and read
  only where a query needs them. A tree patched from an earlier one (`bot.localize.patch`) is stored
  as its head, the renumbering and only the new files' postings and symbols; it needs its base's file.

The whole directory is kept under `max_bytes`: after each write the least recently used trees go
first (a tree's base is never removed for it), then, if the records alone are over half the bound,
the least recently used records.

One store may be shared by several clones of a repository and used by concurrent jobs: sqlite
waits for the other writer (lock timeout), and tree files are written to a temporary name and
renamed, so nobody reads half a file (a reader's mmap outlives a concurrent unlink).
"""

from __future__ import annotations

import marshal
import mmap
import os
import sqlite3
import tempfile
import time
from array import array
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.localize.parsing import PARSER_VERSION

if TYPE_CHECKING:
    from bot.localize.index import Record, RepoIndex

DEFAULT_MAX_BYTES = 256 << 20  # the default of `Settings.localize_cache_bytes`
RECORDS_SHARE = 2  # the records may use 1 / RECORDS_SHARE of the bound before the least used are dropped
_BATCH = 500
_FIELDS = ("paths", "packed_definitions", "lines", "doc_len", "postings", "imports", "importers", "symbols",
           "basenames", "kinds", "blobs", "import_names", "base")
_ARRAYS = ("lines", "doc_len")
TREE_FORMAT = 4  # bump when the fields of a cached tree index change
RECORDS_FORMAT = 2  # bump when the records table changes


class IndexStore:
    """Records by blob and whole-tree indexes, under `directory`, together at most `max_bytes`."""

    def __init__(self, directory: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        (directory / "trees").mkdir(parents=True, exist_ok=True)
        self._db = directory / f"records-v{PARSER_VERSION}.{RECORDS_FORMAT}.sqlite"
        self._loaded: dict[str, RepoIndex] = {}  # trees read by this store object (a patched tree's base once)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._db, timeout=60)
        connection.execute("PRAGMA auto_vacuum = INCREMENTAL")  # takes effect when the file is created
        connection.execute("PRAGMA journal_mode = WAL")  # commits (marking records used) without an fsync each;
        connection.execute("PRAGMA synchronous = NORMAL")  # a power loss may drop the last writes, not corrupt
        connection.execute("CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, data BLOB NOT NULL, "
                           "used REAL NOT NULL)")
        connection.execute("CREATE INDEX IF NOT EXISTS records_used ON records (used)")
        return connection

    def load_records(self, keys: Iterable[str]) -> dict[str, Record]:
        """The cached records of these keys (missing keys are absent from the result); marks them used."""
        wanted = list(keys)
        found: dict[str, Record] = {}
        with self._connect() as connection:
            for start in range(0, len(wanted), _BATCH):
                batch = wanted[start:start + _BATCH]
                marks = ",".join("?" * len(batch))
                for key, data in connection.execute(f"SELECT key, data FROM records WHERE key IN ({marks})", batch):
                    found[key] = marshal.loads(data)
            if found:
                now = time.time()
                connection.executemany("UPDATE records SET used = ? WHERE key = ?", ((now, key) for key in found))
        connection.close()
        return found

    def save_records(self, records: dict[str, Record]) -> None:
        """Add records (existing keys are left as they are)."""
        now = time.time()
        with self._connect() as connection:
            connection.executemany("INSERT OR IGNORE INTO records (key, data, used) VALUES (?, ?, ?)",
                                   ((key, marshal.dumps(record), now) for key, record in records.items()))
        connection.close()

    def _tree_path(self, key: str) -> Path:
        return self.directory / "trees" / f"{key}.v{PARSER_VERSION}.{TREE_FORMAT}.idx"

    def load_tree(self, key: str) -> RepoIndex | None:
        """The cached index of the tree with this key, if any (its postings are read on demand)."""
        from bot.localize.index import Packed, RepoIndex

        if key in self._loaded:
            return self._loaded[key]
        path = self._tree_path(key)
        try:
            with path.open("rb") as handle:
                whole = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            head_size = int.from_bytes(whole[:8], "little")
            fields: dict[str, Any] = marshal.loads(whole[8:8 + head_size])
            for name in _ARRAYS:
                fields[name] = array("I", fields[name])
            fields["postings"] = StoredPostings(fields.pop("vocabulary"), whole, 8 + head_size)
            ends = array("Q", fields["packed_definitions"])
            fields["packed_definitions"] = Packed(whole, ends, 8 + head_size + fields.pop("postings_size"))
            if fields["base"] and not self._attach_base(fields):
                return None
            os.utime(path)
            index = self._loaded[key] = RepoIndex(**{name: fields[name] for name in _FIELDS})
            return index
        except (OSError, EOFError, ValueError, TypeError, KeyError):
            return None

    def _attach_base(self, fields: dict[str, Any]) -> bool:
        """Turn a patched tree's own tables into `PatchedTable`s over its base's; False if the base is gone."""
        from bot.localize.patch import PatchedTable

        base = self.load_tree(fields["base"])
        if base is None or base.base:
            return False
        renumber = array("I", fields.pop("renumber"))
        fields["postings"] = PatchedTable(base.postings, renumber, fields["postings"], 2)
        fields["symbols"] = PatchedTable(base.symbols, renumber, fields["symbols"], 1)
        return True

    def save_tree(self, key: str, index: RepoIndex) -> None:
        """Cache the index of the tree with this key, then keep the directory within `max_bytes`.

        The file holds a marshalled head (every field but the postings, plus a vocabulary:
        term → offset and length) and then the postings, so a query reads only its terms' postings.
        A patched index stores only its own files' postings and symbols and the renumbering.
        """
        from bot.localize.patch import PatchedTable

        postings, symbols = index.postings, index.symbols
        fields = {name: getattr(index, name) for name in _FIELDS if name != "postings"}
        if isinstance(postings, PatchedTable) and isinstance(symbols, PatchedTable):
            fields["renumber"] = postings.renumber.tobytes()
            postings, fields["symbols"] = postings.added, dict(symbols.added)
        else:
            fields["symbols"] = dict(symbols)
        for name in _ARRAYS:
            fields[name] = fields[name].tobytes()
        vocabulary: dict[str, tuple[int, int]] = {}
        offset = 0
        for term, pairs in postings.items():
            vocabulary[term] = (offset, len(pairs))
            offset += len(pairs)
        fields["vocabulary"] = vocabulary
        fields["postings_size"] = offset
        fields["packed_definitions"] = index.packed_definitions.ends.tobytes()
        head = marshal.dumps(fields)
        handle, temporary = tempfile.mkstemp(dir=self.directory / "trees", suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(len(head).to_bytes(8, "little"))
            out.write(head)
            out.writelines(postings.values())
            out.write(index.packed_definitions.buffer())
        os.replace(temporary, self._tree_path(key))
        self.trim(keep={self._tree_path(key), self._tree_path(index.base)} if index.base else {self._tree_path(key)})

    def latest_base(self) -> tuple[str, RepoIndex] | None:
        """The most recently used tree that is a full build (a patched tree's base), with its key."""
        suffix = f".v{PARSER_VERSION}.{TREE_FORMAT}.idx"
        for _, path in sorted(((_mtime(p), p) for p in (self.directory / "trees").glob("*" + suffix)), reverse=True):
            index = self.load_tree(path.name[:-len(suffix)])
            if index is not None:
                key = index.base or path.name[:-len(suffix)]
                base = self.load_tree(index.base) if index.base else index
                return (key, base) if base is not None else None
        return None

    def trim(self, keep: set[Path]) -> None:
        """Remove the least recently used trees (not those in `keep`), then records, until within `max_bytes`.

        Records of another parser or table version are of no use to this one: they go first.
        """
        for stale in self.directory.glob("records-*.sqlite*"):
            if not stale.name.startswith(self._db.name):
                stale.unlink(missing_ok=True)
        trees = sorted(((_mtime(p), p) for p in (self.directory / "trees").glob("*.idx")), reverse=True)
        records = _size(self._db) + _size(self._db.with_name(self._db.name + "-wal"))
        total = records + sum(_size(p) for _, p in trees)
        for _, stale in reversed(trees):
            if total <= self.max_bytes:
                break
            if stale not in keep:
                total -= _size(stale)
                stale.unlink(missing_ok=True)
        if records > self.max_bytes // RECORDS_SHARE:
            self._drop_records(records - self.max_bytes // (2 * RECORDS_SHARE))

    def _drop_records(self, excess: int) -> None:
        """Delete the least recently used records holding about `excess` bytes, and give the space back."""
        with self._connect() as connection:
            doomed: list[str] = []
            for key, size in connection.execute("SELECT key, length(data) + length(key) FROM records ORDER BY used"):
                if excess <= 0:
                    break
                doomed.append(key)
                excess -= size
            connection.executemany("DELETE FROM records WHERE key = ?", ((key,) for key in doomed))
        connection.execute("PRAGMA incremental_vacuum")
        connection.close()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile by another worker
        return 0.0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # removed meanwhile by another worker
        return 0


class StoredPostings(Mapping[str, bytes]):
    """The postings of a cached tree: term → bytes, read from the file only for the terms asked for."""

    def __init__(self, vocabulary: dict[str, tuple[int, int]], data: mmap.mmap, start: int) -> None:
        self._vocabulary = vocabulary
        self._data = data
        self._start = start

    def __getitem__(self, term: str) -> bytes:
        offset, length = self._vocabulary[term]
        begin = self._start + offset
        return self._data[begin:begin + length]

    def __len__(self) -> int:
        return len(self._vocabulary)

    def __iter__(self) -> Iterator[str]:
        return iter(self._vocabulary)
