"""The tracked files of a work tree, each with the git blob id of its current contents.

Blob ids come from the git index (`ls-files -s`); files changed in the work tree since then
are hashed again, so the ids always describe what is on disk. Untracked files are left out.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from bot.core import treefiles
from bot.sandboxes.base import unchanged
from bot.workspace.git import Git

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


def is_candidate(path: str) -> bool:
    """Whether the index reads `path`: a text file outside vendored and generated directories."""
    dot = path.rfind(".")
    if dot <= path.rfind("/") or path[dot:].lower() not in TEXT_SUFFIXES:
        return False
    return not SKIP_PARTS.intersection(path.split("/"))


def blob_id(data: bytes) -> str:
    """The git blob id of `data` (what `git hash-object` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def snapshot(root: Path, git: Git | None = None) -> TreeSnapshot:
    """The tracked files of the work tree at `root` (git's listing, and what changed on disk since).

    git reads the tree as an unprivileged user (`Git.read_tree`); a changed file is hashed
    only when it is a regular file reached without a link (else it counts as gone).
    """
    git = git or Git(unchanged)
    modified = git.read_tree(root, "diff", "--name-only", "-z", "--no-ext-diff", "--no-textconv")
    listing = git.read_tree(root, "ls-files", "-s", "-z")
    changed: dict[str, str | None] = {}
    for raw_path in modified.split(b"\0"):
        if raw_path:
            path = raw_path.decode("utf-8", "replace")
            changed[path] = _blob_on_disk(root, path)
    return TreeSnapshot(listing, changed)


def _blob_on_disk(root: Path, path: str) -> str | None:
    try:
        return blob_id(treefiles.read_bytes(root, path))
    except treefiles.TreeFileError:
        return None


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
