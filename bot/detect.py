"""Guess a repository's test command from the files it has (shown in the plan)."""

from __future__ import annotations

import json
from pathlib import Path


def detect_test_command(root: Path) -> str:
    """The conventional test command for the project at `root`, or "" when none is evident."""
    if _python(root):
        return "python -m pytest -q"
    package = root / "package.json"
    if package.is_file():
        try:
            scripts = json.loads(package.read_text()).get("scripts", {})
        except (ValueError, AttributeError):
            scripts = {}
        if isinstance(scripts, dict) and "test" in scripts:
            return "npm test"
    for marker, command in (("go.mod", "go test ./..."), ("Cargo.toml", "cargo test"),
                            ("pom.xml", "mvn -q test"), ("Makefile", "make test")):
        if (root / marker).is_file():
            return command
    return ""


def _python(root: Path) -> bool:
    if any((root / name).is_file() for name in ("pytest.ini", "conftest.py", "tox.ini")):
        return True
    for name in ("pyproject.toml", "setup.cfg"):
        path = root / name
        if path.is_file() and "pytest" in path.read_text(errors="replace"):
            return True
    return (root / "tests").is_dir() and any((root / "tests").glob("test_*.py"))
