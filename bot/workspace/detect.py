"""Guess a repository's test command from the files it has (shown in the plan, used when none is configured).

In order: Python (pytest), Node (`npm test` when package.json has a real `test` script, else
`node --test` when there are test files), Go, Rust, Maven, then Make (only a Makefile with a
`test:` or `check:` target).

The files are the repository's, so they are looked at through `bot.core.treefiles`: a marker that is
a symlink (or sits in a linked folder) does not count and is never read, and none is read past 1 MB.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.core import treefiles

MAX_MARKER_BYTES = 1_000_000  # package.json, pyproject.toml, setup.cfg, Makefile larger than this are not read
_NPM_PLACEHOLDER = "no test specified"  # `npm init`'s `echo "Error: no test specified" && exit 1`
_NODE_TEST_FILE = re.compile(r"^(?:.+[._-]test|test[._-].+|test)\.[cm]?js$")
_JS_FILE = re.compile(r"\.[cm]?js$")
_MAKE_TARGET = re.compile(r"^((?:[\w.-]+[ \t]+)*?)(test|check)((?:[ \t]+[\w.-]+)*)[ \t]*::?(?!=)", re.MULTILINE)
_MAKEFILES = ("GNUmakefile", "makefile", "Makefile")  # the order GNU make looks for them


def detect_test_command(root: Path) -> str:
    """The conventional test command for the project at `root`, or "" when none is evident."""
    if _python(root):
        return "python -m pytest -q"
    node = _node(root)
    if node:
        return node
    for marker, command in (("go.mod", "go test ./..."), ("Cargo.toml", "cargo test"), ("pom.xml", "mvn -q test")):
        if _is_file(root, marker):
            return command
    return _make(root)


def _python(root: Path) -> bool:
    if any(_is_file(root, name) for name in ("pytest.ini", "conftest.py", "tox.ini")):
        return True
    if any("pytest" in _text(root, name) for name in ("pyproject.toml", "setup.cfg")):
        return True
    return any(kind == "file" and name.startswith("test_") and name.endswith(".py") for name, kind in
               _entries(root, "tests"))


def _node(root: Path) -> str:
    """`npm test` for a real test script, `node --test` for test files node's runner finds, else ""."""
    script = _npm_test_script(root)
    if script and _NPM_PLACEHOLDER not in script:
        return "npm test"
    top = any(kind == "file" and _NODE_TEST_FILE.match(name) for name, kind in _entries(root, ""))
    in_test = any(kind == "file" and _JS_FILE.search(name) for name, kind in _entries(root, "test"))
    return "node --test" if top or in_test else ""


def _npm_test_script(root: Path) -> str:
    try:
        scripts = json.loads(_text(root, "package.json") or "null").get("scripts", {})
    except (ValueError, AttributeError):
        return ""
    script = scripts.get("test") if isinstance(scripts, dict) else None
    return script.strip() if isinstance(script, str) else ""


def _make(root: Path) -> str:
    """`make test` (or `make check`) when the Makefile make would read has that target."""
    name = next((name for name in _MAKEFILES if _is_file(root, name)), "")
    targets = {match.group(2) for match in _MAKE_TARGET.finditer(_text(root, name))} if name else set()
    return next((f"make {target}" for target in ("test", "check") if target in targets), "")


def _entries(root: Path, folder: str) -> list[tuple[str, treefiles.Kind]]:
    """The folder's entries, or none when it is absent, a link or unreadable."""
    try:
        return treefiles.list_folder(root, folder)
    except (treefiles.TreeFileError, OSError):
        return []


def _is_file(root: Path, name: str) -> bool:
    return treefiles.kind(root, name) == "file"


def _text(root: Path, name: str) -> str:
    """The file's text, or "" when it is absent, a link, not a regular file or too large."""
    try:
        return treefiles.read_text(root, name, MAX_MARKER_BYTES)
    except (treefiles.TreeFileError, OSError, ValueError):  # ValueError: not UTF-8
        return ""
