"""The Coder's test selector is untrusted text: it narrows a pytest command by whole, quoted arguments or not at all.

The model read attacker-written files before it wrote the selector, so every attempt here is
one an issue or a repository could steer it to: shell syntax, pytest options (which can load
plugins, move `--basetemp` onto a folder pytest then empties, or read arguments from an `@file`),
paths out of the tree. The accepted forms are run through `/bin/sh` against a stand-in `pytest`
that prints its arguments, so what reaches the program is what is asserted.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bot.sandboxes.selector import MAX_IDS, SelectorError, narrowed, narrowing

PYTEST = "python -m pytest -q"

INJECTIONS = [
    "tests/test_a.py; touch pwned",
    "tests/test_a.py && touch pwned",
    "$(touch pwned)",
    "`touch pwned`",
    "tests/test_a.py|touch pwned",
    "tests/test_a.py\ntouch pwned",
    "tests/test_a.py > pwned",
    "'tests/test_a.py' 'x'",
    '"tests/test_a.py"',
    "--basetemp=/work",
    "-p evil_plugin",
    "-o addopts=-pevil",
    "--junitxml=/tmp/x.xml",
    "-c /etc/passwd",
    "@arguments.txt",
    "../../etc/passwd",
    "/etc/passwd",
    "tests/../../outside.py",
    "-k x -p evil",
    "-k -p evil",
    "-k $(touch pwned)",
    "-k x; touch pwned",
    "tests/test_a.py::test_x\x00",
    "tests/test_a.py::test_$HOME",
]


@pytest.mark.parametrize("selector", INJECTIONS)
def test_injection_attempts_are_refused(selector: str) -> None:
    with pytest.raises(SelectorError):
        narrowing(PYTEST, selector)


@pytest.mark.parametrize("command", ["npm test", "go test ./...", "cargo test", "make test",
                                     "pytest -q && echo done", "pytest $(cat args)", "python -m unittest"])
def test_only_a_plain_pytest_command_is_narrowed(command: str) -> None:
    assert narrowing(command, "") == ()  # the whole command is always allowed
    with pytest.raises(SelectorError, match="cannot be narrowed"):
        narrowing(command, "tests/test_a.py")


def test_too_many_or_too_long_selectors_are_refused() -> None:
    with pytest.raises(SelectorError, match="at most"):
        narrowing(PYTEST, " ".join(f"tests/test_{i}.py" for i in range(MAX_IDS + 1)))
    with pytest.raises(SelectorError, match="longer"):
        narrowing(PYTEST, "tests/" + "a" * 3000 + ".py")


def test_accepted_selectors_are_separate_arguments() -> None:
    assert narrowing(PYTEST, "tests/test_a.py::TestX::test_y[1-2] tests/b") == (
        "tests/test_a.py::TestX::test_y[1-2]", "tests/b")
    assert narrowing(PYTEST, "-k word_count and not slow") == ("-k", "word_count and not slow")
    assert narrowing("uv run pytest", "  ") == ()


def test_what_the_program_receives_is_exactly_the_checked_arguments(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "pytest"
    stand_in.write_text('#!/bin/sh\nfor a in "$@"; do printf "<%s>\\n" "$a"; done\n')
    stand_in.chmod(0o755)
    selectors = ["tests/test_a.py::test_y[a-b] tests/test_b.py::TestC::test_d", "-k count and (a or b)"]
    for selector in selectors:
        command = narrowed("pytest -q", narrowing("pytest -q", selector))
        out = subprocess.run(["/bin/sh", "-c", command], cwd=tmp_path, capture_output=True, text=True, check=True,
                             env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}).stdout
        expected = ["-q", *(selector.split() if not selector.startswith("-k") else ["-k", selector[3:]])]
        assert out.splitlines() == [f"<{a}>" for a in expected]
    assert not (tmp_path / "pwned").exists()
