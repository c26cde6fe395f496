"""Operations on a checked-out work tree: reset to the base, apply and capture patches, commit.

A step's result is a *patch* (what the edit tools changed, relative to the base commit), so
a later step, or a re-run job, rebuilds exactly the same tree from the base plus the patch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.workspace import Git


@dataclass(frozen=True)
class Identity:
    """Who commits: the app's bot account."""

    name: str
    email: str


class Tree:
    """A work tree at `root` whose changes are measured against `base` (a commit sha)."""

    def __init__(self, git: Git, root: Path, base: str) -> None:
        self.git = git
        self.root = root
        self.base = base

    def reset(self, patch: str = "") -> None:
        """Back to the base commit with nothing else in the tree, then apply `patch`."""
        self.git("checkout", "--force", "--detach", "--quiet", self.base, cwd=self.root)
        self.git("clean", "-ffdxq", cwd=self.root)
        if patch:
            self.git("apply", "--whitespace=nowarn", "--binary", "-", cwd=self.root, stdin=patch)

    def patch(self, paths: list[str]) -> str:
        """The change to `paths` since the base, as a binary-safe unified diff."""
        if not paths:
            return ""
        self.git("add", "--all", "--", *paths, cwd=self.root)
        diff = self.git("diff", "--cached", "--binary", self.base, "--", *paths, cwd=self.root)
        self.git("reset", "--quiet", cwd=self.root)
        return diff

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

    def push(self, url: str, token: str, sha: str, branch: str) -> None:
        """Push `sha` to `branch` on the real remote (never forced)."""
        self.git("push", "--quiet", url, f"{sha}:refs/heads/{branch}", cwd=self.root, token=token)
