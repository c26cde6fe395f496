"""A new commit's index patched from an earlier tree's equals a full build of the new tree.

The repository is the attacker's: links out of the tree, non-UTF-8 and binary contents, huge
files. Nothing outside the tree may reach the index, and the patched index must be the same
whether it was just made or read back from the cache.
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot.localize import index as index_module
from bot.localize.cache import load_index
from bot.localize.context import build_context
from bot.localize.index import RepoIndex
from bot.localize.patch import PatchedTable
from bot.localize.store import IndexStore

SECRET = "zzoutsideword"


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                          capture_output=True, text=True).stdout.strip()


def fields(index: RepoIndex) -> dict[str, Any]:
    """Everything a query reads, in plain types (definitions decoded: marshal's bytes may differ)."""
    return {"paths": index.paths, "blobs": index.blobs, "import_names": index.import_names,
            "definitions": [index.definitions(n) for n in range(len(index.paths))],
            "lines": index.lines.tolist(), "doc_len": index.doc_len.tolist(), "postings": dict(index.postings),
            "symbols": dict(index.symbols), "imports": index.imports, "importers": index.importers,
            "basenames": index.basenames, "kinds": index.kinds}


def write(root: Path, path: str, text: str | bytes) -> None:
    target = root / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text)


def tree_a(root: Path, outside: Path) -> None:
    """A package with imports between its modules, docs, tests, and a link out of the tree."""
    root.mkdir(parents=True)
    git(root, "init", "-q")
    write(root, "pkg/__init__.py", "from pkg.core import Engine\n")
    write(root, "pkg/core.py", "import pkg.helpers\n\nclass Engine:\n    def run(self):\n        return 1\n")
    write(root, "pkg/helpers.py", "def helper_one():\n    return 'one'\n")
    write(root, "pkg/old_name.py", "def moved_function():\n    return 2\n")
    write(root, "pkg/doomed.py", "def doomed_function():\n    pass\n")
    write(root, "pkg/growing.py", "def grows():\n    pass\n")
    write(root, "pkg/user.py", "from pkg.util import tool\n\ndef use():\n    return tool()\n")
    write(root, "tests/test_core.py", "from pkg.core import Engine\n\ndef test_run():\n    assert Engine().run()\n")
    write(root, "docs/index.md", "# Engine\nThe engine runs helpers.\n")
    os.symlink(outside, root / "link_out.py")  # committed as a link: never read
    for number in range(20):
        write(root, f"pkg/sub/mod{number:02}.py", f"def func_{number}():\n    return {number}\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "A")


def tree_b(root: Path, outside: Path) -> None:
    """Edits, a rename, a deletion, added modules (renumbering), a file past the path-only size, hostile bytes."""
    write(root, "pkg/helpers.py", "def helper_one():\n    return 'uno'\n\ndef helper_two():\n    pass\n")
    git(root, "mv", "pkg/old_name.py", "pkg/new_name.py")
    git(root, "rm", "-q", "pkg/doomed.py")
    write(root, "pkg/util.py", "def tool():\n    return 3\n")  # `from pkg.util import tool` now resolves
    write(root, "pkg/aaa_first.py", "import pkg.core\n\ndef first():\n    pass\n")  # renumbers every file
    padding = "# padding word\n" * (index_module.INDEX_MAX_BYTES // 15)
    write(root, "pkg/growing.py", "def grows():\n    pass\n" + padding)
    write(root, "pkg/latin1.py", b"def caf\xe9():\n    return '\xff\xfe'\n")
    write(root, "pkg/binary.py", b"\0\1\2 binary_blob_word")
    os.symlink(outside, root / "pkg/another_link.py")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "B")
    (root / "pkg/sub/mod03.py").unlink()  # in the work tree only: a tracked file swapped for a link out
    os.symlink(outside, root / "pkg/sub/mod03.py")
    write(root, "pkg/sub/mod04.py", "def edited_not_committed():\n    pass\n")


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, Path]:
    outside = tmp_path / "outside.py"
    outside.write_text(f"def {SECRET}():\n    pass\n")
    root = tmp_path / "r"
    tree_a(root, outside)
    return root, outside


