"""Applying the Coder's edits to a work tree, each one verified at once.

An edit (`replace`, `create`, `delete`) either applies completely or raises `EditError` and
leaves the tree exactly as it was. It is refused when:

* the path is not a plain relative path inside the tree, is inside `.git`, is blocked
  (`.github/workflows/**` by default, even when the plan names it), or is outside the
  `Scope` (the plan's files plus optional globs such as test paths);
* the path, or any folder on the way to it, is a symlink, or the file is not a regular file:
  files are opened through `bot.core.treefiles`, which never follows a link, so neither a link the
  repository committed nor one its tests left behind can lead a read or a write out of the tree;
* `replace`'s `old` text does not match exactly once: no match gives the closest text with
  its line numbers and similarity; several matches give their line numbers;
* the result no longer parses (`.py`, `.pyi`, `.json`, `.toml`; see `check_syntax`).

Matching is exact first. Only when there is no exact match, these repairs are tried in turn,
each accepted only when it gives exactly one match (`EditResult.note` then says which, and the
diff shows what changed):

* a match that differs solely in spaces and tabs at line ends (models drop or add them);
* a match of whole lines whose indentation is uniformly shifted (the model re-indented what it
  copied): `new` is re-based onto the file's indentation, line by line (refused when a line of
  `new` is indented less than `old`'s common indentation, which cannot be re-based);
* `old` with line-number prefixes stripped, when every line carries one and the numbers count up
  by one (`view_file` shows `    12\t`, `read_file` `   12  `; also `12: ` and `12 | `); `new` is
  stripped too when every one of its lines carries such a prefix;
* `old` with diff markers stripped, when every line starts with `+`, `-` or a space and at least
  one with `+` or `-` (a pasted hunk); `new` likewise.

`write` replaces a whole file, only a small one (`WRITE_MAX_LINES` lines and `WRITE_MAX_BYTES`
bytes): weak models rewrite small files more reliably than they quote them, and a large file
rewritten whole is where parts silently go missing. A path that does not exist is answered with
the closest existing paths (`bot.workspace.nearby`).

Files keep their newline convention: in a file that uses CRLF throughout, `old` and `new`
are matched and written with CRLF whatever the model sent; in an LF file, CRLF in `old`
and `new` is read as LF; files mixing both are matched byte for byte.
"""

from __future__ import annotations

import difflib
import fnmatch
import itertools
import json
import re
import tomllib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal, TypeVar

from bot.config.policy import DEFAULT_BLOCKED, is_blocked
from bot.core import treefiles
from bot.workspace.nearby import did_you_mean

Action = Literal["replace", "create", "delete", "write"]

MAX_LINE_CHARS = 2000
MAX_FILE_BYTES = 8_000_000  # larger files are neither shown nor edited
MIN_SIMILARITY = 0.3  # below this the closest text is not worth showing
_SCAN_BUDGET = 2_000_000  # characters compared with quick_ratio before switching to shared-line ranking
_JSONC = ("tsconfig*.json", "jsconfig*.json", ".devcontainer*.json")  # JSON with comments, not checked
_NUMBERED = re.compile(r"^\s*\d+\t")
_LINE_NUMBER = re.compile(r"^[ \t]*(\d+)(?:\t| ?[|:] ?| {2})")
WRITE_MAX_LINES = 200
WRITE_MAX_BYTES = 8_000
_T = TypeVar("_T")


