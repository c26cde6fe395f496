"""The per-repository index: one record per file, BM25 postings, symbol and import tables.

A record depends only on a file's contents and path, so records are cached by blob id and path
(see `store`) and a new commit re-parses only the files whose blobs changed. The query-ready index
of a whole tree (postings, symbol table, resolved import graph) is cached by tree key.
"""

from __future__ import annotations

import itertools
import marshal
import mmap
import multiprocessing
import os
import re
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bot.core import treefiles
from bot.localize.parsing import parse_file
from bot.localize.text import path_terms, term_counts

PARALLEL_FROM = 300  # parse in worker processes from this many new files on
MAX_WORKERS = 8
INDEX_MAX_BYTES = 2_000_000  # larger files are indexed by path only; up to this their definitions count
MINIFIED_LINE = 1_000  # average characters a line from which a file is minified or generated: path only
PATH_TERM_WEIGHT = 3  # a path's words count as often as this in its file's bag of terms
# record: (definitions, imports, term counts, line count); a definition: (name, kind, start, end, parent)
Record = tuple[tuple[tuple[str, str, int, int, str], ...], tuple[str, ...], dict[str, int], int]
_TEST_PARTS = re.compile(
    r"(^|/)(tests?|testing|examples?|benchmarks?)/|(^|/)(test_[^/]*|[^/]*_tests?\.\w+|conftest\.py)$")
_DOC_SUFFIXES = (".md", ".rst", ".txt", ".json", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".html", ".css")


def make_record(path: str, data: bytes) -> Record:
    """Parse one file's contents into the record the index keeps."""
    if len(data) > INDEX_MAX_BYTES or b"\0" in data[:8192] or _minified(path, data):
        return name_only_record(path)
    parsed = parse_file(path, data)
    text = data.decode("utf-8", "replace")
    counts = term_counts(text)
    counts.update(path_terms(path) * PATH_TERM_WEIGHT)
    definitions = tuple((d.name, d.kind, d.start, d.end, d.parent) for d in parsed.definitions)
    return (definitions, parsed.imports, dict(counts), text.count("\n") + 1)


def _minified(path: str, data: bytes) -> bool:
    """A minified bundle (`x.min.js`) or one-line generated file: its words are noise."""
    if ".min." in path.rsplit("/", 1)[-1]:
        return True
    return len(data) > 2 * MINIFIED_LINE and len(data) / (data.count(b"\n") + 1) > MINIFIED_LINE


def name_only_record(path: str) -> Record:
    """The record of a file too large or too binary to parse: only its path's words."""
    return ((), (), dict(Counter(path_terms(path) * PATH_TERM_WEIGHT)), 0)


@dataclass
class BuildStats:
    """How an index came to be: from the tree cache, or built with `parsed` of `files` new."""

    files: int
    parsed: int
    from_tree_cache: bool
    seconds: float


Definition = tuple[str, str, int, int, str]


class Packed:
    """A list of byte strings kept as one buffer and their end offsets (cheap to store and load)."""

    def __init__(self, data: bytes | mmap.mmap, ends: array[int], start: int = 0) -> None:
        self.data, self.ends, self.start = data, ends, start

    @classmethod
    def of(cls, items: list[bytes]) -> Packed:
        """Pack `items`."""
        return cls(b"".join(items), array("Q", itertools.accumulate(map(len, items))))

    def __getitem__(self, number: int) -> bytes:
        begin = self.start + (self.ends[number - 1] if number else 0)
        return self.data[begin:self.start + self.ends[number]]

    def __len__(self) -> int:
        return len(self.ends)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Packed) and [*self] == [*other]

    def __iter__(self) -> Iterator[bytes]:
        return (self[n] for n in range(len(self)))

    def buffer(self) -> bytes:
        """The packed bytes (without any offset)."""
        return bytes(self.data[self.start:self.start + (self.ends[-1] if self.ends else 0)])
KIND_CODES = {"source": 0, "test": 1, "doc": 2}


