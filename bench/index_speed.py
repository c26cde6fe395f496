"""How fast the context index is built, rebuilt incrementally and queried on a large repository.

Given a git repository (e.g. Django materialized with `bench/materialize.py`), in a scratch
work tree of it and with a fresh cache directory:

1. cold: index the `--base` commit with an empty cache (every file parsed);
2. warm: index it again (the whole-tree cache answers);
3. incremental: index `--head`, reusing the records of every blob the two commits share;
4. query: rank and fit the default budget for a few issue texts, the index cached (median).

`--replicate N` first builds a repository holding N copies of the head tree side by side
(`copy1/`, `copy2/`, ...), to measure at tens of thousands of files.

    .venv/bin/python bench/index_speed.py var/bench/repos/django__django --base HEAD~1 --head HEAD
    .venv/bin/python bench/index_speed.py var/bench/repos/django__django --replicate 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config.settings import Settings
from bot.localize.context import build_context

QUERIES = (
    "QuerySet.bulk_create() crashes on mixed case columns in unique_fields/update_fields",
    "Traceback (most recent call last):\n  File \"site-packages/django/utils/functional.py\", line 57, in __get__\n"
    "TypeError: cannot pickle '_thread.RLock' object when caching a lazy translation",
    "Admin changelist filter on a related field with a custom ModelAdmin.get_queryset shows duplicates",
    "`make_aware` raises AmbiguousTimeError for the DST transition; `timezone.localtime` should accept is_dst",
)


def git(root: Path, *args: str) -> str:
    """Run git in `root`, returning stdout."""
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()


def replicate(source: Path, copies: int, into: Path) -> Path:
    """A repository with `copies` copies of `source`'s tracked files at HEAD, one per directory."""
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    git(into, "init", "-q", "-b", "main")
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=source, capture_output=True, check=True).stdout
    for number in range(1, copies + 1):
        target = into / f"copy{number}"
        target.mkdir()
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    git(into, "add", "-A", "-f")
    git(into, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "-m", "replicated")
    return into


def timed_build(tree: Path, cache: Path, text: str) -> tuple[float, Any]:
    """Seconds for one `build_context` on `tree` with `cache`, and the context."""
    started = time.monotonic()
    context = build_context(tree, text, BUDGET, cache)
    return time.monotonic() - started, context


BUDGET = int(Settings.model_fields["context_tokens"].default)


def measure(repo: Path, base: str, head: str, scratch: Path) -> dict[str, Any]:
    """Cold, warm and incremental index times and query times (see the module docstring)."""
    base, head = git(repo, "rev-parse", base), git(repo, "rev-parse", head)
    tree, cache = scratch / "tree", scratch / "cache"
    for path in (tree, cache):
        if path.exists():
            shutil.rmtree(path)
    tree.parent.mkdir(parents=True, exist_ok=True)
    git(repo, "clone", "-q", "--shared", "--no-checkout", str(repo.resolve()), str(tree.resolve()))
    git(tree, "checkout", "-q", "-f", "--detach", base)  # a .git directory of its own, as the worker's slots have
    try:
        files = len(git(tree, "ls-files").splitlines())
        cold, context = timed_build(tree, cache, QUERIES[0])
        indexed = context.index.files if context.index else 0
        warm, _ = timed_build(tree, cache, QUERIES[0])
        git(tree, "checkout", "-q", "-f", "--detach", head)
        incremental, context = timed_build(tree, cache, QUERIES[0])
        reparsed = context.index.parsed if context.index else 0
        queries = [timed_build(tree, cache, text)[0] for text in QUERIES for _ in range(2)]
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    return {"repository": str(repo), "base": base, "head": head, "tracked_files": files, "indexed_files": indexed,
            "cold_index_s": round(cold, 2), "warm_s": round(warm, 3), "incremental_s": round(incremental, 2),
            "incremental_reparsed_files": reparsed, "query_median_s": round(statistics.median(queries), 3),
            "query_max_s": round(max(queries), 3)}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repo", type=Path)
    parser.add_argument("--base", default="HEAD", help="commit indexed cold")
    parser.add_argument("--head", default="HEAD", help="commit indexed incrementally after --base")
    parser.add_argument("--replicate", type=int, default=0, help="measure N side-by-side copies of HEAD instead")
    parser.add_argument("--scratch", type=Path, default=Path("var/bench/index-speed"))
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    args.scratch.mkdir(parents=True, exist_ok=True)
    repo = args.repo
    if args.replicate:
        repo = replicate(args.repo, args.replicate, args.scratch / f"replicated-{args.replicate}")
    figures = measure(repo, args.base, args.head, args.scratch)
    text = json.dumps(figures, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
