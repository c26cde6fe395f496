"""What the Planner reads: a compact map of the ranked files and excerpts, within a token budget.

The map lists files best first, each with its top-level definitions, in at most a quarter of
the budget (`MAP_SHARE`). The rest goes to excerpts of the best files: whole small files, otherwise
numbered windows around the definitions the issue names and the lines densest in its terms.

How many files get an excerpt, and how long each may be, follows the excerpt budget (see
`ExcerptPlan`): one file per `TOKENS_PER_EXCERPT` tokens, the best file at most a third of the
budget, each next one a third of what is left (at least `MIN_EXCERPT_TOKENS`), and windows of
more context lines around each match when the budget is larger.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

from bot.core import treefiles
from bot.localize.index import RepoIndex
from bot.localize.issue import IssueMentions
from bot.localize.scoring import RankedFile
from bot.localize.text import WORD, estimate_tokens, word_terms

MAP_SHARE = 4  # the map gets 1/MAP_SHARE of the budget
MIN_EXCERPTS, MAX_EXCERPTS = 2, 24
TOKENS_PER_EXCERPT = 700  # one more excerpted file per this many tokens of excerpt budget
MAX_EXCERPT_TOKENS = 4000
MIN_EXCERPT_TOKENS = 150
EXCERPT_FILE_BYTES = 4_000_000  # larger files get no excerpt
CONTEXT_LINES = 5  # lines around a match at the default budget; fewer when tight, more when ample


@dataclass(frozen=True)
class ExcerptPlan:
    """How the excerpt budget is spent: how many files, the longest excerpt, lines around a match."""

    files: int
    longest: int
    context_lines: int

    @classmethod
    def for_budget(cls, budget: int) -> ExcerptPlan:
        """More and longer excerpts, with wider windows, for a bigger budget."""
        files = max(MIN_EXCERPTS, min(MAX_EXCERPTS, budget // TOKENS_PER_EXCERPT))
        longest = max(MIN_EXCERPT_TOKENS, min(MAX_EXCERPT_TOKENS, budget // 3))
        context_lines = 2 if budget < 4_000 else CONTEXT_LINES if budget < 10_000 else 8
        return cls(files, longest, context_lines)


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
    """Excerpts of the best files, largest for the best, until the budget is spent (never beyond it)."""
    plan = ExcerptPlan.for_budget(budget)
    numbers = dict(zip(index.paths, range(len(index.paths)), strict=True))
    query = set(mentions.query)
    out: list[tuple[str, str]] = []
    for entry in ranked[:plan.files]:
        share = min(plan.longest, max(MIN_EXCERPT_TOKENS, budget // 3), budget)
        if budget < MIN_EXCERPT_TOKENS:
            break
        try:  # never through a link (see bot.core.treefiles)
            text = treefiles.read_text(root, entry.path, EXCERPT_FILE_BYTES)
        except (treefiles.TreeFileError, OSError):
            continue
        if estimate_tokens(text) <= share:
            chunk = text
        else:
            definitions = index.definitions(numbers[entry.path])
            anchors = [(d[2], d[3]) for d in definitions
                       if d[0] in mentions.identifiers and mentions.identifiers[d[0]] >= 1.0]
            chunk = trim(window(text, query, anchors, share, plan.context_lines), share)
        out.append((entry.path, chunk))
        budget -= estimate_tokens(chunk)
    return out


def trim(chunk: str, budget: int) -> str:
    """`chunk` cut at a line end so that it costs at most `budget` tokens."""
    if estimate_tokens(chunk) <= budget:
        return chunk
    cut = chunk[: max(0, budget * 4 - 3)]
    return cut[: cut.rfind("\n")] if "\n" in cut else cut


def line_weights(lines: list[str], query: set[str]) -> list[float]:
    """How many distinct query terms each line holds: `len(set(terms(line)) & query)`, each word looked up once.

    Only lines containing one of the words that yield a query term are split into words at all.
    """
    hits: dict[str, frozenset[str]] = {}
    for word in set(WORD.findall("\n".join(lines))):
        matched = frozenset(query.intersection(word_terms(word)))
        if matched:
            hits[word] = matched
    if not hits:
        return [0.0] * len(lines)
    candidate = re.compile("|".join(map(re.escape, sorted(hits, key=len, reverse=True))))
    weights: list[float] = []
    for line in lines:
        if candidate.search(line) is None:
            weights.append(0.0)
            continue
        found: set[str] = set()
        for word in WORD.findall(line):
            found |= hits.get(word, frozenset())
        weights.append(float(len(found)))
    return weights


def window(text: str, query: set[str], anchors: list[tuple[int, int]], budget: int,
           context_lines: int = CONTEXT_LINES) -> str:
    """Numbered lines around the anchors (definitions' 1-based first and last lines), then the
    rest of those definitions and the lines densest in query terms, within `budget` tokens."""
    lines = text.splitlines()
    weights = line_weights(lines, query)
    for start, end in anchors:
        if 0 < start <= len(lines):
            weights[start - 1] += 100
            for inside in range(start, min(end, len(lines))):  # the body, after the densest lines
                weights[inside] += 0.5
    order = sorted(range(len(lines)), key=lambda i: (-weights[i], i))
    keep: set[int] = set()
    cost = 0
    for i in order:
        if weights[i] == 0:
            break
        added = [j for j in range(max(0, i - context_lines), min(len(lines), i + context_lines + 3))
                 if j not in keep]
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
