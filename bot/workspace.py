"""Getting a work tree fast: one bare mirror per repository, reused clones per slot.

Measured on these machines (see README): a reused `--shared` clone reset to a commit
takes ~0.14 s against 6.6 s for `clone --depth 1` of a django-sized repository.

* The mirror (`mirrors/<owner>/<repo>.git`, heads and tags only) is created once and
  refreshed with `fetch`, always under an exclusive `flock` (concurrent fetches corrupt).
* A slot (`slots/<owner>/<repo>/<n>`) is a `clone --shared` of the mirror, held by one
  job at a time through its own `flock`; it is reset on entry and wiped on exit
  (`checkout -f --detach`, `clean -ffdx`, local branches deleted), so no run sees another's files.
* The installation token reaches git only through `GIT_CONFIG_*` environment variables
  (`http.extraHeader`), never the URL, `.git/config`, the command line, logs or errors.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.errors import GitError, git_failure_is_transient
from bot.redact import Redactor

SLOTS_PER_REPO = 8
GIT_TIMEOUT = 600


@dataclass(frozen=True)
class WorkTree:
    """A checked-out tree for one job: where it is and which commit it holds."""

    path: Path
    sha: str
    branch: str


class Git:
    """Runs git with a clean, credential-free environment (plus a token header when given)."""

    def __init__(self, redactor: Redactor) -> None:
        self._redact = redactor

    def env(self, token: str | None = None) -> dict[str, str]:
        """The environment for a git command; the token travels as an HTTP header config."""
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        env.update(GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull,
                   GIT_AUTHOR_NAME="issuesmith", GIT_AUTHOR_EMAIL="issuesmith@users.noreply.github.com",
                   GIT_COMMITTER_NAME="issuesmith", GIT_COMMITTER_EMAIL="issuesmith@users.noreply.github.com")
        if token:
            basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            env.update(GIT_CONFIG_COUNT="2", GIT_CONFIG_KEY_0="http.extraHeader",
                       GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
                       GIT_CONFIG_KEY_1="credential.helper", GIT_CONFIG_VALUE_1="")
        return env

    def __call__(self, *args: str, cwd: Path | None = None, token: str | None = None,
                 timeout: float = GIT_TIMEOUT, stdin: str | None = None,
                 env: dict[str, str] | None = None) -> str:
        """Run `git args...`; returns stdout; raises `GitError` with redacted output on failure."""
        try:
            done = subprocess.run(["git", *args], cwd=cwd, env={**self.env(token), **(env or {})},
                                  capture_output=True, input=stdin, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise GitError(f"git {args[0]} timed out after {timeout:.0f}s", retryable=True) from exc
        if done.returncode != 0:
            stderr = self._redact(done.stderr.strip())[-2000:]
            raise GitError(f"git {args[0]} failed: {stderr}", retryable=git_failure_is_transient(stderr))
        return done.stdout


@contextlib.contextmanager
def _flock(path: Path, blocking: bool = True) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        flags = fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB)
        try:
            fcntl.flock(handle, flags)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Workspace:
    """Mirrors and slots under `root`, shared by every worker process on the machine."""

    def __init__(self, root: Path, redactor: Redactor, slots: int = SLOTS_PER_REPO) -> None:
        self.root = root
        self.git = Git(redactor)
        self._slots = slots

    def mirror_path(self, repo: str) -> Path:
        """Where the bare mirror of `owner/name` lives."""
        return self.root / "mirrors" / f"{repo}.git"

    def refresh_mirror(self, repo: str, url: str, token: str) -> Path:
        """Create the mirror if needed and fetch heads and tags, holding the mirror's lock."""
        mirror = self.mirror_path(repo)
        with _flock(mirror.with_suffix(".lock")):
            if not (mirror / "HEAD").exists():
                self._init_mirror(mirror, url)
            self.git("fetch", "--prune", "--no-tags", "origin", cwd=mirror, token=token)
        return mirror

    def _init_mirror(self, mirror: Path, url: str) -> None:
        mirror.mkdir(parents=True, exist_ok=True)
        self.git("init", "--bare", "--quiet", cwd=mirror)
        self.git("remote", "add", "origin", url, cwd=mirror)
        self.git("config", "--replace-all", "remote.origin.fetch", "+refs/heads/*:refs/heads/*", cwd=mirror)
        self.git("config", "--add", "remote.origin.fetch", "+refs/tags/*:refs/tags/*", cwd=mirror)
        self.git("config", "gc.auto", "0", cwd=mirror)

    @contextlib.contextmanager
    def checkout(self, repo: str, url: str, token: str, branch: str) -> Iterator[WorkTree]:
        """A clean work tree of `branch`'s current head, held for the duration of the block."""
        mirror = self.refresh_mirror(repo, url, token)
        sha = self.git("rev-parse", "--verify", f"refs/heads/{branch}^{{commit}}", cwd=mirror).strip()
        with self._slot(repo) as slot:
            self._prepare_slot(slot, mirror)
            self._reset(slot, sha)
            try:
                yield WorkTree(slot, sha, branch)
            finally:
                self._reset(slot, sha)

    @contextlib.contextmanager
    def _slot(self, repo: str) -> Iterator[Path]:
        base = self.root / "slots" / repo
        deadline = time.monotonic() + GIT_TIMEOUT
        while True:
            for n in range(self._slots):
                with _flock(base / f"{n}.lock", blocking=False) as held:
                    if held:
                        yield base / str(n)
                        return
            if time.monotonic() > deadline:
                raise GitError(f"all {self._slots} work trees of {repo} stayed busy", retryable=True)
            time.sleep(0.2)

    def _prepare_slot(self, slot: Path, mirror: Path) -> None:
        if not (slot / ".git").exists():
            slot.parent.mkdir(parents=True, exist_ok=True)
            self.git("clone", "--shared", "--no-checkout", "--quiet", str(mirror), str(slot))
        self.git("fetch", "--prune", "--no-tags", "--quiet", "origin", cwd=slot)

    def _reset(self, slot: Path, sha: str) -> None:
        self.git("checkout", "--force", "--detach", "--quiet", sha, cwd=slot)
        self.git("clean", "-ffdxq", cwd=slot)
        branches = self.git("for-each-ref", "--format=%(refname:short)", "refs/heads/", cwd=slot).split()
        if branches:
            self.git("branch", "-D", "--quiet", *branches, cwd=slot)
