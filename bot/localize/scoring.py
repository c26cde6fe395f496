"""Ranking files against an issue: the signals and their one combination.

Each signal is a number in [0, 1] per file:

* `path`: the file is named in the issue (a path or a traceback frame); 1 / number of files the
  mention fits; a traceback's files 0.5 for the innermost in the repository, × 0.6 for each file further out;
* `module`: a dotted name in the issue (`pkg.mod.func`, `from pkg.mod import x`) is this module; half
  for a module only imported, 0.3 for a top-level package's `__init__.py`;
* `name`: the file's name (without suffix) is a word of the issue (`L031` → `rules/L031.py`), not the
  project's own name (a top-level package); half for a plain word most files use (`path`, `plot`);
* `definition`: the file defines identifiers the issue mentions; each name adds its weight
  (code 1, prose 0.25; doubled in the title, and again for `Owner.member` when
  the file defines both) divided by how
  many files define it; the sum is squashed with 1 - e^(-x/2);
* `graph`: the file is next to a seed (a file with one of the signals above) in the import /
  call graph: it defines a name called inside a mentioned definition (0.5 of the seed's
  strength) or imports / is imported by the seed (0.15); squashed like `definition`;
* `bm25`: BM25 of the issue's terms over the file's identifier-split terms, divided by the
  best file's.

    score = prior(kind) × Σ WEIGHTS[signal] × signal

except that of `path`, `module` and `name` (three ways of naming the same file) only the largest
weighted one counts, and where prior is 1 for source files, 0.5 for tests and examples, 0.3 for docs and data files,
times 0.3 for code in another language than the repository's main one (unless the issue names such a file).
Recency is not a signal. `RankedFile.signals` holds each weighted contribution for --explain.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bot.core import treefiles
from bot.localize.index import INDEX_MAX_BYTES, KIND_CODES, RepoIndex, kind_of
from bot.localize.issue import IssueMentions, PathMention
from bot.localize.text import WORD

__all__ = ["RankedFile", "kind_of", "rank"]

WEIGHTS = {"path": 3.0, "module": 2.0, "name": 1.5, "definition": 2.0, "graph": 1.0, "bm25": 1.5}
PRIORS = {"source": 1.0, "test": 0.5, "doc": 0.3}
MAX_DEFINERS = 25  # a name defined in more files than this says nothing about where to look
MAX_MATCHES = 5  # a path or module mention that fits more files than this is ignored
BM25_K1, BM25_B = 1.2, 0.75
MAX_QUERY_TERMS = 120
PACKAGE_ROOT_FACTOR = 0.3
SQUASH_SCALE = 2.0  # sums are squashed as 1 - e^(-x / SQUASH_SCALE)
MENTION_SIGNALS = ("path", "module", "name")  # one mention, three spellings: only the strongest counts
IMPORT_FACTOR = 0.5  # a module only imported (a reproducer's `import pkg.mod`) is a weaker mention
COMMON_NAME_SHARE = 0.02  # a plain word used in more than this share of files is a common word ...
COMMON_NAME_FACTOR = 0.5  # ... and names a file of that name this much less (`plot`, `figure`, `path`)
COMMON_NAME_FILES = 5  # (and in more files than this, whatever the repository's size)
FOREIGN_PRIOR = 0.3  # a source file in another language than the repository's main one (vendored JS, C)
FRAME_WEIGHT = 0.5  # a traceback's innermost repository file: where it broke, often not the place to change
FRAME_DECAY = 0.6  # each file further out counts this much less, so a long traceback does not crowd out the rest
SITE_DIRS = frozenset({"site-packages", "dist-packages"})
CODE_LANGUAGES = (frozenset({".py", ".pyi", ".pyx"}), frozenset({".js", ".jsx", ".mjs", ".ts", ".tsx", ".vue",
                                                                 ".svelte"}),
                  frozenset({".c", ".h", ".cc", ".cpp", ".hpp"}))


@dataclass
class RankedFile:
    """A file's score and where it came from (visible in debug output)."""

    path: str
    score: float
    signals: dict[str, float]


