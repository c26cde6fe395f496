"""Repository context for the Planner: a ranked map of files and the most relevant excerpts.

Signals, all without a model: paths and identifiers quoted in the issue, top-level
symbols whose names match, and BM25 over identifier-split file contents. The result
fits a token budget (tokens estimated as characters / 4).
"""

from __future__ import annotations

import ast
import math
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

MAX_FILE_BYTES = 200_000
SKIP_PARTS = {"node_modules", "vendor", "third_party", "dist", "build", ".git", "__pycache__"}
TEXT_SUFFIXES = {
    ".py", ".pyi", ".js", ".jsx", ".ts", ".tsx", ".go", ".rs", ".java", ".kt", ".rb", ".php", ".c", ".h",
    ".cc", ".cpp", ".hpp", ".cs", ".swift", ".scala", ".sh", ".md", ".rst", ".txt", ".toml", ".cfg", ".ini",
    ".yml", ".yaml", ".json", ".html", ".css", ".sql", ".mk",
}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
_PATHLIKE = re.compile(r"[\w./-]+\.[A-Za-z]{1,5}")
_SYMBOL_LINE = re.compile(
    r"^\s*(?:export\s+)?(?:pub\s+)?(?:async\s+)?(?:def|class|function|func|fn|interface|struct|type|enum)\s+"
    r"([A-Za-z_][A-Za-z0-9_]*)", re.M)
STOPWORDS = frozenset(
    "the and for with that this from are was were not but you your have has can should when then than "
    "into will would could there their what which while does did".split())


def estimate_tokens(text: str) -> int:
    """A cheap token estimate (about four characters a token)."""
    return (len(text) + 3) // 4


def split_identifier(word: str) -> list[str]:
    """`parseHTTPResponse_code` → parse, http, response, code (plus the whole word)."""
    parts = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+", word)
    pieces = [p.lower() for p in parts if len(p) > 1]
    return [word.lower(), *pieces] if len(pieces) > 1 else [word.lower()]


def terms(text: str) -> list[str]:
    """Search terms of a text: identifiers, split into their parts, minus stop words."""
    out: list[str] = []
    for word in _WORD.findall(text):
        out.extend(t for t in split_identifier(word) if t not in STOPWORDS)
    return out


def top_level_symbols(path: str, text: str) -> list[str]:
    """Classes, functions and constants defined at the top of a file (Python parsed exactly)."""
    if path.endswith(".py"):
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            return []
        names: list[str] = []
        for node in tree.body:
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                names.append(node.name)
            elif isinstance(node, ast.Assign):
                names.extend(t.id for t in node.targets if isinstance(t, ast.Name) and t.id.isupper())
        return names
    return _SYMBOL_LINE.findall(text)[:40]


@dataclass
class FileInfo:
    """One file of the repository, as the ranker sees it."""

    path: str
    text: str
    symbols: list[str]
    term_counts: Counter[str] = field(default_factory=Counter)


@dataclass
class RankedFile:
    """A file's score and where it came from (visible in debug output)."""

    path: str
    score: float
    signals: dict[str, float]


@dataclass
class RepoContext:
    """What the Planner is shown: the ranking, a compact map, and excerpts within budget."""

    ranked: list[RankedFile]
    repo_map: str
    excerpts: list[tuple[str, str]]
    tokens: int


