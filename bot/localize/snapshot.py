"""The tracked files of a work tree, each with the git blob id of its current contents.

Blob ids come from the git index (`ls-files -s`); files changed in the work tree since then
are hashed again, so the ids always describe what is on disk. Untracked files are left out.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

MAX_FILE_BYTES = 300_000
SKIP_PARTS = frozenset({"node_modules", "vendor", "third_party", "dist", "build", ".git", "__pycache__",
                        "site-packages", ".venv", "venv"})
TEXT_SUFFIXES = frozenset({
    ".py", ".pyi", ".pyx", ".js", ".jsx", ".mjs", ".ts", ".tsx", ".go", ".rs", ".java", ".kt", ".rb", ".php",
    ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".swift", ".scala", ".sh", ".md", ".rst", ".txt", ".toml", ".cfg",
    ".ini", ".yml", ".yaml", ".json", ".html", ".css", ".sql", ".mk", ".proto", ".graphql", ".vue", ".svelte",
})


@dataclass(frozen=True)
class TreeSnapshot:
    """Which text files a tree holds (path → blob id), and a key for exactly that content."""

    files: dict[str, str]
    key: str


def _git(root: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, check=True).stdout


def is_candidate(path: str) -> bool:
    """Whether the index reads `path`: a text file outside vendored and generated directories."""
    dot = path.rfind(".")
    if dot <= path.rfind("/") or path[dot:].lower() not in TEXT_SUFFIXES:
        return False
    return not SKIP_PARTS.intersection(path.split("/"))


def blob_id(data: bytes) -> str:
    """The git blob id of `data` (what `git hash-object` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def snapshot(root: Path) -> TreeSnapshot:
    """The candidate files of the work tree at `root` and their blob ids."""
    files: dict[str, str] = {}
    for entry in _git(root, "ls-files", "-s", "-z").split(b"\0"):
        if not entry:
            continue
        meta, _, raw_path = entry.partition(b"\t")
        mode, blob, _stage = meta.split(b" ")
        path = raw_path.decode("utf-8", "replace")
        if mode.startswith(b"100") and is_candidate(path):
            files[path] = blob.decode()
    for raw_path in _git(root, "diff", "--name-only", "-z").split(b"\0"):
        path = raw_path.decode("utf-8", "replace")
        if path in files:
            full = root / path
            if full.is_file():
                files[path] = blob_id(full.read_bytes())
            else:
                del files[path]
    digest = hashlib.sha1()
    for path in sorted(files):
        digest.update(f"{path}\0{files[path]}\n".encode())
    return TreeSnapshot(files, digest.hexdigest())
