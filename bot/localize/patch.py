"""The index of a new tree made from an earlier tree's index and the records of the files that changed.

A file keeps its record while its path and blob stay the same, so a new commit's index is the
earlier one with the changed, added and removed files swapped. File numbers are positions in the
sorted paths (as in a full build), so an added or removed file renumbers the files after it.
The postings and the symbol table are not rewritten for that: `PatchedTable` renumbers the earlier
table's entries when a query asks for a term, and adds the new files' entries. Everything else
(paths, per-file arrays, the import graph) is rebuilt, which costs little per file; the imports of
kept files are resolved again only when a file was added or removed.

The result equals a full build of the new tree (`tests/unit/localize/test_incremental_index.py`).
"""

from __future__ import annotations

import marshal
from array import array
from collections import defaultdict
from collections.abc import Iterator, Mapping

from bot.localize.index import KIND_CODES, Packed, Record, RepoIndex, basename_table, kind_of, link_imports

DROPPED = 0xFFFFFFFF  # in a renumbering: the earlier file is not in the new tree (or its blob changed)


class PatchedTable(Mapping[str, bytes]):
    """An earlier tree's term → array('I') table, renumbered to the new tree, plus the new files' entries.

    `width` is 2 for postings ((file, count) pairs) and 1 for the symbol table (files). An entry is
    computed when first asked for; entries left with no file are absent, as in a full build.
    """

    def __init__(self, base: Mapping[str, bytes], renumber: array[int], added: Mapping[str, bytes],
                 width: int) -> None:
        self.base, self.renumber, self.added, self.width = base, renumber, added, width
        self._numbers = renumber.tolist()
        self._first_moved = next((old for old, new in enumerate(self._numbers) if new != old), len(self._numbers))
        self._done: dict[str, bytes] = {}

    def __getitem__(self, key: str) -> bytes:
        found = self._done.get(key)
        if found is None:
            found = self._done[key] = self._patch(key)
        if not found:
            raise KeyError(key)
        return found

    def _patch(self, key: str) -> bytes:
        old, new = self.base.get(key), self.added.get(key)
        if not old:
            return new or b""
        width = self.width
        entries = array("I")
        entries.frombytes(old)
        if entries[-width] < self._first_moved and not new:
            return bytes(old)  # every file of this entry kept its number
        numbers = self._numbers
        kept = [(numbers[entries[i]], entries[i + 1:i + width]) for i in range(0, len(entries), width)
                if numbers[entries[i]] != DROPPED]
        if new:
            fresh = array("I")
            fresh.frombytes(new)
            kept.extend((fresh[i], fresh[i + 1:i + width]) for i in range(0, len(fresh), width))
            kept.sort(key=lambda item: item[0])
        out = array("I")
        for number, rest in kept:
            out.append(number)
            out.extend(rest)
        return out.tobytes()

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __iter__(self) -> Iterator[str]:
        for key in dict.fromkeys([*self.base, *self.added]):
            if self._done.get(key) or (key not in self._done and self._fill(key)):
                yield key

    def _fill(self, key: str) -> bytes:
        found = self._done[key] = self._patch(key)
        return found


def renumbering(base: RepoIndex, paths: list[str], fresh: Mapping[str, Record]) -> array[int]:
    """Earlier file number → its number among `paths`, or `DROPPED` (gone, or one of the `fresh` files)."""
    position = {path: number for number, path in enumerate(paths)}
    return array("I", [DROPPED if path in fresh else position.get(path, DROPPED) for path in base.paths])


def patch(base: RepoIndex, base_key: str, kept: set[str], fresh: Mapping[str, Record],
          blobs: Mapping[str, str]) -> RepoIndex:
    """The index of the tree holding the `kept` files of `base` (same path, same blob) and the `fresh` ones.

    `base` must be a full build (its tables plain); `blobs` gives every new file's blob id.
    """
    paths = sorted(kept | fresh.keys())
    renumber = renumbering(base, paths, fresh)
    old = {new: number for number, new in enumerate(renumber) if new != DROPPED}
    definitions: list[bytes] = []
    lines, doc_len = array("I"), array("I")
    kinds = bytearray()
    import_names: list[tuple[str, ...]] = []
    for number, path in enumerate(paths):
        record = fresh.get(path)
        if record is None:
            was = old[number]
            definitions.append(base.packed_definitions[was])
            lines.append(base.lines[was])
            doc_len.append(base.doc_len[was])
            kinds.append(base.kinds[was])
            import_names.append(base.import_names[was])
        else:
            definitions.append(marshal.dumps(record[0]))
            lines.append(record[3])
            doc_len.append(sum(record[2].values()))
            kinds.append(KIND_CODES[kind_of(path)])
            import_names.append(record[1])
    postings, symbols = _added(paths, fresh)
    index = RepoIndex(paths=paths, packed_definitions=Packed.of(definitions), lines=lines, doc_len=doc_len,
                      postings=PatchedTable(base.postings, renumber, postings, 2), imports=[], importers=[],
                      symbols=PatchedTable(base.symbols, renumber, symbols, 1), basenames=basename_table(paths),
                      kinds=bytes(kinds), blobs=[blobs[path] for path in paths], import_names=import_names,
                      base=base_key)
    same_paths = paths == base.paths  # then the kept files' imports resolve as they did
    link_imports(index, {number: base.imports[number] for number in old} if same_paths else None)
    return index


def _added(paths: list[str], fresh: Mapping[str, Record]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The postings and symbol entries of the fresh files, numbered among `paths`."""
    postings: dict[str, array[int]] = defaultdict(lambda: array("I"))
    symbols: dict[str, array[int]] = defaultdict(lambda: array("I"))
    for number, path in enumerate(paths):
        record = fresh.get(path)
        if record is None:
            continue
        for term, count in record[2].items():
            postings[term].extend((number, count))
        for name in {d[0] for d in record[0]}:
            symbols[name].append(number)
    return ({term: pairs.tobytes() for term, pairs in postings.items()},
            {name: files.tobytes() for name, files in symbols.items()})