def rank(index: RepoIndex, mentions: IssueMentions, root: Path | None = None) -> list[RankedFile]:
    """Every file with a non-zero score, best first (ties by path)."""
    raw: dict[str, dict[int, float]] = {
        "path": path_signal(index, mentions),
        "module": module_signal(index, mentions),
        "name": name_signal(index, mentions),
        "definition": definition_signal(index, mentions),
        "bm25": bm25_signal(index, mentions),
    }
    raw["graph"] = graph_signal(index, mentions, raw, root)
    totals: dict[int, dict[str, float]] = defaultdict(dict)
    for signal, values in raw.items():
        for number, value in values.items():
            if value > 0:
                totals[number][signal] = WEIGHTS[signal] * value
    for parts in totals.values():
        if len(parts) == 1:
            continue
        strongest = max((s for s in MENTION_SIGNALS if s in parts), key=lambda s: parts[s], default=None)
        for signal in MENTION_SIGNALS:
            if signal != strongest:
                parts.pop(signal, None)
    priors = [PRIORS[kind] for kind in sorted(KIND_CODES, key=KIND_CODES.__getitem__)]
    kinds, paths = index.kinds, index.paths
    # an issue that names a file of another language (`_speedups.c`) is about that language too
    foreign = _foreign_suffixes(index) - {_suffix(m.fragment) for m in mentions.paths}
    ranked = []
    for number, parts in totals.items():
        prior = priors[kinds[number]]
        if foreign and "path" not in parts and _suffix(paths[number]) in foreign:
            prior *= FOREIGN_PRIOR
        if len(parts) == 1:  # most files: one signal (usually a little BM25)
            (name, value), = parts.items()
            weighted = round(prior * value, 4)
            ranked.append(RankedFile(paths[number], round(weighted, 4), {name: weighted}))
            continue
        signals = {name: round(prior * value, 4) for name, value in parts.items()}
        ranked.append(RankedFile(paths[number], round(sum(signals.values()), 4), signals))
    ranked.sort(key=lambda r: (-r.score, r.path))
    return ranked


def _suffix(path: str) -> str:
    dot = path.rfind(".")
    return path[dot:].lower() if dot > path.rfind("/") else ""


def _foreign_suffixes(index: RepoIndex) -> frozenset[str]:
    """Code suffixes of the languages other than the one most of the repository's source files are in."""
    counts = [0] * len(CODE_LANGUAGES)
    source = KIND_CODES["source"]
    for number, path in enumerate(index.paths):
        if index.kinds[number] == source:
            suffix = _suffix(path)
            for position, language in enumerate(CODE_LANGUAGES):
                if suffix in language:
                    counts[position] += 1
    if not any(counts):
        return frozenset()
    main = counts.index(max(counts))
    return frozenset().union(*(lang for position, lang in enumerate(CODE_LANGUAGES) if position != main))


def top_packages(index: RepoIndex) -> set[str]:
    """Names of the repository's top-level Python packages (`src/pkg/__init__.py` → pkg): the project's own name."""
    inits = {index.paths[n][:-len("/__init__.py")] for n in index.basenames.get("__init__.py", [])}
    return {directory.rsplit("/", 1)[-1] for directory in inits
            if "/" not in directory or directory.rsplit("/", 1)[0] not in inits}


def _squash(value: float) -> float:
    return 1.0 - math.exp(-value / SQUASH_SCALE)