@dataclass
class RepoIndex:
    """Everything the ranker needs about one tree, in compact plain types (cheap to cache and load).

    Per-file lists are indexed by file number (the position in `paths`). Definitions stay
    marshalled per file until asked for, so a query decodes only the files it looks at.
    """

    paths: list[str]
    packed_definitions: Packed  # file number → marshal of its definitions
    lines: array[int]
    doc_len: array[int]
    postings: Mapping[str, bytes]  # term → array('I') bytes of (file number, term count) pairs
    imports: list[list[int]]  # file number → file numbers it imports
    importers: list[list[int]]  # file number → file numbers importing it
    symbols: Mapping[str, bytes]  # definition name → array('I') bytes of the files defining it
    basenames: dict[str, list[int]]  # file name → files of that name
    kinds: bytes  # file number → KIND_CODES of its kind (source, test, doc)
    blobs: list[str] = field(default_factory=list)  # file number → git blob id (what a later tree reuses)
    import_names: list[tuple[str, ...]] = field(default_factory=list)  # file number → the modules it imports
    base: str = ""  # key of the cached tree this index was patched from (see `bot.localize.patch`); "": none
    stats: BuildStats | None = None
    _decoded: dict[int, tuple[Definition, ...]] = field(default_factory=dict, repr=False)
    _tails: dict[str, list[int]] | None = field(default=None, repr=False)  # last two path components → files

    def definitions(self, number: int) -> tuple[Definition, ...]:
        """The definitions of one file: (name, kind, start line, end line, parent)."""
        found = self._decoded.get(number)
        if found is None:
            found = self._decoded[number] = marshal.loads(self.packed_definitions[number])
        return found

    def term_postings(self, term: str) -> array[int]:
        """(file, count) pairs, flattened, of the files containing `term`."""
        pairs = array("I")
        raw = self.postings.get(term)
        if raw:
            pairs.frombytes(raw)
        return pairs

    def doc_freq(self, term: str) -> int:
        """How many files contain `term`."""
        return len(self.postings.get(term, b"")) // 8

    def definers(self, name: str) -> array[int]:
        """Numbers of the files defining `name`, ascending."""
        files = array("I")
        raw = self.symbols.get(name)
        if raw:
            files.frombytes(raw)
        return files

    def files_with_suffix(self, fragment: str) -> list[int]:
        """Files whose path is `fragment` or ends with `/fragment`."""
        fragment = fragment.strip("/")
        parts = fragment.rsplit("/", 2)
        if len(parts) == 1:
            return self.basenames.get(fragment, [])
        if self._tails is not None:  # while building: many lookups, so a table by the last two components
            named = self._tails.get("/".join(parts[-2:]), [])
            if len(parts) == 2:
                return named
        else:
            named = self.basenames.get(parts[-1], [])
        tail = "/" + fragment
        return [n for n in named if self.paths[n] == fragment or self.paths[n].endswith(tail)]

    def resolve_module(self, dotted: str) -> list[int]:
        """Files of a dotted module name (`a.b.c` → a/b/c.py or a/b/c/__init__.py), else of its parent."""
        parts = [p for p in dotted.split(".") if p]
        for end in range(len(parts), 0, -1):
            stem = "/".join(parts[:end])
            found = self.files_with_suffix(stem + ".py") or self.files_with_suffix(stem + "/__init__.py")
            if found:
                return found if len(found) <= 3 else []
        return []


def symbol_table(definitions: list[tuple[Definition, ...]]) -> dict[str, bytes]:
    """Definition name → array('I') bytes of the numbers of the files defining it."""
    table: dict[str, array[int]] = defaultdict(lambda: array("I"))
    for number, names in enumerate(definitions):
        for name in {d[0] for d in names}:
            table[name].append(number)
    return {name: files.tobytes() for name, files in table.items()}


def basename_table(paths: list[str]) -> dict[str, list[int]]:
    """File name → the numbers of the files with that name."""
    table: dict[str, list[int]] = defaultdict(list)
    for number, path in enumerate(paths):
        table[path.rsplit("/", 1)[-1]].append(number)
    return dict(table)


