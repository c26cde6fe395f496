"""What an issue mentions: file paths, traceback frames, dotted names, identifiers, quoted code.

Nothing here knows the repository; `scoring` matches these mentions against the index.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass, field

from bot.localize.snapshot import TEXT_SUFFIXES
from bot.localize.text import STOPWORDS, WORD, terms

CODE_WEIGHT = 1.0  # an identifier written as code: in backticks or a code block, snake/camel case, dotted, called
PROSE_WEIGHT = 0.25  # a plain word that happens to be a definition's name
_FENCE = re.compile(r"```.*?(?:```|$)|`[^`\n]+`", re.S)
_TRACEBACK_FRAME = re.compile(r'File "([^"]+)", line (\d+)(?:, in (\w+))?')
# The source line a traceback prints under a frame is the library's code, not the reporter's words.
_FRAME_SOURCE = re.compile(r'^([ \t]*File "[^"]+", line \d+[^\n]*\n)[ \t]+[^\n]*$', re.M)
_SUFFIXES = "|".join(sorted((s[1:] for s in TEXT_SUFFIXES), key=len, reverse=True))
_PATH = re.compile(rf"(?<![\w/.-])((?:[\w.-]+[/\\])*[\w-]+\.(?:{_SUFFIXES}))(?![\w])")
_DOTTED = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+)")
_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import\s+([\w, ()]+)|import\s+([\w., ]+))", re.M)
_CALLED = re.compile(r"([A-Za-z_]\w*)\s*\(")
# A fence's info string (```python, ~~~ pycon) names a language, not a file or an identifier.
_FENCE_TAG = re.compile(r"^([ \t]*)(`{3,}|~{3,})[ \t]*[\w+.#-]*[ \t]*$", re.M)
# Bug-report templates ask for versions; these names say nothing about where the bug is.
NOISE_NAMES = frozenset({"version", "__version__", "__pkginfo__", "VERSION", "version_info", "numversion"})
INNER_FRAMES = 2  # the functions of a traceback's innermost frames count as code; the callers' as prose
TITLE_WEIGHT = 2  # the title's terms and identifiers count twice (in BM25 and for definitions)


@dataclass(frozen=True)
class PathMention:
    """A file path in the issue: written out, or a traceback frame (`order` counts frames)."""

    fragment: str
    in_traceback: bool = False
    function: str = ""
    order: int = 0


@dataclass
class IssueMentions:
    """Everything the scorer looks for, extracted once per issue."""

    paths: list[PathMention] = field(default_factory=list)
    dotted: list[str] = field(default_factory=list)
    identifiers: dict[str, float] = field(default_factory=dict)  # name → weight (code or prose)
    qualified: set[tuple[str, str]] = field(default_factory=set)  # (owner, member) from `Owner.member`
    imported: set[str] = field(default_factory=set)  # dotted names seen only in import statements
    query: Counter[str] = field(default_factory=Counter)  # BM25 query terms


def code_spans(text: str) -> list[str]:
    """The code quoted in an issue: fenced blocks and inline backtick spans."""
    return [m.group(0).strip("`") for m in _FENCE.finditer(text)]


def extract(text: str) -> IssueMentions:
    """Parse an issue's title and body into mentions."""
    mentions = IssueMentions()
    text = _FENCE_TAG.sub(r"\1\2", text)
    code = "\n".join(code_spans(text))
    frames = _TRACEBACK_FRAME.findall(text)
    for order, (path, _line, function) in enumerate(frames):
        mentions.paths.append(PathMention(_normalize(path), True, function, order + 1))
    framed = {m.fragment for m in mentions.paths}
    for raw in _PATH.findall(text):
        fragment = _normalize(raw)
        if fragment not in framed:
            mentions.paths.append(PathMention(fragment))
            framed.add(fragment)
    prose = _TRACEBACK_FRAME.sub(" ", _PATH.sub(" ", text))  # a path's words are not identifiers
    code = _TRACEBACK_FRAME.sub(" ", _PATH.sub(" ", code))
    own = _FRAME_SOURCE.sub(r"\1", text)  # without the source lines of traceback frames
    own_code = "\n".join(code_spans(own))
    written, imported = _dotted_names(_TRACEBACK_FRAME.sub(" ", _PATH.sub(" ", own)),
                                      _TRACEBACK_FRAME.sub(" ", _PATH.sub(" ", own_code)))
    mentions.dotted = [n for n in dict.fromkeys(written + imported) if not NOISE_NAMES & set(n.split("."))]
    mentions.imported = set(imported) - set(written)
    for name in mentions.dotted:
        parts = name.split(".")
        mentions.qualified.update(itertools.pairwise(parts))
    mentions.identifiers = {name: weight for name, weight in _identifiers(prose, code, mentions).items()
                            if name not in NOISE_NAMES}
    for name in _through_imported_modules(code, text):
        if name in mentions.identifiers:
            mentions.identifiers[name] = PROSE_WEIGHT
    title = text.strip().split("\n", 1)[0]
    for word in set(WORD.findall(title)) & set(mentions.identifiers):
        mentions.identifiers[word] *= TITLE_WEIGHT
    mentions.query = Counter(terms(text))
    mentions.query.update(terms(title) * (TITLE_WEIGHT - 1))
    return mentions


