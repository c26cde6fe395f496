"""The on-disk index cache of one repository, in the worker.

* `records-v<N>.sqlite`: one parsed record per (blob id, path), reused by every later commit
  that still holds the blob; `N` is the parser version, so a parser change starts afresh;
* `trees/<key>.idx`: the query-ready index of one exact tree (see `snapshot.TreeSnapshot.key`):
  a marshalled head, then the postings and the per-file definitions, which are mmapped and read
  only where a query needs them; the newest `KEEP_TREES` are kept.

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
from array import array
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.localize.parsing import PARSER_VERSION

if TYPE_CHECKING:
    from bot.localize.index import Record, RepoIndex

KEEP_TREES = 8
_BATCH = 500
_FIELDS = ("paths", "packed_definitions", "lines", "doc_len", "postings", "imports", "importers", "symbols",
           "basenames", "kinds")
_ARRAYS = ("lines", "doc_len")
TREE_FORMAT = 3  # bump when the fields of a cached tree index change


class IndexStore:
    """Records by blob and whole-tree indexes, under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        (directory / "trees").mkdir(parents=True, exist_ok=True)
        self._db = directory / f"records-v{PARSER_VERSION}.sqlite"

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._db, timeout=60)
        connection.execute("CREATE TABLE IF NOT EXISTS records (key TEXT PRIMARY KEY, data BLOB NOT NULL)")
        return connection

    def load_records(self, keys: Iterable[str]) -> dict[str, Record]:
        """The cached records of these keys (missing keys are absent from the result)."""
        wanted = list(keys)
        found: dict[str, Record] = {}
        with self._connect() as connection:
            for start in range(0, len(wanted), _BATCH):
                batch = wanted[start:start + _BATCH]
                marks = ",".join("?" * len(batch))
                for key, data in connection.execute(f"SELECT key, data FROM records WHERE key IN ({marks})", batch):
                    found[key] = marshal.loads(data)
        connection.close()
        return found

    def save_records(self, records: dict[str, Record]) -> None:
        """Add records (existing keys are left as they are)."""
        with self._connect() as connection:
            connection.executemany("INSERT OR IGNORE INTO records (key, data) VALUES (?, ?)",
                                   ((key, marshal.dumps(record)) for key, record in records.items()))
        connection.close()

    def _tree_path(self, key: str) -> Path:
        return self.directory / "trees" / f"{key}.v{PARSER_VERSION}.{TREE_FORMAT}.idx"

    def load_tree(self, key: str) -> RepoIndex | None:
        """The cached index of the tree with this key, if any (its postings are read on demand)."""
        from bot.localize.index import Packed, RepoIndex

        path = self._tree_path(key)
        try:
            with path.open("rb") as handle:
                whole = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            head_size = int.from_bytes(whole[:8], "little")
            fields: dict[str, Any] = marshal.loads(whole[8:8 + head_size])
            os.utime(path)
            for name in _ARRAYS:
                fields[name] = array("I", fields[name])
            fields["postings"] = StoredPostings(fields.pop("vocabulary"), whole, 8 + head_size)
            ends = array("Q", fields["packed_definitions"])
            fields["packed_definitions"] = Packed(whole, ends, 8 + head_size + fields.pop("postings_size"))
            return RepoIndex(**{name: fields[name] for name in _FIELDS})
        except (OSError, EOFError, ValueError, TypeError, KeyError):
            return None

    def save_tree(self, key: str, index: RepoIndex) -> None:
        """Cache the index of the tree with this key, and forget the least recently used trees.

        The file holds a marshalled head (every field but the postings, plus a vocabulary:
        term → offset and length) and then the postings, so a query reads only its terms' postings.
        """
        fields = {name: getattr(index, name) for name in _FIELDS if name != "postings"}
        for name in _ARRAYS:
            fields[name] = fields[name].tobytes()
        vocabulary: dict[str, tuple[int, int]] = {}
        offset = 0
        for term, pairs in index.postings.items():
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
            out.writelines(index.postings.values())
            out.write(index.packed_definitions.buffer())
        os.replace(temporary, self._tree_path(key))
        trees = sorted(((_mtime(p), p) for p in (self.directory / "trees").glob("*.idx")), reverse=True)
        for _, stale in trees[KEEP_TREES:]:
            stale.unlink(missing_ok=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile by another worker
        return 0.0


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