def test_a_patched_index_equals_a_full_build_and_reads_only_the_changed_files(repo: tuple[Path, Path],
                                                                             tmp_path: Path) -> None:
    root, outside = repo
    store = IndexStore(tmp_path / "cache")
    first = load_index(root, store)
    assert first.stats and first.stats.parsed == len(first.paths) and not first.base
    tree_b(root, outside)
    patched = load_index(root, store)
    fresh = load_index(root, None)
    assert patched.base and isinstance(patched.postings, PatchedTable)
    assert patched.stats and patched.stats.parsed == 8  # helpers, new_name, util, aaa_first, growing, latin1,
    # binary and mod04 (edited on disk); not mod03, a link now
    assert fields(patched) == fields(fresh)
    again = load_index(root, store)
    assert again.stats and again.stats.from_tree_cache and fields(again) == fields(fresh)
    assert SECRET not in fresh.postings and "pkg/sub/mod03.py" not in fresh.paths
    assert "pkg/binary.py" in fresh.paths and not fresh.definitions(fresh.paths.index("pkg/binary.py"))
    grown = fresh.paths.index("pkg/growing.py")
    assert not fresh.definitions(grown) and fresh.lines[grown] == 0  # past the size: path only
    assert fresh.imports[fresh.paths.index("pkg/user.py")] == [fresh.paths.index("pkg/util.py")]


def test_the_context_is_the_same_from_a_patched_index(repo: tuple[Path, Path], tmp_path: Path) -> None:
    root, outside = repo
    cache = tmp_path / "cache"
    build_context(root, "warm up", 4000, cache)
    tree_b(root, outside)
    for issue in ("helper_two fails when Engine.run is called", "moved_function in pkg/new_name.py",
                  "tool() from pkg.util returns the wrong value; first() too"):
        patched, full = build_context(root, issue, 4000, cache), build_context(root, issue, 4000, False)
        assert patched.ranked == full.ranked and patched.excerpts == full.excerpts
        assert patched.repo_map == full.repo_map


def test_a_patched_tree_whose_base_is_gone_is_built_again(repo: tuple[Path, Path], tmp_path: Path) -> None:
    root, outside = repo
    store = IndexStore(tmp_path / "cache")
    load_index(root, store)
    tree_b(root, outside)
    patched = load_index(root, store)
    for base_file in (tmp_path / "cache" / "trees").glob(f"{patched.base}.*"):
        base_file.unlink()
    rebuilt = load_index(root, IndexStore(tmp_path / "cache"))  # a store per call, as `rank_files` makes
    assert rebuilt.stats and not rebuilt.stats.from_tree_cache and not rebuilt.base
    assert fields(rebuilt) == fields(load_index(root, None))


def test_random_edit_sequences_patch_to_the_full_build(tmp_path: Path) -> None:
    rng = random.Random(18)
    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q")
    words = ["alpha", "beta", "gamma", "delta", "parse", "render", "engine", "token", "cache", "query"]
    for number in range(40):
        write(root, f"p{number % 4}/m{number:02}.py", f"def f{number}_{rng.choice(words)}():\n    pass\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "start")
    store = IndexStore(tmp_path / "cache")
    load_index(root, store)
    for step in range(6):
        present = git(root, "ls-files").splitlines()
        for turn, path in enumerate(rng.sample(present, 3)):
            action = rng.choice(["edit", "delete", "rename"])
            if action == "edit":
                write(root, path, f"import p{rng.randrange(4)}.m{rng.randrange(40):02}\n"
                                  f"def {rng.choice(words)}_{step}():\n    return '{rng.choice(words)}'\n")
            elif action == "delete":
                git(root, "rm", "-q", path)
            else:
                folder = root / f"p{rng.randrange(6)}"
                folder.mkdir(exist_ok=True)
                git(root, "mv", path, f"{folder.name}/r{step}_{turn}.py")
        write(root, f"p{rng.randrange(6)}/n{step}.py",
              f"from p1 import m{rng.randrange(40):02}\nclass {words[step]}:\n    pass\n")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", f"step {step}")
        patched = load_index(root, store)
        assert patched.base, step
        assert fields(patched) == fields(load_index(root, None)), step


def test_edits_alone_keep_the_numbers_and_the_other_files_imports(repo: tuple[Path, Path], tmp_path: Path) -> None:
    root, _ = repo
    store = IndexStore(tmp_path / "cache")
    before = load_index(root, store)
    write(root, "pkg/user.py", "import pkg.helpers\n\ndef use():\n    return 0\n")  # imports something else now
    write(root, "pkg/helpers.py", "from pkg.core import Engine\n\ndef helper_three():\n    pass\n")
    git(root, "commit", "-qam", "edits")
    patched = load_index(root, store)
    fresh = load_index(root, None)
    assert patched.base and patched.paths == before.paths and patched.stats and patched.stats.parsed == 2
    assert fields(patched) == fields(fresh)
    assert patched.imports[patched.paths.index("pkg/helpers.py")] == [patched.paths.index("pkg/core.py")]