def _normalize(path: str) -> str:
    path = path.replace("\\", "/")
    return path[2:] if path.startswith("./") else path


def _dotted_names(text: str, code: str) -> tuple[list[str], list[str]]:
    """Dotted names written in the text, and those only in import statements (a reproducer's imports
    say which library is used, not which module is wrong)."""
    written = [m for m in _DOTTED.findall(_IMPORT.sub(" ", text)) if not _looks_like_file(m)]
    names: list[str] = []
    for found in _IMPORT.finditer(code):
        module, members, plain = found.groups()
        if module:
            names.append(module)
            names.extend(f"{module}.{m.strip()}" for m in members.strip("() ").split(",") if m.strip())
        elif plain:
            names.extend(p.split(" as ")[0].strip() for p in plain.split(","))
    return written, [n for n in names if n]


def _through_imported_modules(code: str, text: str) -> set[str]:
    """Names a reproducer only imports, or only reaches through a submodule it imports whole
    (`import a.pyplot as plt` then `plt.subplots()`): the library's entry points used to show the
    bug, not where it is. (Through a top-level package, `pv.RectilinearGrid`, the name is the subject.)"""
    aliases: set[str] = set()
    imported: set[str] = set()
    for found in _IMPORT.finditer(code):
        imported.update(WORD.findall(found.group(0)))
        for part in (found.group(3) or "").split(","):
            module, _, alias = part.strip().partition(" as ")
            if "." in module:  # `import pkg as p` then `p.Thing` names Thing itself; a submodule is a facade
                aliases.add(alias.strip() or module.strip())
    aliases.discard("")
    if not aliases and not imported:
        return set()
    rest = _IMPORT.sub(" ", text)
    reached: set[str] = set()
    if aliases:
        pattern = re.compile(r"(?<![\w.])(" + "|".join(re.escape(a) for a in sorted(aliases)) + r")\.([A-Za-z_]\w*)")
        reached = {found.group(2) for found in pattern.finditer(code)}
        rest = pattern.sub(" ", rest)
    return (reached | imported) - set(WORD.findall(rest))


def _looks_like_file(name: str) -> bool:
    return "." + name.rsplit(".", 1)[-1].lower() in TEXT_SUFFIXES


def _identifiers(text: str, code: str, mentions: IssueMentions) -> dict[str, float]:
    weights: dict[str, float] = {}
    for word in WORD.findall(text):
        if word.lower() not in STOPWORDS:
            weights[word] = CODE_WEIGHT if _codeish(word) else PROSE_WEIGHT
    strong = set(WORD.findall(code)) | set(_CALLED.findall(text))
    strong.update(part for name in mentions.dotted for part in name.split("."))
    frames = [m for m in mentions.paths if m.in_traceback]
    strong.update(m.function for m in frames[-INNER_FRAMES:] if m.function)  # outer frames' functions: prose
    for word in strong:
        if word.lower() not in STOPWORDS and len(word) > 2:
            weights[word] = CODE_WEIGHT
    return weights


def _codeish(word: str) -> bool:
    """snake_case, camelCase, CONSTANT or Capitalized-inside words read as code."""
    return "_" in word or any(c.isupper() for c in word[1:]) or any(c.isdigit() for c in word)
