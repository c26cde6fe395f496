"""Running git where an attacker wrote the repository: the one module that starts git.

Every byte of a work tree, and of the objects behind it, is the repository's, so git must
never run anything the repository chose, nor wander into a repository the tree planted:

* **No configuration but ours.** System and global configuration are ignored
  (`GIT_CONFIG_NOSYSTEM`, `GIT_CONFIG_GLOBAL=/dev/null`), and the settings in `HARDENED` are
  given in git's *command* scope, which outranks every file a repository could hold and is
  inherited by any git that git itself starts (a submodule's, say): no fsmonitor, no hooks,
  no pager, editor, askpass or ssh command, no attribute or exclude files of the host, no
  submodule recursion, no transport but http(s) (`protocol.file.allow` only for our own
  mirror), no signing program, implicit bare repositories refused. (`diff.external` cannot
  be emptied this way, so every diff we run says `--no-ext-diff`.)
* **No discovery.** A command on a work tree gets `GIT_DIR` and `GIT_WORK_TREE` explicitly,
  so a nested `.git` (directory or `gitdir:` file) is never taken for the repository.
* **Literal pathspecs** (`GIT_LITERAL_PATHSPECS`): a path like `:(glob)**` is a file name.
* **A dropped uid for reading an untrusted tree** (`read_tree`): as root, git runs as the
  sandbox's unprivileged user (where a folder above the tree stops that user, in a private
  mount namespace with the tree bound on a directory it can reach); whatever slipped past the
  rules above could not read the worker's key or signal its processes. A worker that is not
  root reads as itself.

The installation token reaches git only through `GIT_CONFIG_*` variables (`http.extraHeader`),
never the URL, `.git/config`, the command line, logs or error messages.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.core.errors import GitError, git_failure_is_transient
from bot.sandboxes import staging

GIT_TIMEOUT = 600
NOBODY = 65534
IDENTITY = {"GIT_AUTHOR_NAME": "issuesmith", "GIT_AUTHOR_EMAIL": "issuesmith@users.noreply.github.com",
            "GIT_COMMITTER_NAME": "issuesmith", "GIT_COMMITTER_EMAIL": "issuesmith@users.noreply.github.com"}
HARDENED: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),
    ("core.hooksPath", "/dev/null"),
    ("core.sshCommand", "false"),
    ("core.askPass", "false"),
    ("core.pager", "cat"),
    ("core.editor", "false"),
    ("sequence.editor", "false"),
    ("core.attributesFile", "/dev/null"),
    ("core.excludesFile", "/dev/null"),
    ("core.untrackedCache", "false"),
    ("core.protectNTFS", "true"),
    ("core.protectHFS", "true"),
    ("credential.helper", ""),
    ("diff.ignoreSubmodules", "all"),
    ("status.submoduleSummary", "false"),
    ("submodule.recurse", "false"),
    ("fetch.recurseSubmodules", "false"),
    ("push.recurseSubmodules", "no"),
    ("protocol.allow", "never"),
    ("protocol.https.allow", "always"),
    ("protocol.http.allow", "always"),
    ("gpg.program", "false"),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("safe.bareRepository", "explicit"),
    ("init.templateDir", ""),
    ("advice.detachedHead", "false"),
)
"""Command-scope settings of every git we run (values chosen so nothing is executed or recursed into)."""
FIXED_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
             "GIT_ATTR_NOSYSTEM": "1", "GIT_LITERAL_PATHSPECS": "1", "GIT_NO_REPLACE_OBJECTS": "1",
             "GIT_PROTOCOL_FROM_USER": "0"}
_PASSED = ("PATH", "LANG", "TMPDIR")


@dataclass(frozen=True)
class Reader:
    """The unprivileged user that reads untrusted trees when the worker is root (the sandbox's)."""

    uid: int = NOBODY
    gid: int = NOBODY


def hardened_env(token: str | None = None, *, local: bool = False, extra: Sequence[tuple[str, str]] = ()
                 ) -> dict[str, str]:
    """The whole environment of a git command: a few of ours, the hardened settings, an optional token header.

    `local` lets git read a repository by path (our own mirror); `extra` adds command-scope settings.
    """
    env = {k: v for k, v in os.environ.items() if k in _PASSED}
    env.update(FIXED_ENV, HOME=os.devnull, **IDENTITY)
    settings = [*HARDENED, ("protocol.file.allow", "always" if local else "never"), *extra]
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        settings.append(("http.extraHeader", f"Authorization: Basic {basic}"))
    env["GIT_CONFIG_COUNT"] = str(len(settings))
    for n, (key, value) in enumerate(settings):
        env[f"GIT_CONFIG_KEY_{n}"] = key
        env[f"GIT_CONFIG_VALUE_{n}"] = value
    return env


def repository_env(cwd: Path) -> dict[str, str]:
    """`GIT_DIR` (and `GIT_WORK_TREE`) for the repository at `cwd`: a work tree with a real `.git` directory,
    or a bare repository; anything else (a `.git` file or link, nothing at all) is refused."""
    dot_git = cwd / ".git"
    if dot_git.is_dir() and not dot_git.is_symlink():
        return {"GIT_DIR": str(dot_git), "GIT_WORK_TREE": str(cwd)}
    if (cwd / "HEAD").is_file() and (cwd / "objects").is_dir() and not cwd.is_symlink():
        return {"GIT_DIR": str(cwd)}
    raise GitError(f"{cwd} is not a repository of ours (no .git directory there)")


class Git:
    """Runs hardened git; raises `GitError` with redacted output on failure."""

    def __init__(self, redactor: Callable[[str], str], reader: Reader | None = None) -> None:
        self._redact = redactor
        self.reader = reader or Reader()

    def __call__(self, *args: str, cwd: Path | None = None, token: str | None = None,
                 timeout: float = GIT_TIMEOUT, stdin: str | None = None, env: Mapping[str, str] | None = None,
                 local: bool = False, discover: bool = False) -> str:
        """Run `git args...` on the repository at `cwd` (see `repository_env`); returns stdout.

        `discover` lets git find the repository from `cwd` itself (only for a person's own
        checkout in local mode); `local` allows reading another repository by path (our mirror).
        """
        full = hardened_env(token, local=local)
        if cwd is not None and not discover:
            full.update(repository_env(cwd))
        full.update(env or {})
        try:  # bytes, decoded here: text mode would read CRLF as LF, and a diff of a CRLF file would not apply back
            done = subprocess.run(["git", *args], cwd=cwd, env=full, capture_output=True,
                                  input=None if stdin is None else stdin.encode("utf-8"), timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise GitError(f"git {args[0]} timed out after {timeout:.0f}s", retryable=True) from exc
        if done.returncode != 0:
            raise self._failure(args, done.stderr.decode("utf-8", "replace"))
        return str(done.stdout.decode("utf-8"))

    def read_tree(self, root: Path, *args: str, ok: Sequence[int] = (0,), timeout: float = 60) -> bytes:
        """Run a read-only `git args...` on the untrusted work tree at `root`, as the reader when we are root.

        Returns stdout (bytes); an exit status outside `ok` raises `GitError`.
        """
        if os.geteuid() != 0:
            return self._read(root, args, ok, timeout, None, root)
        if _reachable(root):
            return self._read(root, args, ok, timeout, _dropper(None, root, self.reader), root)
        with staging.staged([root]) as stage:
            return self._read(stage[root], args, ok, timeout, _dropper(stage, root, self.reader), root)

    def _read(self, place: Path, args: Sequence[str], ok: Sequence[int], timeout: float,
              preexec: Callable[[], None] | None, root: Path) -> bytes:
        env = hardened_env(extra=[("safe.directory", "*")]) | {"GIT_OPTIONAL_LOCKS": "0"}
        env.update({"GIT_DIR": str(place / ".git"), "GIT_WORK_TREE": str(place)})
        if not ((root / ".git").is_dir() and not (root / ".git").is_symlink()):
            raise GitError(f"{root} is not a work tree of ours (no .git directory there)")
        try:
            done = subprocess.run(["git", *args], cwd=place if preexec is None else "/", env=env,
                                  capture_output=True, timeout=timeout, check=False, preexec_fn=preexec)
        except subprocess.TimeoutExpired as exc:
            raise GitError(f"git {args[0]} timed out after {timeout:.0f}s", retryable=True) from exc
        except subprocess.SubprocessError as exc:  # the preexec step failed in the child
            raise GitError(f"git {args[0]} could not drop its privileges: {exc}", retryable=True) from exc
        if done.returncode not in ok:
            raise self._failure(args, done.stderr.decode("utf-8", "replace"))
        return done.stdout

    def _failure(self, args: Sequence[str], stderr: str) -> GitError:
        text = self._redact(stderr.strip())[-2000:]
        return GitError(f"git {args[0]} failed: {text}", retryable=git_failure_is_transient(text))


def _reachable(root: Path) -> bool:
    """Whether any user can reach `root` (every folder above it lets others through): then no binding is needed."""
    return all(os.stat(folder).st_mode & 0o001 for folder in root.absolute().parents)


def _dropper(stage: staging.Staging | None, root: Path, reader: Reader) -> Callable[[], None]:
    """In the child, as root: (bind the tree where the reader can reach it,) go there, become the reader."""
    place = stage[root] if stage is not None else root

    def drop() -> None:
        if stage is not None:
            stage.enter()
        os.chdir(place)
        os.setgroups([])
        os.setresgid(reader.gid, reader.gid, reader.gid)
        os.setresuid(reader.uid, reader.uid, reader.uid)

    return drop
