"""The on-disk index cache: per tree, per blob, incremental across commits."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.localize import index as index_module
from bot.localize.cache import load_index
from bot.localize.context import build_context, default_cache_dir
from bot.localize.snapshot import blob_id, snapshot
from bot.localize.store import KEEP_TREES, IndexStore


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                          capture_output=True, text=True).stdout.strip()


def make_repo(root: Path, count: int = 6) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q")
    for number in range(count):
        (root / f"mod{number}.py").write_text(f"def func_{number}():\n    return {number}\n")
    (root / "README.md").write_text("readme\n")
    (root / "image.png").write_bytes(b"\x89PNG")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "one")
    return root


def test_snapshot_lists_tracked_text_files_with_their_blob_ids(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r")
    (root / "untracked.py").write_text("x = 1\n")
    tree = snapshot(root)
    assert set(tree.files) == {f"mod{n}.py" for n in range(6)} | {"README.md"}
    assert tree.files["mod0.py"] == git(root, "rev-parse", "HEAD:mod0.py")
    (root / "mod0.py").write_text("def changed():\n    pass\n")  # modified, not staged
    changed = snapshot(root)
    assert changed.files["mod0.py"] == blob_id(b"def changed():\n    pass\n") and changed.key != tree.key


def test_second_build_comes_from_the_tree_cache(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r")
    store = IndexStore(tmp_path / "cache")
    first = load_index(root, store)
    assert first.stats and not first.stats.from_tree_cache and first.stats.parsed == 7
    again = load_index(root, store)
    assert again.stats and again.stats.from_tree_cache
    assert again.paths == first.paths and again.postings == first.postings and again.symbols == first.symbols


def test_a_new_commit_reparses_only_changed_blobs(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r")
    store = IndexStore(tmp_path / "cache")
    load_index(root, store)
    (root / "mod1.py").write_text("def renamed_func():\n    return 1\n")
    (root / "new.py").write_text("def brand_new():\n    pass\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "two")
    after = load_index(root, store)
    assert after.stats and after.stats.parsed == 2 and not after.stats.from_tree_cache
    assert list(after.definers("renamed_func")) == [after.paths.index("mod1.py")]
    assert "func_1" not in after.symbols and "brand_new" in after.symbols
    git(root, "checkout", "-q", "HEAD~1")
    before = load_index(root, store)
    assert before.stats and before.stats.from_tree_cache and "func_1" in before.symbols


def test_old_trees_are_forgotten(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", count=1)
    store = IndexStore(tmp_path / "cache")
    for number in range(KEEP_TREES + 2):
        (root / "mod0.py").write_text(f"VALUE = {number}\n")
        load_index(root, store)
    assert len(list((tmp_path / "cache" / "trees").glob("*.idx"))) == KEEP_TREES


def test_many_new_files_are_parsed_in_parallel_with_the_same_result(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo(tmp_path / "r", count=8)
    serial = load_index(root, None)
    monkeypatch.setattr(index_module, "PARALLEL_FROM", 2)
    monkeypatch.setattr(index_module.os, "cpu_count", lambda: 2)
    parallel = load_index(root, None)
    assert parallel.postings == serial.postings and parallel.packed_definitions == serial.packed_definitions


def test_build_context_caches_inside_the_git_directory_by_default(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r")
    cache = default_cache_dir(root)
    assert cache == (root / ".git" / "issuesmith" / "context-index").resolve()
    first = build_context(root, "func_3 is wrong", 2000)
    second = build_context(root, "func_3 is wrong", 2000)
    assert first.index and not first.index.from_tree_cache
    assert second.index and second.index.from_tree_cache and second.ranked[0].path == "mod3.py"
    assert default_cache_dir(tmp_path) is None
    uncached = build_context(tmp_path / "r", "func_3", 2000, cache_dir=False)
    assert uncached.index and not uncached.index.from_tree_cache
