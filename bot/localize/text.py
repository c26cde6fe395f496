"""Identifiers and search terms: the vocabulary shared by the index and the issue."""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
STOPWORDS = frozenset(
    "the and for with that this from are was were not but you your have has can should when then than "
    "into will would could there their what which while does did self none true false return def class "
    "import also just like some any all get set use used using been being its it's one two out only".split())


def estimate_tokens(text: str) -> int:
    """A cheap token estimate (about four characters a token)."""
    return (len(text) + 3) // 4


@lru_cache(maxsize=200_000)
def split_identifier(word: str) -> tuple[str, ...]:
    """`parseHTTPResponse_code` → the whole word (lowercased), then parse, http, response, code."""
    pieces = [p.lower() for p in _PARTS.findall(word) if len(p) > 1]
    return (word.lower(), *pieces) if len(pieces) > 1 else (word.lower(),)


@lru_cache(maxsize=200_000)
def _word_terms(word: str) -> tuple[str, ...]:
    return tuple(t for t in split_identifier(word) if t not in STOPWORDS)


def word_terms(word: str) -> tuple[str, ...]:
    """The search terms of one identifier (a `WORD` match), as `terms` gives them."""
    return _word_terms(word)


def terms(text: str) -> list[str]:
    """Search terms of a text: identifiers, split into their parts, minus stop words."""
    out: list[str] = []
    for word in WORD.findall(text):
        out.extend(_word_terms(word))
    return out


def term_counts(text: str) -> Counter[str]:
    """`Counter(terms(text))`, computed per distinct word (much faster on whole files)."""
    counts: Counter[str] = Counter()
    for word, count in Counter(WORD.findall(text)).items():
        for term in _word_terms(word):
            counts[term] += count
    return counts


def path_terms(path: str) -> list[str]:
    """Terms of a file path: its directory and file names, split like identifiers."""
    return terms(re.sub(r"[/.\-]", " ", path))
