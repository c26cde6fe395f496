"""The on-disk index cache of one repository, in the worker.

* `records-v<N>.sqlite`: one parsed record per (blob id, path), reused by every later commit
  that still holds the blob; `N` is the parser version, so a parser change starts afresh;
* `trees/<key>.idx`: the query-ready index of one exact tree (see `snapshot.TreeSnapshot.key`);
  the newest `KEEP_TREES` are kept.

Files are written to a temporary name and renamed, so concurrent workers never read half a file.
"""

from __future__ import annotations

import marshal
import os
import sqlite3
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.localize.parsing import PARSER_VERSION

if TYPE_CHECKING:
    from bot.localize.index import Record, RepoIndex

KEEP_TREES = 8
_BATCH = 500
_FIELDS = ("paths", "definitions", "lines", "doc_len", "postings", "imports", "symbols", "suffixes")
TREE_FORMAT = 2  # bump when the fields of a cached tree index change


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
        """The cached index of the tree with this key, if any."""
        from bot.localize.index import RepoIndex

        path = self._tree_path(key)
        try:
            fields: dict[str, Any] = marshal.loads(path.read_bytes())
        except (OSError, EOFError, ValueError, TypeError):
            return None
        os.utime(path)
        try:
            return RepoIndex(**{name: fields[name] for name in _FIELDS})
        except KeyError:
            return None

    def save_tree(self, key: str, index: RepoIndex) -> None:
        """Cache the index of the tree with this key, and forget the least recently used trees."""
        data = marshal.dumps({name: getattr(index, name) for name in _FIELDS})
        handle, temporary = tempfile.mkstemp(dir=self.directory / "trees", suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, self._tree_path(key))
        trees = sorted((self.directory / "trees").glob("*.idx"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in trees[KEEP_TREES:]:
            stale.unlink(missing_ok=True)
