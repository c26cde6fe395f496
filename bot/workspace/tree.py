"""Operations on a checked-out work tree: reset, restore after a sandboxed command, patches, commits.

A step's result is a *patch* (what the edit tools changed, relative to the base commit), so
a later step, or a re-run job, rebuilds exactly the same tree from the base plus the patch.

The tree is the repository's, and a sandboxed command may have changed anything in it, so
before git or the worker touches it again `scrub` removes what git would run or follow: a
nested `.git` anywhere (a repository whose configuration git would obey if it entered it),
the contents of submodule folders, links standing where the commit or the agents' edits have
a path or a folder on the way to one, git's own files that the commit does not hold
(`.gitattributes`, `.gitignore`, `.gitmodules`), and anything that is not a file, folder or
link. `restore` then puts every tracked path back to base plus patch. Nothing of ours
follows a link (`bot.core.treefiles`, git itself), so other links of build output may stay.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.core import walk
from bot.core.errors import GitError
from bot.workspace.git import Git

GITLINK, SYMLINK = "160000", "120000"
GIT_FILES = frozenset({".gitattributes", ".gitignore", ".gitmodules"})


@dataclass(frozen=True)
class Identity:
    """Who commits: the app's bot account."""

    name: str
    email: str


@dataclass(frozen=True)
class Tracked:
    """What a commit (or the index) holds: each path's git mode, and the folders on the way."""

    modes: dict[str, str] = field(default_factory=dict)

    def mode(self, path: str) -> str | None:
        """The git mode of `path` (e.g. 100644, 120000, 160000), None when not tracked."""
        return self.modes.get(path)


def tracked_paths(listing: str) -> Tracked:
    """Parse `git ls-tree -r -z` or `git ls-files -s -z` output (the mode first, the path after a tab)."""
    modes: dict[str, str] = {}
    for entry in listing.split("\0"):
        meta, tab, path = entry.partition("\t")
        if tab:
            modes[path] = meta.split(" ", 1)[0]
    return Tracked(modes)


@dataclass(frozen=True)
class _Rules:
    """What `scrub` keeps: the listings' links and submodule folders, and which paths a link may not stand on."""

    links: frozenset[str]
    gitlinks: frozenset[str]
    known: frozenset[str]
    on_the_way: frozenset[str]

    @classmethod
    def of(cls, tracked: Sequence[Tracked], keep_out: Sequence[str]) -> _Rules:
        modes = {p: m for t in tracked for p, m in t.modes.items()}
        paths = [*modes, *keep_out]
        ancestors = {"/".join(parts[:n]) for parts in (p.split("/") for p in paths) for n in range(1, len(parts))}
        return cls(frozenset(p for p, m in modes.items() if m == SYMLINK),
                   frozenset(p for p, m in modes.items() if m == GITLINK), frozenset(modes),
                   frozenset(ancestors | set(keep_out)))

    def unwanted(self, name: str, rel: str, mode: int) -> bool:
        """Whether the entry at `rel` goes (see `scrub`)."""
        if name.casefold() == ".git":
            return True
        if stat.S_ISLNK(mode):
            return rel not in self.links and (rel in self.known or rel in self.on_the_way)
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            return True
        return name in GIT_FILES and rel not in self.known


def scrub(root: Path, *tracked: Tracked, keep_out: Sequence[str] = ()) -> list[str]:
    """Remove from the tree at `root` what git would run or follow (see the module docstring).

    `tracked` are the listings whose links and submodule folders are legitimate; a link the
    command made is removed where it stands on a tracked path, on a folder on the way to one,
    or on the way to a path of `keep_out` (the agents' edits), and kept elsewhere (build output
    such as `node_modules/.bin`: nothing of ours follows a link). Returns the entries that are
    not the worker's (a tree lent to a sandbox and not taken back).
    """
    rules = _Rules.of(tracked, keep_out)
    me, problems, report = os.geteuid(), [], walk.Walk()
    _normalise_mode(str(root), None, os.lstat(root).st_mode)
    for folder in walk.walk(root, report):
        prefix = folder.rel + "/" if folder.rel else ""
        keep = []
        for name in (*folder.dirnames, *folder.filenames):
            rel = prefix + name
            info = walk.lstat_in(folder, name)
            if rel == ".git":
                continue
            if rules.unwanted(name, rel, info.st_mode):
                walk.remove_tree(root / rel)
                continue
            if info.st_uid != me:
                problems.append(f"{rel} belongs to uid {info.st_uid}")
            _normalise_mode(name, folder.fd, info.st_mode)
            if stat.S_ISDIR(info.st_mode):
                if rel in rules.gitlinks:
                    _empty(root / rel)
                else:
                    keep.append(name)
        folder.dirnames[:] = [d for d in folder.dirnames if d in keep]
    for deep in report.deeper:  # no repository nests folders this deep: what a command made there goes
        walk.remove_tree(root / deep)
    return problems


