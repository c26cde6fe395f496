"""The tracked files of a work tree, each with the git blob id of its current contents.

Blob ids come from the git index (`ls-files -s`); files changed in the work tree since then
are hashed again, so the ids always describe what is on disk. Untracked files are left out.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

MAX_FILE_BYTES = 300_000
SKIP_PARTS = frozenset({"node_modules", "vendor", "third_party", "dist", "build", ".git", "__pycache__",
                        "site-packages", ".venv", "venv"})
TEXT_SUFFIXES = frozenset({
    ".py", ".pyi", ".pyx", ".js", ".jsx", ".mjs", ".ts", ".tsx", ".go", ".rs", ".java", ".kt", ".rb", ".php",
    ".c", ".h", ".cc", ".cpp", ".hpp", ".cs", ".swift", ".scala", ".sh", ".md", ".rst", ".txt", ".toml", ".cfg",
    ".ini", ".yml", ".yaml", ".json", ".html", ".css", ".sql", ".mk", ".proto", ".graphql", ".vue", ".svelte",
})


class TreeSnapshot:
    """Which text files a tree holds (path → blob id), and a key for exactly that content.

    The key is a digest of git's index listing and of the work tree's changes to it, computed
    without Python work per file; `files` is parsed from the listing only when first asked for
    (a query whose tree is cached never needs it).
    """

    def __init__(self, listing: bytes, changed: dict[str, str | None]) -> None:
        self._listing = listing
        self._changed = changed  # path modified in the work tree → blob id on disk (None: gone)
        digest = hashlib.sha1(listing)
        for path in sorted(changed):
            digest.update(f"\0{path}\0{changed[path]}".encode())
        self.key = digest.hexdigest()
        self._files: dict[str, str] | None = None

    @property
    def files(self) -> dict[str, str]:
        """Candidate path → blob id of its current contents."""
        if self._files is None:
            self._files = _candidates(self._listing, self._changed)
        return self._files


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
    """The tracked files of the work tree at `root` (git's listing, and what changed on disk since)."""
    command = ["git", "diff", "--name-only", "-z"]
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as diff:
        listing = _git(root, "ls-files", "-s", "-z")  # while git diff stats the work tree
        modified, _ = diff.communicate()
    if diff.returncode != 0:
        raise subprocess.CalledProcessError(diff.returncode, command)
    changed: dict[str, str | None] = {}
    for raw_path in modified.split(b"\0"):
        if raw_path:
            path = raw_path.decode("utf-8", "replace")
            full = root / path
            changed[path] = blob_id(full.read_bytes()) if full.is_file() else None
    return TreeSnapshot(listing, changed)


def _candidates(listing: bytes, changed: dict[str, str | None]) -> dict[str, str]:
    files: dict[str, str] = {}
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, raw_path = entry.partition(b"\t")
        mode, blob, _stage = meta.split(b" ")
        path = raw_path.decode("utf-8", "replace")
        if mode.startswith(b"100") and is_candidate(path):
            files[path] = blob.decode()
    for path, blob_on_disk in changed.items():
        if path in files:
            if blob_on_disk is None:
                del files[path]
            else:
                files[path] = blob_on_disk
    return files
