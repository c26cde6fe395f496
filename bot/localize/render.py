"""What the Planner reads: a compact map of the ranked files and excerpts, within a token budget.

The map lists files best first, each with its top-level definitions, in at most a quarter of
the budget. The rest goes to excerpts of the best files: whole small files, otherwise numbered
windows around the definitions the issue names and the lines densest in its terms.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from bot.localize.index import RepoIndex
from bot.localize.issue import IssueMentions
from bot.localize.scoring import RankedFile
from bot.localize.text import estimate_tokens, terms

MAP_SHARE = 4  # the map gets 1/MAP_SHARE of the budget
MAX_EXCERPTS = 12
MAX_EXCERPT_TOKENS = 3000
MIN_EXCERPT_TOKENS = 150
CONTEXT_LINES = 5


def repo_map(index: RepoIndex, ranked: list[RankedFile], budget: int) -> tuple[str, int]:
    """The map text and its token cost: ranked files (then the rest) with their top-level names."""
    numbers = dict(zip(index.paths, range(len(index.paths)), strict=True))
    listed = {r.path for r in ranked}
    order = itertools.chain((r.path for r in ranked), (p for p in index.paths if p not in listed))
    lines: list[str] = []
    used = 0
    for path in order:
        names = [d[0] for d in index.definitions(numbers[path]) if not d[4]]
        line = path + (f": {', '.join(dict.fromkeys(names[:12]))}" if names else "")
        cost = estimate_tokens(line) + 1
        if used + cost > budget:
            more = f"... and {len(index.paths) - len(lines)} more files (use search_code / read_file)"
            lines.append(more)
            used += estimate_tokens(more) + 1
            break
        lines.append(line)
        used += cost
    return "\n".join(lines), used


def excerpts(root: Path, index: RepoIndex, ranked: list[RankedFile], mentions: IssueMentions,
             budget: int) -> list[tuple[str, str]]:
    """Excerpts of the best files, largest for the best, until the budget is spent."""
    numbers = dict(zip(index.paths, range(len(index.paths)), strict=True))
    query = set(mentions.query)
    out: list[tuple[str, str]] = []
    for entry in ranked[:MAX_EXCERPTS]:
        share = min(MAX_EXCERPT_TOKENS, max(MIN_EXCERPT_TOKENS, budget // 3))
        if budget < MIN_EXCERPT_TOKENS:
            break
        try:
            text = (root / entry.path).read_text("utf-8", errors="replace")
        except OSError:
            continue
        if estimate_tokens(text) <= share:
            chunk = text
        else:
            anchors = [d[2] for d in index.definitions(numbers[entry.path]) if d[0] in mentions.identifiers
                       and mentions.identifiers[d[0]] >= 1.0]
            chunk = window(text, query, anchors, share)
        out.append((entry.path, chunk))
        budget -= estimate_tokens(chunk)
    return out


def window(text: str, query: set[str], anchors: list[int], budget: int) -> str:
    """Numbered lines around the anchors (1-based) and the lines densest in query terms."""
    lines = text.splitlines()
    weights = [len(set(terms(line)) & query) for line in lines]
    for anchor in anchors:
        if 0 < anchor <= len(lines):
            weights[anchor - 1] += 100
    order = sorted(range(len(lines)), key=lambda i: (-weights[i], i))
    keep: set[int] = set()
    cost = 0
    for i in order:
        if weights[i] == 0:
            break
        added = [j for j in range(max(0, i - CONTEXT_LINES), min(len(lines), i + CONTEXT_LINES + 3)) if j not in keep]
        extra = sum(estimate_tokens(lines[j]) + 2 for j in added)
        if cost + extra > budget:
            break
        keep.update(added)
        cost += extra
    if not keep:
        keep = set(range(min(len(lines), budget // 12)))
    out: list[str] = []
    previous = -2
    for i in sorted(keep):
        if i != previous + 1:
            out.append("...")
        out.append(f"{i + 1:>5}  {lines[i]}")
        previous = i
    return "\n".join(out)
