"""How fast the context index is built, rebuilt incrementally and queried on a large repository.

Given a git repository (e.g. Django materialized with `bench/materialize.py`), in a scratch
work tree of it and with a fresh cache directory:

1. cold: index the `--base` commit with an empty cache (every file parsed);
2. warm: index it again (the whole-tree cache answers);
3. incremental: index `--head`, reusing the records of every blob the two commits share;
4. query: rank and fit the default budget for a few issue texts, the index cached (median).

`--replicate N` first builds a repository holding N copies of the head tree side by side
(`copy1/`, `copy2/`, ...), to measure at tens of thousands of files.

`--series` instead measures, side by side in one run, every repository given (e.g. all those
`bench/materialize.py` wrote, one commit per release), each with a fresh cache, the first
`build_context` call (index, ranking, default budget) on:

* `cold`: the newest commit, empty cache (every file parsed);
* `same`: the same tree again;
* `release`: each release commit in turn, oldest first, after the one before it was indexed;
* `small-K`: a commit on top of the newest changing K files (K-1 edited, one added) after the
  newest was indexed, for each K of `--changes`.

With `--replicate N` each repository is first replaced by N side-by-side copies of its newest tree
(one commit, so no `release` steps). Each figure is the median of `--repeats` runs (fresh scratch
and cache each time); the summary gives the median over repositories of each.

    .venv/bin/python bench/index_speed.py var/bench/repos/django__django --base HEAD~1 --head HEAD
    .venv/bin/python bench/index_speed.py var/bench/repos/django__django --replicate 5
    .venv/bin/python bench/index_speed.py --series var/bench/repos/*__*/
    .venv/bin/python bench/index_speed.py --series --replicate 10 var/bench/repos/pydicom__pydicom
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


def small_change(tree: Path, count: int) -> None:
    """Commit a change of `count` files on top of the work tree's commit: `count - 1` edited, one added."""
    sources = [p for p in git(tree, "ls-files", "*.py").splitlines() if "/" in p][:max(count - 1, 0)]
    for path in sources:
        with (tree / path).open("a") as handle:
            handle.write("\n\ndef bench_added_function():\n    return 'bench'\n")
    added = (sources[0].rsplit("/", 1)[0] if sources else "") + "/bench_added_module.py"
    (tree / added.lstrip("/")).write_text("def bench_new_module():\n    return 1\n")
    git(tree, "add", "-A")
    git(tree, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "-m", f"{count} files")


def series_once(repo: Path, scratch: Path, changes: list[int]) -> dict[str, tuple[float, int]]:
    """One run of `--series` on `repo`: step → (seconds of the first call, files parsed)."""
    commits = git(repo, "rev-list", "--reverse", "HEAD").splitlines()
    tree, cache = scratch / "tree", scratch / "cache"
    steps: dict[str, tuple[float, int]] = {}

    def call(step: str, commit: str | None = None) -> None:
        if commit:
            git(tree, "checkout", "-q", "-f", "--detach", commit)
        seconds, context = timed_build(tree, cache, QUERIES[0])
        steps[step] = (seconds, context.index.parsed if context.index else 0)

    for path in (tree, cache):
        shutil.rmtree(path, ignore_errors=True)
    git(repo, "clone", "-q", "--shared", "--no-checkout", str(repo.resolve()), str(tree.resolve()))
    try:
        call("cold", commits[-1])
        call("same")
        if len(commits) > 1:
            shutil.rmtree(cache)
            for number, commit in enumerate(commits):
                call(f"release-{number}" if number else "first-release", commit)
        for count in changes:
            git(tree, "checkout", "-q", "-f", "--detach", commits[-1])
            call(f"base-{count}")
            small_change(tree, count)
            call(f"small-{count}")
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    return steps


def measure_series(repos: list[Path], scratch: Path, changes: list[int], repeats: int) -> dict[str, Any]:
    """`--series`: per repository the median of each step over `repeats` runs, and medians over repositories."""
    per_repo: dict[str, dict[str, Any]] = {}
    for repo in repos:
        runs = [series_once(repo, scratch, changes) for _ in range(repeats)]
        files = len(git(repo, "ls-files").splitlines())
        per_repo[repo.name] = {"files": files, **{step: {"s": round(statistics.median(r[step][0] for r in runs), 3),
                                                        "parsed": runs[0][step][1]} for step in runs[0]}}
    summary: dict[str, Any] = {}
    for step in ("cold", "same", *(f"small-{count}" for count in changes)):
        summary[step] = round(statistics.median(figures[step]["s"] for figures in per_repo.values()), 3)
    releases = [figures[step]["s"] for figures in per_repo.values() for step in figures if step.startswith("release-")]
    summary["release"] = round(statistics.median(releases), 3) if releases else None
    return {"median_over_repositories": summary, "repositories": per_repo}


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repo", type=Path, nargs="+")
    parser.add_argument("--base", default="HEAD", help="commit indexed cold")
    parser.add_argument("--head", default="HEAD", help="commit indexed incrementally after --base")
    parser.add_argument("--replicate", type=int, default=0, help="measure N side-by-side copies of HEAD instead")
    parser.add_argument("--scratch", type=Path, default=Path("var/bench/index-speed"))
    parser.add_argument("--series", action="store_true", help="first calls on each release and small changes")
    parser.add_argument("--changes", default="1,10,50", help="--series: files changed by the small commits")
    parser.add_argument("--repeats", type=int, default=3, help="--series: runs per repository (median)")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    args.scratch = args.scratch.resolve()  # git reads the tree from a child that changes directory first
    args.scratch.mkdir(parents=True, exist_ok=True)
    if args.series:
        changes = [int(count) for count in args.changes.split(",")]
        repos = [replicate(repo, args.replicate, args.scratch / f"{repo.resolve().name}-x{args.replicate}")
                 for repo in args.repo] if args.replicate else args.repo
        figures = measure_series(repos, args.scratch, changes, args.repeats)
    else:
        repo = args.repo[0]
        if args.replicate:
            repo = replicate(repo, args.replicate, args.scratch / f"replicated-{args.replicate}")
        figures = measure(repo, args.base, args.head, args.scratch)
    text = json.dumps(figures, indent=1)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
