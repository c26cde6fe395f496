"""Small git repositories made up for a test: files written, then `git init` and `git add`."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make_repo(root: Path, files: dict[str, str]) -> Path:
    """Write `files` ({path: text}) under `root`, make it a git repository and stage them; returns `root`."""
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    root.chmod(0o755)  # as our work trees are: git reads them as an unprivileged user (bot.workspace.git)
    return root
