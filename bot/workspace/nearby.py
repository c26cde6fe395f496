""""Did you mean …?": the existing files whose path or name is closest to one that does not exist.

Weak models misspell paths (`text_stats/init.py`), drop a folder or guess an extension. A tool
that answers "no such file" with the closest existing paths lets them correct themselves in one
call. The tree is listed through `bot.core.treefiles` (never through a link, `.git` skipped),
breadth first and bounded by `MAX_FILES`, so a huge or hostile tree costs a bounded walk.
"""

from __future__ import annotations

import difflib
from collections import deque
from pathlib import Path, PurePosixPath

from bot.core import treefiles

MAX_FILES = 20_000
"""Files listed at most when looking for a suggestion."""
SUGGESTIONS = 3


def tree_files(root: Path, limit: int = MAX_FILES) -> list[str]:
    """Regular files under `root` (relative paths, breadth first, at most `limit`), without `.git`."""
    found: list[str] = []
    folders: deque[str] = deque([""])
    while folders and len(found) < limit:
        rel = folders.popleft()
        try:
            entries = treefiles.list_folder(root, rel)
        except (treefiles.TreeFileError, OSError):
            continue
        for name, kind in sorted(entries):
            path = f"{rel}/{name}" if rel else name
            if kind == "folder" and name != ".git":
                folders.append(path)
            elif kind == "file":
                found.append(path)
    return found[:limit]


def similar_paths(root: Path, path: str, count: int = SUGGESTIONS) -> list[str]:
    """Up to `count` existing files closest to `path`: by whole path, then by file name (difflib's ratio)."""
    wanted = path.strip().removeprefix("./")
    if not wanted:
        return []
    files = tree_files(root)
    by_path = difflib.get_close_matches(wanted, files, count, cutoff=0.6)
    names: dict[str, list[str]] = {}
    for file in files:
        names.setdefault(PurePosixPath(file).name, []).append(file)
    close_names = difflib.get_close_matches(PurePosixPath(wanted).name, list(names), count, cutoff=0.7)
    by_name = [file for name in close_names for file in names[name]]
    return list(dict.fromkeys(by_path + by_name))[:count]


def did_you_mean(root: Path, path: str) -> str:
    """" Did you mean: `a`, `b`?" for a path that does not exist, or "" when nothing is close."""
    close = similar_paths(root, path)
    return f" Did you mean: {', '.join(close)}?" if close else ""
