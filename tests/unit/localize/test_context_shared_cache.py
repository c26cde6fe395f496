"""One index cache shared by a repository's clones: concurrent builders never corrupt it."""

from __future__ import annotations

import multiprocessing
import shutil
import subprocess
from pathlib import Path

from bot.localize.cache import load_index
from bot.localize.store import IndexStore


def make_repo(root: Path, count: int) -> Path:
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    for number in range(count):
        (root / f"pkg/mod{number}.py").parent.mkdir(exist_ok=True)
        (root / f"pkg/mod{number}.py").write_text(f"import pkg.mod{(number + 1) % count}\n\ndef func_{number}():\n"
                                                  f"    return {number}\n")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one"], cwd=root,
                   check=True)
    return root


def _build(root: str, cache: str, rounds: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        for _ in range(rounds):
            index = load_index(Path(root), IndexStore(Path(cache)))
        out.put(sorted(index.paths))
    except Exception as error:
        out.put(repr(error))


def test_two_clones_build_the_same_index_at_once(tmp_path: Path) -> None:
    first = make_repo(tmp_path / "slot0", 40)
    second = tmp_path / "slot1"
    shutil.copytree(first, second)
    cache = tmp_path / "context-index" / "owner" / "repo"
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_build, args=(str(root), str(cache), 3, results)) for root in (first, second)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    expected = sorted(f"pkg/mod{n}.py" for n in range(40))
    assert outcomes == [expected, expected]
    assert not list((cache / "trees").glob("*.tmp"))  # every write was renamed into place
    again = load_index(second, IndexStore(cache))
    assert again.stats and again.stats.from_tree_cache and again.paths == expected
    assert list(again.definers("func_7")) == [again.paths.index("pkg/mod7.py")]