def path_signal(index: RepoIndex, mentions: IssueMentions) -> dict[int, float]:
    """Files named by a path in the issue; for an absolute path, its longest suffix that fits."""
    scores: dict[int, float] = {}
    found = [(m, _longest_suffix_match(index, m)) for m in mentions.paths]
    found = [(m, matches) for m, matches in found if matches and len(matches) <= MAX_MATCHES]
    # frames' files from the innermost out (a file with several frames counts once, at its innermost)
    framed = list(dict.fromkeys(tuple(matches) for m, matches in reversed(found) if m.in_traceback))
    for mention, matches in found:
        strength = 1.0 / len(matches)
        if mention.in_traceback:  # the innermost frame in the repository is where it broke, or near it
            strength *= FRAME_WEIGHT * FRAME_DECAY ** framed.index(tuple(matches))
        for number in matches:
            scores[number] = max(scores.get(number, 0.0), strength)
    return scores


def _longest_suffix_match(index: RepoIndex, mention: PathMention) -> list[int]:
    """The files the longest suffix of a path fits. A traceback frame or an absolute path must fit with a
    directory and its file (the user's `/home/me/manage.py` is not the repository's `manage.py`), and a path
    inside site-packages with all of what follows site-packages (`site-packages/requests/utils.py` is
    not the repository's `pkg/utils.py`)."""
    fragment = mention.fragment
    parts = [p for p in fragment.split("/") if p not in ("", ".", "..")]
    shortest = 1
    if mention.in_traceback or fragment.startswith("/") or fragment[1:3] == ":/":
        shortest = 2
    site = [position for position, part in enumerate(parts) if part in SITE_DIRS]
    if site:
        parts = parts[site[-1] + 1:]
        shortest = max(len(parts), 1)
    for start in range(len(parts) - shortest + 1):
        found = index.files_with_suffix("/".join(parts[start:]))
        if found:
            return found
    return []


def module_signal(index: RepoIndex, mentions: IssueMentions) -> dict[int, float]:
    """Modules named by dotted names (`a.b.c` is a/b/c.py, or a/b.py defining c)."""
    scores: dict[int, float] = {}
    for dotted in mentions.dotted:
        if "." not in dotted:
            continue
        matches = index.resolve_module(dotted)
        for number in matches:
            strength = 1.0 / len(matches)
            if dotted in mentions.imported:
                strength *= IMPORT_FACTOR
            if _is_package_root(index, index.paths[number]):
                strength *= PACKAGE_ROOT_FACTOR  # `pkg.Name` says more about Name than about pkg/__init__.py
            scores[number] = max(scores.get(number, 0.0), strength)
    return scores


def _is_package_root(index: RepoIndex, path: str) -> bool:
    """A top-level package's `__init__.py` (`pkg/__init__.py`, `src/pkg/__init__.py`): not inside another package."""
    if not path.endswith("/__init__.py") and path != "__init__.py":
        return False
    if path.count("/") <= 1:
        return True
    parent = path.rsplit("/", 2)[0] + "/__init__.py"
    return not any(index.paths[n] == parent for n in index.basenames.get("__init__.py", []))


def name_signal(index: RepoIndex, mentions: IssueMentions) -> dict[int, float]:
    """Files whose name (without suffix, not `__init__`) is an identifier of the issue."""
    by_stem: dict[str, list[int]] = defaultdict(list)
    own = top_packages(index)  # `django` in a Django issue is the project, not django/.../django.py
    for basename, numbers in index.basenames.items():
        stem = basename.split(".", 1)[0]
        if stem in mentions.identifiers and not stem.startswith("__") and stem not in own:
            by_stem[stem].extend(numbers)
    for numbers in by_stem.values():
        numbers.sort()
    scores: dict[int, float] = {}
    for stem, numbers in by_stem.items():
        if len(numbers) <= MAX_MATCHES:
            value = min(1.0, mentions.identifiers[stem]) / len(numbers)
            if _common_word(index, stem):
                value *= COMMON_NAME_FACTOR
            for number in numbers:
                scores[number] = max(scores.get(number, 0.0), value)
    return scores


def _common_word(index: RepoIndex, stem: str) -> bool:
    """A plain lowercase word (not `L031`, `json_utils`) used in many of the repository's files."""
    if not stem.isalpha() or not stem.islower():
        return False
    return index.doc_freq(stem) > max(COMMON_NAME_FILES, COMMON_NAME_SHARE * len(index.paths))


