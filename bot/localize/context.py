"""Repository context for the Planner: a ranked map of files and the most relevant excerpts.

The ranking needs no model (see `bot.localize.scoring` for the signals and how they add up).
The index behind it is cached on disk per repository, by tree and by blob, so a new commit
re-parses only the files that changed and patches an earlier tree's index (see `bot.localize.cache`);
the cache is bounded in bytes (`cache_bytes`). The plan job passes
`cache_dir=<work dir>/context-index/<owner>/<repo>`, one cache shared by all of a repository's
clones (slots); concurrent jobs may read and write it (sqlite with a lock timeout, tree files
renamed into place). Without `cache_dir` the cache lives in the work tree's git directory
(`.git/issuesmith/context-index`); `cache_dir=False` caches nothing.

    python -m bot.localize.context --explain PATH_TO_REPO < issue.txt
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bot.core.errors import GitError
from bot.localize.cache import load_index
from bot.localize.index import BuildStats, RepoIndex
from bot.localize.issue import IssueMentions, extract
from bot.localize.render import MAP_SHARE, excerpts, repo_map
from bot.localize.scoring import RankedFile, rank
from bot.localize.store import DEFAULT_MAX_BYTES, IndexStore
from bot.localize.text import estimate_tokens, split_identifier, terms
from bot.sandboxes.base import unchanged
from bot.workspace.git import Git

__all__ = ["RankedFile", "RepoContext", "build_context", "default_cache_dir", "estimate_tokens", "fit_context",
           "rank_files",
           "split_identifier", "terms"]


@dataclass
class RepoContext:
    """What the Planner is shown: the ranking, a compact map, and excerpts within budget."""

    ranked: list[RankedFile]
    repo_map: str
    excerpts: list[tuple[str, str]]
    tokens: int
    index: BuildStats | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def default_cache_dir(root: Path) -> Path | None:
    """`<git dir>/issuesmith/context-index` of the work tree at `root`, if it is a git work tree."""
    try:
        git_dir = Git(unchanged)("rev-parse", "--absolute-git-dir", cwd=root, discover=True).strip()
    except GitError:
        return None
    return Path(git_dir) / "issuesmith" / "context-index" if git_dir else None


def rank_files(root: Path, issue_text: str, cache_dir: Path | Literal[False] | None = None, git: Git | None = None,
               cache_bytes: int = DEFAULT_MAX_BYTES) -> tuple[RepoIndex, IssueMentions, list[RankedFile]]:
    """The index of the work tree, the issue's mentions, and every file with a score, best first.

    `git` (the worker's, reading as its configured unprivileged user) lists the tree; the cache
    is kept within `cache_bytes` (`Settings.localize_cache_bytes`).
    """
    directory = default_cache_dir(root) if cache_dir is None else cache_dir
    index = load_index(root, IndexStore(directory, cache_bytes) if directory else None, git)
    mentions = extract(issue_text)
    return index, mentions, rank(index, mentions, root)


def build_context(root: Path, issue_text: str, budget_tokens: int,
                  cache_dir: Path | Literal[False] | None = None, git: Git | None = None,
                  cache_bytes: int = DEFAULT_MAX_BYTES) -> RepoContext:
    """Rank the work tree's files against the issue and fit a map plus excerpts in the budget."""
    started = time.monotonic()
    index, mentions, ranked = rank_files(root, issue_text, cache_dir, git, cache_bytes)
    ranked_at = time.monotonic()
    context = fit_context(root, index, mentions, ranked, budget_tokens)
    index_seconds = index.stats.seconds if index.stats else 0.0
    context.seconds = {"index": round(index_seconds, 4), "rank": round(ranked_at - started - index_seconds, 4),
                       "render": round(time.monotonic() - ranked_at, 4)}
    return context


def fit_context(root: Path, index: RepoIndex, mentions: IssueMentions, ranked: list[RankedFile],
                budget_tokens: int) -> RepoContext:
    """The map and excerpts of an existing ranking that fit `budget_tokens`."""
    text, used = repo_map(index, ranked, budget_tokens // MAP_SHARE)
    chosen = excerpts(root, index, ranked, mentions, budget_tokens - used)
    tokens = used + sum(estimate_tokens(chunk) for _, chunk in chosen)
    return RepoContext(ranked, text, chosen, tokens, index.stats)


def explain(context: RepoContext, top: int) -> str:
    """The ranking with each signal's weighted contribution, for people tuning the ranker."""
    lines = [f"{'score':>7}  file  (signal contributions)"]
    for entry in context.ranked[:top]:
        parts = ", ".join(f"{name}={value:.3f}" for name, value in sorted(entry.signals.items(), key=lambda s: -s[1]))
        lines.append(f"{entry.score:7.3f}  {entry.path}  ({parts})")
    excerpted = ", ".join(path for path, _ in context.excerpts)
    lines.append(f"\ncontext: {context.tokens} tokens; excerpts of: {excerpted or '(none)'}")
    if context.index:
        how = "tree cache" if context.index.from_tree_cache else f"built, {context.index.parsed} files parsed"
        lines.append(f"index: {context.index.files} files ({how}); seconds: {context.seconds}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.localize.context [--explain] ROOT [ISSUE_FILE]`: print the context (or its ranking)."""
    parser = argparse.ArgumentParser(description="Build the Planner's repository context for an issue.")
    parser.add_argument("root", type=Path, help="a git work tree")
    parser.add_argument("issue", nargs="?", type=Path, help="file with the issue text (default: stdin)")
    parser.add_argument("--budget", type=int, default=12_000, help="token budget")
    parser.add_argument("--explain", action="store_true", help="print the ranking and each signal's share")
    parser.add_argument("--top", type=int, default=15, help="files to explain")
    parser.add_argument("--cache-dir", type=Path, help="index cache (default: inside the git directory)")
    args = parser.parse_args(argv)
    issue_text = args.issue.read_text() if args.issue else sys.stdin.read()
    context = build_context(args.root, issue_text, args.budget, args.cache_dir)
    if args.explain:
        print(explain(context, args.top))
    else:
        print(context.repo_map)
        for path, chunk in context.excerpts:
            print(f"\n--- {path}\n{chunk}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
