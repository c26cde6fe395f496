"""A tree's index: read from the cache (`IndexStore`), patched from a cached earlier tree, or built.

Here so that the index (`bot.localize.index`, `bot.localize.patch`) and the store that keeps it
(`bot.localize.store`) need not know each other: the store serialises indexes, the index builds
them, this joins the two. On a new commit the work grows with the files that changed: the most
recently used full build is patched with the records of the changed files (parsed only when no
record of their blob is cached). When more than `PATCH_SHARE` of the files changed, a full build
(from cached records where there are) is made instead and becomes the base of later patches.
"""

from __future__ import annotations

import time
from pathlib import Path

from bot.localize.index import BuildStats, Record, RepoIndex, assemble, parse_many, record_key
from bot.localize.patch import patch
from bot.localize.snapshot import TreeSnapshot, snapshot
from bot.localize.store import IndexStore
from bot.workspace.git import Git

PATCH_SHARE = 0.25  # patch an earlier tree while at most this share of its files changed
PATCH_MIN = 50  # ... or at most this many files, whatever the tree's size


def load_index(root: Path, store: IndexStore | None, git: Git | None = None) -> RepoIndex:
    """The index of the work tree at `root`: from the tree cache, patched from an earlier tree, or built.

    `git` lists the tree (`snapshot`); by default one reading as uid 65534.
    """
    started = time.monotonic()
    tree = snapshot(root, git)
    if store is not None:
        cached = store.load_tree(tree.key)
        if cached is not None:
            cached.stats = BuildStats(len(cached.paths), 0, True, time.monotonic() - started)
            return cached
    built = update_index(root, tree, store) if store is not None else None
    index, parsed = built or build_index(root, tree, store)
    index.stats = BuildStats(len(index.paths), parsed, False, time.monotonic() - started)
    if store is not None:
        store.save_tree(tree.key, index)
    return index


def update_index(root: Path, tree: TreeSnapshot, store: IndexStore) -> tuple[RepoIndex, int] | None:
    """`tree`'s index patched from the store's latest full build, or None when there is none or too much changed."""
    found = store.latest_base()
    if found is None:
        return None
    base_key, base = found
    files = tree.files
    kept = {path for path, blob in zip(base.paths, base.blobs, strict=True) if files.get(path) == blob}
    changed = [path for path in files if path not in kept]
    if len(changed) + len(base.paths) - len(kept) > max(PATCH_MIN, PATCH_SHARE * len(base.paths)):
        return None
    fresh, parsed = read_records(root, tree, sorted(changed), store)
    return patch(base, base_key, kept, fresh, files), parsed


def build_index(root: Path, tree: TreeSnapshot, store: IndexStore | None) -> tuple[RepoIndex, int]:
    """Build the index of `tree`, parsing only blobs that `store` has no record of."""
    records, parsed = read_records(root, tree, sorted(tree.files), store)
    paths = sorted(records)
    return assemble(paths, [records[path] for path in paths], [tree.files[path] for path in paths]), parsed


def read_records(root: Path, tree: TreeSnapshot, paths: list[str], store: IndexStore | None
                 ) -> tuple[dict[str, Record], int]:
    """The records of these files (from `store`, else parsed and saved there) and how many were parsed.

    A file that cannot be read as a regular file of the tree has no record (it is left out of the index).
    """
    keys = {path: record_key(path, tree.files[path]) for path in paths}
    known = store.load_records(set(keys.values())) if store is not None and keys else {}
    missing = [path for path in paths if keys[path] not in known]
    fresh = {keys[path]: record for path, record in zip(missing, parse_many(root, missing), strict=True)
             if record is not None}
    if store is not None and fresh:
        store.save_records(fresh)
    records = {path: known.get(keys[path]) or fresh[keys[path]] for path in paths
               if keys[path] in known or keys[path] in fresh}
    return records, len(fresh)
