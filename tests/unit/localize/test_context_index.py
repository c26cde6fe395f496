"""The on-disk index cache: per tree, per blob, incremental across commits."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from bot.localize import index as index_module
from bot.localize.cache import load_index
from bot.localize.context import build_context, default_cache_dir
from bot.localize.snapshot import blob_id, snapshot
from bot.localize.store import IndexStore


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


def test_the_cache_stays_within_its_bytes_least_recently_used_trees_first(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", count=1)
    trees = tmp_path / "cache" / "trees"
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "records-v1.sqlite").write_bytes(b"an older parser's records")
    load_index(root, IndexStore(tmp_path / "cache"))
    assert not (tmp_path / "cache" / "records-v1.sqlite").exists()
    first = next(trees.glob("*.idx"))
    records = (tmp_path / "cache").glob("*.sqlite")
    bound = sum(p.stat().st_size for p in records) + 4 * first.stat().st_size
    store = IndexStore(tmp_path / "cache", bound)
    for number in range(10):
        (root / "mod0.py").write_text(f"VALUE = {number}\n")
        load_index(root, store)
    used = sum(p.stat().st_size for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert used <= bound and 2 <= len(list(trees.glob("*.idx"))) < 10
    assert first.exists()  # the base every later tree was patched from was used each time
    (root / "mod0.py").write_text("VALUE = 9\n")
    assert (again := load_index(root, store)).stats and again.stats.from_tree_cache


def _word(seed: int) -> str:
    digest = hashlib.sha1(str(seed).encode()).hexdigest()
    return "".join(chr(ord("a") + int(char, 16)) for char in digest[:12])


def test_records_over_their_share_of_the_bound_go_least_recently_used_first(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", count=30)
    for number in range(30):  # records of some size, so that the file's fixed overhead does not count
        words = " +\n        ".join(_word(number * 1000 + word) for word in range(300))
        (root / f"mod{number}.py").write_text(f"def func_{number}():\n    return {words}\n")
    git(root, "commit", "-qam", "bigger")
    store = IndexStore(tmp_path / "cache")
    load_index(root, store)
    database = next((tmp_path / "cache").glob("*.sqlite"))
    small = IndexStore(tmp_path / "cache", database.stat().st_size)  # the records alone fill the whole bound
    keys = {f"{blob} {path}" for path, blob in snapshot(root).files.items()}
    small.load_records({key for key in keys if "mod1" in key})  # used last: kept
    small.trim(keep=set())
    left = small.load_records(keys)
    assert 0 < len(left) < len(keys) and all("mod1" in key for key in left)


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


def test_the_cache_bound_is_a_setting_defaulting_to_the_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.config.settings import Settings
    from bot.localize.store import DEFAULT_MAX_BYTES

    assert Settings.model_fields["localize_cache_bytes"].default == DEFAULT_MAX_BYTES
    monkeypatch.setenv("ISSUESMITH_LOCALIZE_CACHE_BYTES", str(64 << 20))
    monkeypatch.setenv("ISSUESMITH_WEBHOOK_SECRET", "0123456789abcdef")
    assert Settings(_env_file=None).localize_cache_bytes == 64 << 20  # type: ignore[call-arg]
