"""Carriage returns survive git's output: a patch of a file with CRLF line endings applies back (real git).

Found by `bench/swebench_replay.py`: pydicom's releases ship CRLF files, and the code step failed with
"git apply failed: patch failed" once git's output had been read with universal newlines (CRLF → LF).
"""

from __future__ import annotations

from pathlib import Path

from bot.core.redact import Redactor
from bot.workspace.git import Git
from bot.workspace.tree import Tree


def _tree(tmp_path: Path) -> Tree:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "m.py").write_bytes(b"A = 1\r\nB = 2\r\nC = 3\r\n")
    git = Git(Redactor())
    git("init", "-q", str(root))
    git("add", "-A", cwd=root)
    git("commit", "-qm", "base", cwd=root)
    return Tree(git, root, git("rev-parse", "HEAD", cwd=root).strip())


def test_the_patch_of_a_crlf_file_keeps_its_carriage_returns_and_applies_back(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    (tree.root / "m.py").write_bytes(b"A = 1\r\nB = 20\r\nC = 3\r\n")
    (tree.root / "new.py").write_bytes(b"X = 1\r\n")
    patch = tree.patch(["m.py", "new.py"])
    assert "B = 20\r\n" in patch and " C = 3\r\n" in patch
    tree.reset(patch)  # what a later step, or a re-run job, does with the stored patch
    assert (tree.root / "m.py").read_bytes() == b"A = 1\r\nB = 20\r\nC = 3\r\n"
    assert (tree.root / "new.py").read_bytes() == b"X = 1\r\n"


def test_git_output_keeps_the_carriage_returns_of_a_crlf_file(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    assert tree.git("show", "HEAD:m.py", cwd=tree.root) == "A = 1\r\nB = 2\r\nC = 3\r\n"