class EditError(Exception):
    """An edit was refused; `str()` gives the message and the hint, for the model to read."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}" if self.hint else self.message


@dataclass(frozen=True)
class EditResult:
    """An applied edit: the path, what was done, the unified diff of this one edit, and a note."""

    path: str
    action: Action
    diff: str
    note: str = ""


@dataclass(frozen=True)
class Scope:
    """Where edits may go: the plan's exact paths, plus `extra_globs`, minus `blocked`.

    Globs use `fnmatch` rules like `bot.runs.plan.is_blocked` (`*` also matches `/`); a glob
    starting with `**/` also matches at the top level (`**/test_*.py` matches `test_a.py`).
    """

    allowed: tuple[str, ...]
    extra_globs: tuple[str, ...] = ()
    blocked: tuple[str, ...] = DEFAULT_BLOCKED
    rule: Callable[[str], str | None] | None = None  # a further veto (the repository's allowed paths)

    def permits(self, path: str) -> str | None:
        """None when an edit of `path` is allowed, else the reason it is not."""
        rel = normalize(path)
        if rel is None:
            return f"{path!r} is not a relative path inside the repository"
        if _in_git_dir(rel):
            return f"{rel} is inside .git and may not be changed"
        if is_blocked(rel, self.blocked):
            return f"{rel} is a blocked path and may not be changed"
        if self.rule is not None and (why := self.rule(rel)):
            return why
        if rel in {normalize(p) for p in self.allowed}:
            return None
        if any(_glob(rel, pattern) for pattern in self.extra_globs):
            return None
        return f"{rel} is outside the plan's scope (allowed: {', '.join(self.allowed) or 'nothing'})"


def normalize(path: str) -> str | None:
    """The canonical form of a repository-relative path (`./a//b` → `a/b`), None if it is not one."""
    if not path or "\\" in path or "\0" in path:
        return None
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts:
        return None
    rel = pure.as_posix()
    return None if rel == "." else rel


def _in_git_dir(rel: str) -> bool:
    return any(part.casefold() == ".git" for part in PurePosixPath(rel).parts)


def matches_any(path: str, patterns: tuple[str, ...]) -> bool:
    """Whether `path` matches one of the glob `patterns` (as a `Scope`'s `extra_globs` match)."""
    return any(_glob(path, pattern) for pattern in patterns)


def _glob(path: str, pattern: str) -> bool:
    return fnmatch.fnmatchcase(path, pattern) or (pattern.startswith("**/") and fnmatch.fnmatchcase(path, pattern[3:]))


# -- reading -------------------------------------------------------------------------------------


def view(root: Path, path: str, start: int = 1, end: int | None = None, max_lines: int = 400) -> str:
    """Numbered lines `start`..`end` of a file (or a folder listing); problems come back as text.

    Nothing is read through a symlink (see `bot.core.treefiles`): a link, or a path through a linked
    folder, is answered with an error that says so.
    """
    rel = "" if path.strip() in ("", ".", "./") else normalize(path.strip())
    if rel is None or _in_git_dir(rel):
        return f"error: {path!r} is not a path inside the repository"
    try:
        if treefiles.kind(root, rel) == "folder":
            return _listing(root, rel, max_lines)
        data = treefiles.read_bytes(root, rel, MAX_FILE_BYTES)
    except treefiles.Missing as exc:
        return f"error: {exc}.{did_you_mean(root, rel)}"
    except treefiles.TreeFileError as exc:
        return f"error: {exc}"
    if b"\0" in data[:8192]:
        return f"{rel} is a binary file ({len(data)} bytes)"
    return _numbered(rel, data.decode("utf-8", errors="replace"), start, end, max_lines)


def _listing(root: Path, rel: str, max_lines: int) -> str:
    marks = {"folder": "/", "link": "@ (symlink, not followed)", "other": " (not a regular file)"}
    entries = [name + marks.get(kind, "") for name, kind in treefiles.list_folder(root, rel) if name != ".git"]
    more = f"\n[... {len(entries) - max_lines} more entries]" if len(entries) > max_lines else ""
    return f"{rel or '.'}/ (directory)\n" + "\n".join(entries[:max_lines]) + more


def _numbered(rel: str, text: str, start: int, end: int | None, max_lines: int) -> str:
    lines = _lines(text)
    if not lines:
        return f"{rel} is empty"
    first = max(start, 1)
    if first > len(lines):
        return f"error: {rel} has {len(lines)} lines; start={start} is past the end"
    if end is not None and end < first:
        return f"error: end={end} is before start={first}"
    last = min(len(lines), end or len(lines), first + max(max_lines, 1) - 1)
    body = "\n".join(_number(n, lines[n - 1]) for n in range(first, last + 1))
    more = f"\n[{len(lines) - last} more lines; view with start={last + 1}]" if last < len(lines) else ""
    return f"{rel} (lines {first}-{last} of {len(lines)})\n{body}{more}"


def _lines(text: str) -> list[str]:
    """Lines as editors count them: split on LF only, CR dropped at line end, no empty last line."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return lines[:-1] if lines and lines[-1] == "" else lines


def _number(n: int, line: str) -> str:
    if len(line) > MAX_LINE_CHARS:
        line = line[:MAX_LINE_CHARS] + f" [... {len(line) - MAX_LINE_CHARS} more characters]"
    return f"{n:>6}\t{line}"


# -- editing -------------------------------------------------------------------------------------


def replace(root: Path, scope: Scope, path: str, old: str, new: str) -> EditResult:
    """Replace the one occurrence of `old` in the file with `new`."""
    rel = _checked(scope, path)
    if not old:
        raise EditError("old text is empty", hint="Quote the exact lines to replace; use create for a new file.")
    if old == new:
        raise EditError("old and new text are the same; nothing would change")
    before = _read_text(root, rel)
    crlf = _newline_style(before)
    text = before.replace("\r\n", "\n") if crlf == "crlf" else before
    if crlf != "mixed":
        old, new = old.replace("\r\n", "\n"), new.replace("\r\n", "\n")
    begin, stop, new, note = _locate(text, old, new, rel)
    after = text[:begin] + new + text[stop:]
    if crlf == "crlf":
        after = after.replace("\n", "\r\n")
    if after == before:
        raise EditError("the replacement leaves the file unchanged")
    _refuse_broken(rel, before, after)
    _tree_call(lambda: treefiles.overwrite_file(root, rel, after.encode("utf-8")), rel)
    return EditResult(rel, "replace", unified_diff(rel, before, after), note)


def create(root: Path, scope: Scope, path: str, content: str) -> EditResult:
    """Create a new file (and its folders); refused if the path exists or leads through a symlink."""
    rel = _checked(scope, path)
    if _tree_call(lambda: treefiles.kind(root, rel), rel) not in ("missing", "link"):  # a link: refused below
        raise EditError(f"{rel} already exists", hint="Use replace to change an existing file.")
    _refuse_broken(rel, None, content)
    _tree_call(lambda: treefiles.create_file(root, rel, content.encode("utf-8")), rel)
    return EditResult(rel, "create", unified_diff(rel, None, content))


def write(root: Path, scope: Scope, path: str, content: str) -> EditResult:
    """Replace the whole content of a small file (or create it); refused for files over the write limits."""
    rel = _checked(scope, path)
    if _tree_call(lambda: treefiles.kind(root, rel), rel) == "missing":
        return create(root, scope, rel, content)
    before = _read_text(root, rel)
    lines = len(_lines(before))
    if lines > WRITE_MAX_LINES or len(before.encode("utf-8")) > WRITE_MAX_BYTES:
        raise EditError(f"{rel} has {lines} lines ({len(before.encode('utf-8')):,} bytes); write_file rewrites only "
                        f"files up to {WRITE_MAX_LINES} lines and {WRITE_MAX_BYTES:,} bytes",
                        hint="Change it with replace_text (a few lines at a time).")
    crlf = _newline_style(before)
    after = content.replace("\r\n", "\n").replace("\n", "\r\n") if crlf == "crlf" else content
    if after == before:
        raise EditError(f"the content is the same as {rel} has now; nothing would change")
    _refuse_broken(rel, before, after)
    _tree_call(lambda: treefiles.overwrite_file(root, rel, after.encode("utf-8")), rel)
    return EditResult(rel, "write", unified_diff(rel, before, after))


def delete(root: Path, scope: Scope, path: str) -> EditResult:
    """Delete a file (not a folder, not a symlink)."""
    rel = _checked(scope, path)
    data = _tree_call(lambda: treefiles.read_bytes(root, rel, MAX_FILE_BYTES), rel, root)
    try:
        diff = unified_diff(rel, data.decode("utf-8"), None)
    except UnicodeDecodeError:
        diff = f"Binary file a/{rel} deleted\n"
    _tree_call(lambda: treefiles.remove_file(root, rel), rel)
    return EditResult(rel, "delete", diff)


def _checked(scope: Scope, path: str) -> str:
    """The normalized path, when the scope permits editing it."""
    reason = scope.permits(path)
    rel = normalize(path)
    if reason or rel is None:
        raise EditError(reason or f"{path!r} is not a relative path inside the repository")
    return rel


def _tree_call(action: Callable[[], _T], rel: str, root: Path | None = None) -> _T:
    """Run a `bot.core.treefiles` call, turning its refusals into `EditError`s the model can act on.

    With `root`, a missing file is answered with the closest existing paths.
    """
    try:
        return action()
    except treefiles.Missing as exc:
        near = did_you_mean(root, rel).strip() + " " if root is not None else ""
        raise EditError(str(exc), hint=f"{near}Use create for a new file; view the folder to see what exists.") from exc
    except treefiles.Exists as exc:
        raise EditError(str(exc), hint="Use replace to change an existing file.") from exc
    except treefiles.TreeFileError as exc:
        raise EditError(f"refused: {exc}", hint="Edits go only to regular files, and never through links.") from exc
    except OSError as exc:
        raise EditError(f"could not change {rel}: {exc.strerror or exc}") from exc


def _read_text(root: Path, rel: str) -> str:
    data = _tree_call(lambda: treefiles.read_bytes(root, rel, MAX_FILE_BYTES), rel, root)
    if b"\0" in data:
        raise EditError(f"{rel} is a binary file and cannot be edited as text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EditError(f"{rel} is not UTF-8 text and cannot be edited") from exc


def _newline_style(text: str) -> Literal["lf", "crlf", "mixed"]:
    crlf = text.count("\r\n")
    if crlf == 0:
        return "lf"
    return "crlf" if crlf == text.count("\n") else "mixed"


# -- matching ------------------------------------------------------------------------------------


def _locate(text: str, old: str, new: str, rel: str) -> tuple[int, int, str, str]:
    """The span of the single match of `old`, the text to put there, and a note on any repair.

    Exact first; else ignoring trailing whitespace per line; else the repairs of the module
    docstring, each only when it gives exactly one match.
    """
    exact = _find_all(text, old)
    if len(exact) == 1:
        return exact[0], exact[0] + len(old), new, ""
    if len(exact) > 1:
        raise _ambiguous(text, exact, rel)
    loose = [(m.start(), m.end()) for m in _loose_pattern(old).finditer(text)]
    if len(loose) == 1:
        return loose[0][0], loose[0][1], new, "matched ignoring whitespace at line ends"
    if len(loose) > 1:
        raise _ambiguous(text, [start for start, _ in loose], rel)
    for repaired_old, repaired_new, note in _repairs(old, new):
        found = _unique_match(text, repaired_old, repaired_new)
        if found is not None:
            begin, stop, placed, how = found
            return begin, stop, placed, "; ".join(part for part in (note, how) if part)
    raise _not_found(text, old, rel)


def _repairs(old: str, new: str) -> list[tuple[str, str, str]]:
    """`old` and `new` as the model may have meant them: as sent (for re-indenting), then without
    line numbers, then without diff markers; each with a note saying what was changed."""
    found = [(old, new, "")]
    numbered = _strip_line_numbers(old, consecutive=True)
    if numbered is not None:
        found.append((numbered, _strip_line_numbers(new, consecutive=False) or new,
                      "line numbers (as view_file shows them) left out of old_text"))
    marked = _strip_diff_markers(old)
    if marked is not None:
        found.append((marked, _strip_diff_markers(new, need_change=False) or new,
                      "diff markers (+, -, space) left out of old_text"))
    return found


def _unique_match(text: str, old: str, new: str) -> tuple[int, int, str, str] | None:
    """The one match of `old` (exact, loose, or with its indentation shifted) and what replaces it; None unless one."""
    if not old.strip():
        return None
    exact = _find_all(text, old)
    if exact:
        return (exact[0], exact[0] + len(old), new, "") if len(exact) == 1 else None
    loose = list(_loose_pattern(old).finditer(text))
    if loose:
        return (loose[0].start(), loose[0].end(), new, "matched ignoring whitespace at line ends") \
            if len(loose) == 1 else None
    return _reindented(text, old, new)


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _reindented(text: str, old: str, new: str) -> tuple[int, int, str, str] | None:
    """The one match of `old`'s whole lines under a uniformly different indentation, and `new` re-based onto it."""
    lines = old.split("\n")
    filled = [line for line in lines if line.strip()]
    base = min((_indent_of(line) for line in filled), key=len)
    if not all(line.startswith(base) for line in filled):
        return None  # tabs and spaces mixed differently: no single shift
    parts, defined = [], False
    for line in lines:
        if not line.strip():
            parts.append(r"[ \t]*")
            continue
        parts.append((r"(?P=indent)" if defined else r"(?P<indent>[ \t]*)")
                     + re.escape(line[len(base):].rstrip(" \t")) + r"[ \t]*")
        defined = True
    matches = list(re.finditer(r"(?m)^" + "\n".join(parts), text))
    if len(matches) != 1:
        return None
    actual = matches[0].group("indent")
    placed = _rebased(new, base, actual)
    if placed is None:
        return None
    return matches[0].start(), matches[0].end(), placed, f"matched with its indentation shifted ({len(base)} → " \
        f"{len(actual)} characters); new_text re-indented to match"


def _rebased(new: str, base: str, actual: str) -> str | None:
    """`new` with the indentation `base` at the start of each line replaced by `actual`; None if a line has less."""
    out = []
    for line in new.split("\n"):
        if not line.strip():
            out.append("")
        elif line.startswith(base):
            out.append(actual + line[len(base):])
        else:
            return None
    return "\n".join(out)


def _strip_line_numbers(text: str, consecutive: bool) -> str | None:
    """`text` without a line-number prefix on each line, or None unless every line has one (counting up by
    one, when `consecutive`)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines = lines[:-1]
    matches = [_LINE_NUMBER.match(line) for line in lines]
    if not lines or any(m is None for m in matches):
        return None
    numbers = [int(m.group(1)) for m in matches if m is not None]
    if consecutive and numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        return None
    return "\n".join(line[m.end():] for line, m in zip(lines, matches, strict=True) if m is not None)


def _strip_diff_markers(text: str, need_change: bool = True) -> str | None:
    """`text` without the `+`, `-` or space starting each line, or None unless every line starts with one
    (and, when `need_change`, at least one with `+` or `-`: a space alone is indentation)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines = lines[:-1]
    if not lines or any(not line or line[0] not in "+- " for line in lines):
        return None
    if need_change and not any(line[0] in "+-" for line in lines):
        return None
    return "\n".join(line[1:] for line in lines)


def _find_all(text: str, old: str, limit: int = 50) -> list[int]:
    found: list[int] = []
    at = text.find(old)
    while at != -1 and len(found) < limit:
        found.append(at)
        at = text.find(old, at + 1)
    return found


def _loose_pattern(old: str) -> re.Pattern[str]:
    """`old` with any run of spaces/tabs allowed (and not required) before each line end."""
    *inner, last = old.split("\n")
    parts = [re.escape(line.rstrip(" \t")) + r"[ \t]*\n" for line in inner]
    tail = re.escape(last.rstrip(" \t")) + (r"[ \t]*" if last != last.rstrip(" \t") else "")
    return re.compile("".join(parts) + tail)


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _ambiguous(text: str, starts: list[int], rel: str) -> EditError:
    lines = ", ".join(str(_line_of(text, s)) for s in starts[:10])
    return EditError(f"old text occurs {len(starts)} times in {rel} (starting at lines {lines}); it must match "
                     "exactly once", hint="Include more surrounding lines in old so that it is unique.")


def _not_found(text: str, old: str, rel: str) -> EditError:
    hint = ""
    filled = [line for line in old.split("\n") if line.strip()]
    if filled and all(_NUMBERED.match(line) for line in filled):
        hint = "old seems to include the line numbers view_file shows; leave them out.\n"
    closest = closest_match(text, old)
    if closest is None or closest[2] < MIN_SIMILARITY:
        return EditError(f"old text not found in {rel}", hint=hint + f"Nothing in {rel} looks like it; view the file.")
    first, last, ratio, shown = closest
    return EditError(f"old text not found in {rel}",
                     hint=hint + f"The closest text is lines {first}-{last} ({ratio:.0%} similar):\n{shown}\n"
                     "Copy the text exactly (whitespace included) and try again.")


def closest_match(text: str, old: str, candidates: int = 12) -> tuple[int, int, float, str] | None:
    """The window of lines most like `old`: (first line, last line, similarity, numbered text).

    Windows have as many lines as `old`. In small files every window is ranked with difflib's
    quick ratio; in large ones only windows sharing a (stripped) line with `old` are. The best
    few are then scored exactly. None when the file is empty or nothing is alike.
    """
    lines, target = _lines(text), old.strip("\n")
    size = max(1, len(_lines(target)))
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(target)

    def score(i: int, exact: bool) -> float:
        matcher.set_seq1("\n".join(lines[i:i + size]))
        return matcher.ratio() if exact else matcher.quick_ratio()

    starts = range(max(1, len(lines) - size + 1)) if lines else range(0)
    if len(starts) * max(len(target), 1) <= _SCAN_BUDGET:
        ranked = sorted(starts, key=lambda i: (-score(i, False), i))
    else:
        ranked = _by_shared_lines(lines, target, size)
    if not ranked:
        return None
    best = max(ranked[:candidates], key=lambda i: (score(i, True), -i))
    window = lines[best:best + size]
    shown = "\n".join(_number(best + 1 + k, line) for k, line in enumerate(window))
    return best + 1, best + len(window), score(best, True), shown


def _by_shared_lines(lines: list[str], target: str, size: int) -> list[int]:
    """Window starts ranked by how many of their lines (stripped) occur in `target`; none sharing a line."""
    wanted = {line.strip() for line in _lines(target) if line.strip()}
    hits = [0, *itertools.accumulate(1 if line.strip() in wanted else 0 for line in lines)]
    shared = [(hits[min(i + size, len(lines))] - hits[i], i) for i in range(max(1, len(lines) - size + 1))]
    return [i for count, i in sorted(shared, key=lambda pair: (-pair[0], pair[1])) if count > 0]


# -- verification --------------------------------------------------------------------------------


def _refuse_broken(rel: str, before: str | None, after: str) -> None:
    """Refuse an edit whose result does not parse (unless the file did not parse before it either)."""
    problem = check_syntax(rel, after)
    if problem and (before is None or check_syntax(rel, before) is None):
        raise EditError(f"refused: {rel} would not parse after this edit: {problem}. The file is unchanged.",
                        hint="Fix the syntax of the new text and try again.")


def check_syntax(path: str, text: str) -> str | None:
    """None when `text` parses as the file type of `path` (Python, JSON, TOML); else the error.

    Other file types are not checked. Python is compiled by the worker's interpreter, so
    syntax newer than it is reported as an error.
    """
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in (".py", ".pyi"):
        return _python_error(path, text)
    if suffix == ".json" and not _is_jsonc(path):
        return _json_error(text)
    if suffix == ".toml":
        return _toml_error(text)
    return None


def _is_jsonc(path: str) -> bool:
    pure = PurePosixPath(path)
    return (any(fnmatch.fnmatchcase(pure.name, pattern) for pattern in _JSONC)
            or bool({".vscode", ".devcontainer"} & set(pure.parts)))


def _python_error(path: str, text: str) -> str | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(text.removeprefix("\ufeff"), path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
        code = f": {exc.text.strip()}" if exc.text and exc.text.strip() else ""
        return f"{exc.msg} at {where}{code}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _json_error(text: str) -> str | None:
    try:
        json.loads(text.removeprefix("\ufeff"))
    except (ValueError, RecursionError) as exc:
        return str(exc)
    return None


def _toml_error(text: str) -> str | None:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return str(exc)
    return None


def unified_diff(rel: str, before: str | None, after: str | None) -> str:
    """A `git diff`-like unified diff of one file (None for a side means the file is absent)."""
    old_lines = _with_ends(before) if before is not None else []
    new_lines = _with_ends(after) if after is not None else []
    lines = difflib.unified_diff(old_lines, new_lines, "/dev/null" if before is None else f"a/{rel}",
                                 "/dev/null" if after is None else f"b/{rel}")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _with_ends(text: str) -> list[str]:
    """Lines split on LF only, each keeping its line end (the last may have none)."""
    parts = text.split("\n")
    return [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
