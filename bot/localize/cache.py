"""A tree's index, read from the cache (`IndexStore`) or built reusing the cached records of unchanged files.

Here so that the index (`bot.localize.index`) and the store that keeps it (`bot.localize.store`)
need not know each other: the store serialises indexes, the index builds them, this joins the two.
"""

from __future__ import annotations

import time
from pathlib import Path

from bot.localize.index import BuildStats, RepoIndex, assemble, parse_many, record_key
from bot.localize.snapshot import TreeSnapshot, snapshot
from bot.localize.store import IndexStore
from bot.workspace.git import Git


def load_index(root: Path, store: IndexStore | None, git: Git | None = None) -> RepoIndex:
    """The index of the work tree at `root`: from the tree cache, else built reusing cached records.

    `git` lists the tree (`snapshot`); by default one reading as uid 65534.
    """
    started = time.monotonic()
    tree = snapshot(root, git)
    if store is not None:
        cached = store.load_tree(tree.key)
        if cached is not None:
            cached.stats = BuildStats(len(cached.paths), 0, True, time.monotonic() - started)
            return cached
    index, parsed = build_index(root, tree, store)
    index.stats = BuildStats(len(index.paths), parsed, False, time.monotonic() - started)
    if store is not None:
        store.save_tree(tree.key, index)
    return index


def build_index(root: Path, tree: TreeSnapshot, store: IndexStore | None) -> tuple[RepoIndex, int]:
    """Build the index of `tree`, parsing only blobs that `store` has no record of."""
    paths = sorted(tree.files)
    keys = {path: record_key(path, tree.files[path]) for path in paths}
    known = store.load_records(set(keys.values())) if store is not None else {}
    missing = [path for path in paths if keys[path] not in known]
    fresh = {keys[path]: record for path, record in zip(missing, parse_many(root, missing), strict=True)
             if record is not None}
    paths = [path for path in paths if keys[path] in known or keys[path] in fresh]  # unreadable ones left out
    records = [known.get(keys[path]) or fresh[keys[path]] for path in paths]
    if store is not None and fresh:
        store.save_records(fresh)
    return assemble(paths, records), len(fresh)
