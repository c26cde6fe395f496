"""Spare trees (a candidate's clone beside the job's slot): made at the commit asked for, deleted after, and
swept only when their worker is gone (their lock free), however old a live one is."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bot.workspace.slots import Workspace

REPO = "acme/textstats"


def mirror_with_one_commit(workspace: Workspace, root: Path) -> str:
    """The repository's mirror where the workspace looks for it, holding one commit; that commit's sha."""
    source = root / "source"
    subprocess.run(["git", "init", "-q", "-b", "main", str(source)], check=True)
    (source / "words.py").write_text("WORDS = 1\n")
    git = ["git", "-C", str(source), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    mirror = workspace.mirror_path(REPO)
    mirror.parent.mkdir(parents=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(mirror)], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()


def test_a_spare_tree_holds_the_commit_and_is_gone_after(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "work", redactor=lambda text: text)
    sha = mirror_with_one_commit(workspace, tmp_path)
    with workspace.spare(REPO, sha) as tree:
        assert (tree / "words.py").read_text() == "WORDS = 1\n"
    assert list((tmp_path / "work" / "spare" / REPO).iterdir()) == []


def test_a_live_spare_tree_survives_another_ones_sweep_however_old_and_a_dead_one_goes(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path / "work", redactor=lambda text: text)
    sha = mirror_with_one_commit(workspace, tmp_path)
    folder = tmp_path / "work" / "spare" / REPO
    dead = folder / "0123abcd"  # left by a worker that died: its lock file is there, nobody holds it
    (dead / "sub").mkdir(parents=True)
    dead.with_name("0123abcd.lock").touch()
    with workspace.spare(REPO, sha) as live:
        os.utime(live, (0, 0))  # very old: age is no sign of a dead worker
        with workspace.spare(REPO, sha) as other:  # its sweep runs now
            assert live.is_dir() and other.is_dir()
            assert not dead.exists() and not dead.with_name("0123abcd.lock").exists()
        assert (live / "words.py").is_file()