def _normalise_mode(name: str, dirfd: int | None, mode: int) -> None:
    """Folders 0755, files 0644 or 0755 (as git checks them out): readable by the unprivileged reader, no set-id."""
    if stat.S_ISLNK(mode):
        return
    wanted = 0o755 if stat.S_ISDIR(mode) or mode & 0o111 else 0o644
    if stat.S_IMODE(mode) != wanted:
        os.chmod(name, wanted, dir_fd=dirfd)


def _empty(folder: Path) -> None:
    """Remove everything inside a submodule's folder (never following links)."""
    for entry in os.scandir(folder):
        walk.remove_tree(Path(entry.path))


class Tree:
    """A work tree at `root` whose changes are measured against `base` (a commit sha)."""

    def __init__(self, git: Git, root: Path, base: str) -> None:
        self.git = git
        self.root = root
        self.base = base

    def tracked(self) -> Tracked:
        """What the base commit holds."""
        return tracked_paths(self.git("ls-tree", "-r", "-z", "--full-tree", self.base, cwd=self.root))

    def reset(self, patch: str = "") -> None:
        """Back to the base commit with nothing else in the tree, then apply `patch`."""
        self._scrub()
        self.git("checkout", "--force", "--detach", "--quiet", self.base, cwd=self.root)
        self.git("clean", "-ffdxq", cwd=self.root)
        if patch:
            self.git("apply", "--whitespace=nowarn", "--binary", "-", cwd=self.root, stdin=patch)

    def restore(self, patch: str, paths: Sequence[str]) -> None:
        """After a sandboxed command: scrubbed, and every tracked path and `paths` back to base plus `patch`.

        Untracked files the command made (build output, caches the next command reuses) stay,
        except what `scrub` removes.
        """
        tracked = self._scrub(paths)
        self.git("checkout", "--force", "--detach", "--quiet", self.base, cwd=self.root)
        for path in paths:
            target = self.root / path
            if tracked.mode(path) is None:
                walk.remove_tree(target)
        if patch:
            self.git("apply", "--whitespace=nowarn", "--binary", "-", cwd=self.root, stdin=patch)

    def _scrub(self, keep_out: Sequence[str] = ()) -> Tracked:
        tracked = self.tracked()
        problems = scrub(self.root, tracked, tracked_paths(self.git("ls-files", "-s", "-z", cwd=self.root)),
                         keep_out=keep_out)
        if problems:
            raise GitError(f"the work tree holds what a sandboxed command left and was not taken back: {problems[0]}",
                           retryable=True)
        return tracked

    def patch(self, paths: list[str]) -> str:
        """The change to `paths` since the base, as a binary-safe unified diff."""
        if not paths:
            return ""
        self.git("add", "--all", "--", *paths, cwd=self.root)
        diff = self.git("diff", "--cached", "--binary", "--no-ext-diff", "--no-textconv", self.base, "--", *paths,
                        cwd=self.root)
        self.git("reset", "--quiet", cwd=self.root)
        return diff

    def function_diff(self, paths: list[str]) -> str:
        """The change to `paths` since the base with each hunk's whole enclosing function (`git diff -W`), for
        reading; text only (no binary data), no external diff or text conversion, literal paths."""
        if not paths:
            return ""
        self.git("add", "--all", "--", *paths, cwd=self.root)
        try:
            return self.git("diff", "--cached", "--function-context", "--no-ext-diff", "--no-textconv", "--no-color",
                            self.base, "--", *paths, cwd=self.root)
        finally:
            self.git("reset", "--quiet", cwd=self.root)

    def numstat(self, patch: str) -> list[tuple[str, int, int]]:
        """(path, lines added, lines removed) of a patch."""
        if not patch:
            return []
        out = self.git("apply", "--numstat", "-", cwd=self.root, stdin=patch)
        rows = []
        for line in out.splitlines():
            added, removed, path = line.split("\t", 2)
            rows.append((path, int(added) if added.isdigit() else 0, int(removed) if removed.isdigit() else 0))
        return rows

    def commit(self, paths: list[str], message: str, author: Identity, when: int) -> str:
        """Commit `paths` on top of the base; the same inputs give the same commit id."""
        stamp = f"{when} +0000"
        env = {"GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email, "GIT_AUTHOR_DATE": stamp,
               "GIT_COMMITTER_NAME": author.name, "GIT_COMMITTER_EMAIL": author.email,
               "GIT_COMMITTER_DATE": stamp}
        self.git("add", "--all", "--", *paths, cwd=self.root)
        self.git("commit", "--quiet", "--no-verify", "-m", message, cwd=self.root, env=env)
        return self.git("rev-parse", "HEAD", cwd=self.root).strip()

    def changed_files(self, sha: str) -> list[str]:
        """Every path the commit `sha` changes against the base, as git reports it (not as anyone named it)."""
        out = self.git("diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", self.base, sha, cwd=self.root)
        return [path for path in out.split("\0") if path]

    def push(self, url: str, token: str, sha: str, branch: str) -> None:
        """Push `sha` to `branch` on the real remote (never forced)."""
        self.git("push", "--quiet", url, f"{sha}:refs/heads/{branch}", cwd=self.root, token=token)