def definition_signal(index: RepoIndex, mentions: IssueMentions) -> dict[int, float]:
    """Files defining the identifiers of the issue, rarer names counting more."""
    owners = {owner for owner, _ in mentions.qualified}
    sums: dict[int, float] = defaultdict(float)
    for name, weight in mentions.identifiers.items():
        definers = index.definers(name)
        if not definers or len(definers) > MAX_DEFINERS:
            continue
        for number in definers:
            qualified = any(d[0] == name and d[4] in owners and (d[4], name) in mentions.qualified
                            for d in index.definitions(number))
            sums[number] += weight * (2.0 if qualified else 1.0) / len(definers)
    return {number: _squash(value) for number, value in sums.items()}


def bm25_signal(index: RepoIndex, mentions: IssueMentions) -> dict[int, float]:
    """BM25 over identifier-split terms, scaled so the best file has 1."""
    count = len(index.paths)
    if not count or not mentions.query:
        return {}
    average = sum(index.doc_len) / count or 1.0
    query = sorted(mentions.query.items(), key=lambda item: index.doc_freq(item[0]) or count)[:MAX_QUERY_TERMS]
    scores: dict[int, float] = defaultdict(float)
    for term, query_count in query:
        freq = index.doc_freq(term)
        if not freq:
            continue
        idf = math.log(1 + (count - freq + 0.5) / (freq + 0.5)) * (1 + math.log(query_count))
        pairs = index.term_postings(term)
        for i in range(0, len(pairs), 2):
            number, tf = pairs[i], pairs[i + 1]
            norm = BM25_K1 * (1 - BM25_B + BM25_B * index.doc_len[number] / average)
            scores[number] += idf * tf * (BM25_K1 + 1) / (tf + norm)
    best = max(scores.values(), default=0.0) or 1.0
    return {number: value / best for number, value in scores.items()}


def graph_signal(index: RepoIndex, mentions: IssueMentions, raw: dict[str, dict[int, float]],
                 root: Path | None) -> dict[int, float]:
    """Neighbours of the seed files in the call and import graph."""
    seeds: dict[int, float] = defaultdict(float)
    for signal in ("path", "module", "name", "definition"):
        for number, value in raw[signal].items():
            seeds[number] = max(seeds[number], value)
    sums: dict[int, float] = defaultdict(float)
    for seed, strength in sorted(seeds.items(), key=lambda item: -item[1])[:10]:
        neighbours = set(index.imports[seed]) | set(index.importers[seed])
        for number in neighbours:
            sums[number] += 0.15 * strength / math.sqrt(len(neighbours))
        for number in _callees(index, seed, mentions, root):
            sums[number] += 0.5 * strength
    return {number: _squash(value) for number, value in sums.items() if number not in seeds}


def _callees(index: RepoIndex, seed: int, mentions: IssueMentions, root: Path | None) -> set[int]:
    """Files defining names used inside the seed's definitions that the issue mentions."""
    if root is None:
        return set()
    spans = [(d[2], d[3]) for d in index.definitions(seed) if mentions.identifiers.get(d[0], 0) >= 1.0]
    if not spans:
        return set()
    try:  # never through a link (see bot.core.treefiles)
        lines = treefiles.read_text(root, index.paths[seed], INDEX_MAX_BYTES).splitlines()
    except (treefiles.TreeFileError, OSError):
        return set()
    used = {word for start, end in spans[:5] for line in lines[start - 1:end] for word in WORD.findall(line)}
    reachable = set(index.imports[seed]) | {seed}
    found: set[int] = set()
    for word in used - set(mentions.identifiers):
        definers = index.definers(word)
        if 0 < len(definers) <= 3:
            found.update(n for n in definers if n in reachable or len(definers) == 1)
    found.discard(seed)
    return found