def assemble(paths: list[str], records: list[Record], blobs: list[str] | None = None) -> RepoIndex:
    """The query-ready index of files with these records (postings, import graph)."""
    postings: dict[str, array[int]] = {}
    new = postings.setdefault
    for number, (_, _, counts, _) in enumerate(records):
        for term, count in counts.items():
            pairs = postings.get(term) or new(term, array("I"))
            pairs.append(number)
            pairs.append(count)
    definitions = [r[0] for r in records]
    index = RepoIndex(paths=paths, packed_definitions=Packed.of([marshal.dumps(d) for d in definitions]),
                      lines=array("I", [r[3] for r in records]),
                      doc_len=array("I", [sum(r[2].values()) for r in records]),
                      postings={t: p.tobytes() for t, p in postings.items()}, imports=[], importers=[],
                      symbols=symbol_table(definitions), basenames=basename_table(paths),
                      kinds=bytes(KIND_CODES[kind_of(path)] for path in paths), blobs=list(blobs or []),
                      import_names=[r[1] for r in records])
    link_imports(index)
    return index


def link_imports(index: RepoIndex, known: Mapping[int, list[int]] | None = None) -> None:
    """Resolve every file's `import_names` to files of the index: its `imports` and `importers`.

    Resolution depends on every path of the tree; `known` gives files whose imports are already
    resolved against these very paths (an earlier tree with the same paths).
    """
    tails: dict[str, list[int]] = defaultdict(list)
    for number, path in enumerate(index.paths):
        tails["/".join(path.rsplit("/", 2)[-2:])].append(number)
    index._tails = dict(tails)
    modules: dict[str, list[int]] = {}
    known = known or {}
    index.imports = [known[number] if number in known else _resolve_imports(index, number, names, modules)
                     for number, names in enumerate(index.import_names)]
    index._tails = None
    importers: list[list[int]] = [[] for _ in index.paths]
    for number, targets in enumerate(index.imports):
        for target in targets:
            importers[target].append(number)
    index.importers = importers


def kind_of(path: str) -> str:
    """source, test (tests, examples, benchmarks) or doc (documentation, data, configuration)."""
    if path.lower().endswith(_DOC_SUFFIXES) or path.startswith(("docs/", "doc/")):
        return "doc"
    return "test" if _TEST_PARTS.search(path) else "source"


def _resolve_imports(index: RepoIndex, number: int, modules: Iterable[str], known: dict[str, list[int]]
                     ) -> list[int]:
    targets: set[int] = set()
    for module in modules:
        if module.startswith((".", "/")) or "/" in module:
            continue  # JS-style relative paths are matched below by file stem
        found = known.get(module)
        if found is None:
            found = known[module] = index.resolve_module(module)
        targets.update(found)
    targets.discard(number)
    return sorted(targets)


def parse_many(root: Path, paths: list[str]) -> list[Record | None]:
    """Records of these files, in order (None for a file not read); in parallel processes when there are many."""
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    if len(paths) < PARALLEL_FROM or workers < 2:
        return _parse_chunk(str(root), paths)
    size = -(-len(paths) // (workers * 4))
    chunks = [paths[start:start + size] for start in range(0, len(paths), size)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = pool.map(_parse_chunk, [str(root)] * len(chunks), chunks)
        return [record for chunk in done for record in chunk]


def _parse_chunk(root: str, paths: list[str]) -> list[Record | None]:
    return [_record_of(Path(root), path) for path in paths]


def record_key(path: str, blob: str) -> str:
    """Records are cached per blob and path (a record holds the path's words and resolved imports)."""
    return f"{blob} {path}"


def _record_of(root: Path, path: str) -> Record | None:
    """The record of a tracked file as it is on disk, or None when it is not a regular file of the tree.

    Read through `bot.core.treefiles`: a file that became a symlink, or sits in a folder that did
    (the tests may swap one), is left out of the index, never followed.
    """
    try:
        return make_record(path, treefiles.read_bytes(root, path, INDEX_MAX_BYTES))
    except treefiles.TooLarge:
        return name_only_record(path)
    except (treefiles.TreeFileError, OSError):
        return None