def load_files(root: Path) -> list[FileInfo]:
    """Tracked text files of the work tree (skipping vendored, generated and large files)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    files: list[FileInfo] = []
    for raw in listed.split(b"\0"):
        rel = raw.decode("utf-8", "replace")
        if not rel or SKIP_PARTS.intersection(rel.split("/")) or Path(rel).suffix.lower() not in TEXT_SUFFIXES:
            continue
        full = root / rel
        if not full.is_file() or full.is_symlink() or full.stat().st_size > MAX_FILE_BYTES:
            continue
        text = full.read_text("utf-8", errors="replace")
        info = FileInfo(rel, text, top_level_symbols(rel, text))
        info.term_counts = Counter(terms(text) + terms(rel.replace("/", " ")))
        files.append(info)
    return files


def rank(files: list[FileInfo], issue_text: str) -> list[RankedFile]:
    """Score every file against the issue; highest first."""
    query = Counter(terms(issue_text))
    mentioned_paths = {m.strip("./") for m in _PATHLIKE.findall(issue_text)}
    identifiers = set(_WORD.findall(issue_text))
    bm25 = _bm25(files, query)
    ranked = []
    for info in files:
        signals = {"bm25": bm25.get(info.path, 0.0)}
        if any(info.path == p or info.path.endswith("/" + p) for p in mentioned_paths):
            signals["path_mentioned"] = 10.0
        elif Path(info.path).stem in identifiers:
            signals["name_mentioned"] = 4.0
        hits = [s for s in info.symbols if s in identifiers]
        if hits:
            signals["symbols_mentioned"] = 3.0 * len(hits)
        ranked.append(RankedFile(info.path, round(sum(signals.values()), 4), signals))
    ranked.sort(key=lambda r: (-r.score, r.path))
    return ranked


def _bm25(files: list[FileInfo], query: Counter[str], k1: float = 1.2, b: float = 0.75) -> dict[str, float]:
    if not files or not query:
        return {}
    avg_len = sum(sum(f.term_counts.values()) for f in files) / len(files) or 1.0
    doc_freq = Counter(t for f in files for t in set(f.term_counts) if t in query)
    scores: dict[str, float] = {}
    for info in files:
        length = sum(info.term_counts.values())
        score = 0.0
        for term in query:
            tf = info.term_counts.get(term, 0)
            if tf:
                idf = math.log(1 + (len(files) - doc_freq[term] + 0.5) / (doc_freq[term] + 0.5))
                score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg_len))
        if score:
            scores[info.path] = round(score, 4)
    return scores


def build_context(root: Path, issue_text: str, budget_tokens: int) -> RepoContext:
    """Rank the work tree's files against the issue and fit a map plus excerpts in the budget."""
    files = load_files(root)
    by_path = {f.path: f for f in files}
    ranked = rank(files, issue_text)
    map_budget = budget_tokens // 3
    lines: list[str] = []
    used = 0
    for entry in ranked:
        symbols = by_path[entry.path].symbols
        line = f"{entry.path}" + (f": {', '.join(symbols[:12])}" if symbols else "")
        cost = estimate_tokens(line) + 1
        if used + cost > map_budget:
            lines.append(f"... and {len(ranked) - len(lines)} more files (use search_code / read_file)")
            break
        lines.append(line)
        used += cost
    repo_map = "\n".join(lines)
    excerpts = _excerpts(ranked, by_path, issue_text, budget_tokens - used)
    tokens = used + sum(estimate_tokens(text) for _, text in excerpts)
    return RepoContext(ranked, repo_map, excerpts, tokens)


def _excerpts(ranked: list[RankedFile], by_path: dict[str, FileInfo], issue_text: str,
              budget: int) -> list[tuple[str, str]]:
    query = set(terms(issue_text))
    out: list[tuple[str, str]] = []
    for entry in ranked[:12]:
        if entry.score <= 0 or budget <= 200:
            break
        text = by_path[entry.path].text
        chunk = text if estimate_tokens(text) <= min(budget, 2500) else _window(text, query, min(budget, 2500))
        out.append((entry.path, chunk))
        budget -= estimate_tokens(chunk)
    return out


def _window(text: str, query: set[str], budget: int) -> str:
    """The lines around the densest matches of the query, numbered, within `budget` tokens."""
    lines = text.splitlines()
    weights = [sum(1 for t in terms(line) if t in query) for line in lines]
    order = sorted(range(len(lines)), key=lambda i: -weights[i])
    keep: set[int] = set()
    for i in order:
        if weights[i] == 0:
            break
        keep.update(range(max(0, i - 6), min(len(lines), i + 7)))
        if estimate_tokens("\n".join(lines[j] for j in keep)) > budget:
            break
    if not keep:
        keep = set(range(min(len(lines), budget // 12)))
    out, previous = [], -2
    for i in sorted(keep):
        if i != previous + 1:
            out.append("...")
        out.append(f"{i + 1:>5}  {lines[i]}")
        previous = i
    return "\n".join(out)
