"""Guess a repository's test command from the files it has (shown in the plan).

The files are the repository's, so they are looked at through `bot.core.treefiles`: a marker that is
a symlink (or sits in a linked folder) does not count and is never read.
"""

from __future__ import annotations

import json
from pathlib import Path

from bot.core import treefiles

MAX_MARKER_BYTES = 1_000_000  # package.json, pyproject.toml, setup.cfg larger than this are not read


def detect_test_command(root: Path) -> str:
    """The conventional test command for the project at `root`, or "" when none is evident."""
    if _python(root):
        return "python -m pytest -q"
    try:
        scripts = json.loads(_text(root, "package.json") or "null").get("scripts", {})
    except (ValueError, AttributeError):
        scripts = {}
    if isinstance(scripts, dict) and "test" in scripts:
        return "npm test"
    for marker, command in (("go.mod", "go test ./..."), ("Cargo.toml", "cargo test"),
                            ("pom.xml", "mvn -q test"), ("Makefile", "make test")):
        if _is_file(root, marker):
            return command
    return ""


def _python(root: Path) -> bool:
    if any(_is_file(root, name) for name in ("pytest.ini", "conftest.py", "tox.ini")):
        return True
    if any("pytest" in _text(root, name) for name in ("pyproject.toml", "setup.cfg")):
        return True
    try:
        entries = treefiles.list_folder(root, "tests")
    except (treefiles.TreeFileError, OSError):
        return False
    return any(kind == "file" and name.startswith("test_") and name.endswith(".py") for name, kind in entries)


def _is_file(root: Path, name: str) -> bool:
    return treefiles.kind(root, name) == "file"


def _text(root: Path, name: str) -> str:
    """The file's text, or "" when it is absent, a link, not a regular file or too large."""
    try:
        return treefiles.read_text(root, name, MAX_MARKER_BYTES)
    except treefiles.TreeFileError:
        return ""
