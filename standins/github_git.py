"""Git plumbing for the GitHub stand-in: bare repositories on disk and `git http-backend` as CGI."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ZERO_SHA = "0" * 40
BOT_IDENTITY = {
    "GIT_AUTHOR_NAME": "GitHub",
    "GIT_AUTHOR_EMAIL": "noreply@github.com",
    "GIT_COMMITTER_NAME": "GitHub",
    "GIT_COMMITTER_EMAIL": "noreply@github.com",
}


class GitError(RuntimeError):
    """A git command failed."""


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment for git that ignores the machine's and the user's configuration."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(
        {
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        }
    )
    env.update(BOT_IDENTITY)
    if extra:
        env.update(extra)
    return env


def run_git(
    git_dir: Path,
    *args: str,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run `git --git-dir=GIT_DIR ARGS`; raise GitError on failure when `check`."""
    proc = subprocess.run(
        ["git", f"--git-dir={git_dir}", *args],
        input=input,
        capture_output=True,
        env=git_env(env),
        check=False,
        cwd=cwd,
    )
    if check and proc.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
    return proc


def out(git_dir: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Stdout of a git command, stripped."""
    return run_git(git_dir, *args, env=env).stdout.decode().strip()


def init_bare(path: Path, default_branch: str) -> None:
    """Create a bare repository whose HEAD points at `default_branch`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["git", "init", "--bare", "--quiet", f"--initial-branch={default_branch}", str(path)],
        capture_output=True,
        env=git_env(),
        check=False,
    )
    if proc.returncode != 0:
        raise GitError(proc.stderr.decode(errors="replace"))
    run_git(path, "config", "http.receivepack", "true")
    run_git(path, "config", "uploadpack.allowFilter", "true")
    run_git(path, "config", "uploadpack.allowAnySHA1InWant", "true")


def seed(path: Path, branch: str, source: Path | Mapping[str, str | bytes], message: str) -> str:
    """Commit a directory or a {path: content} mapping as the first commit of `branch`."""
    with tempfile.TemporaryDirectory(prefix="standin-seed-") as tmp:
        if isinstance(source, Path):
            tree_dir = source
        else:
            tree_dir = Path(tmp) / "tree"
            tree_dir.mkdir()
            for rel, content in source.items():
                target = tree_dir / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, bytes):
                    target.write_bytes(content)
                else:
                    target.write_text(content)
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), "GIT_WORK_TREE": str(tree_dir)}
        run_git(path, "add", "--all", env=env, cwd=tree_dir)
        tree = out(path, "write-tree", env=env)
        sha = out(path, "commit-tree", tree, "-m", message, env=env)
        run_git(path, "update-ref", f"refs/heads/{branch}", sha, ZERO_SHA)
        return sha


def list_refs(path: Path) -> dict[str, str]:
    """Every ref in the repository: full name -> object id."""
    text = out(path, "for-each-ref", "--format=%(objectname) %(refname)")
    refs: dict[str, str] = {}
    for line in text.splitlines():
        sha, _, name = line.partition(" ")
        refs[name] = sha
    return refs


def branches(path: Path) -> dict[str, str]:
    """Branch name -> commit sha."""
    prefix = "refs/heads/"
    return {name[len(prefix) :]: sha for name, sha in list_refs(path).items() if name.startswith(prefix)}


def resolve(path: Path, rev: str) -> str | None:
    """The commit a branch, tag or sha names, or None."""
    proc = run_git(path, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    sha = proc.stdout.decode().strip()
    return sha if proc.returncode == 0 and sha else None


def ref_exists(path: Path, ref: str) -> str | None:
    """The object a full ref points at, or None."""
    proc = run_git(path, "rev-parse", "--verify", "--quiet", ref, check=False)
    sha = proc.stdout.decode().strip()
    return sha if proc.returncode == 0 and sha else None


def update_ref(path: Path, ref: str, new: str, old: str | None = None) -> None:
    """Point `ref` at `new` (or delete it when `new` is the zero sha)."""
    if new == ZERO_SHA:
        run_git(path, "update-ref", "-d", ref, *([old] if old else []))
    else:
        run_git(path, "update-ref", ref, new, *([old] if old else []))


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    author_date: str
    committer_name: str
    committer_email: str
    committer_date: str
    message: str


def commit_info(path: Path, sha: str) -> CommitInfo:
    """Metadata of one commit (dates in ISO 8601, UTC)."""
    fmt = "%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
    text = run_git(path, "log", "-1", f"--format={fmt}", sha, env={"TZ": "UTC"}).stdout.decode()
    parts = text.split("\x00")
    return CommitInfo(
        sha=parts[0],
        tree=parts[1],
        parents=tuple(parts[2].split()),
        author_name=parts[3],
        author_email=parts[4],
        author_date=_utc_iso(parts[5]),
        committer_name=parts[6],
        committer_email=parts[7],
        committer_date=_utc_iso(parts[8]),
        message=parts[9].rstrip("\n"),
    )


def _utc_iso(text: str) -> str:
    from datetime import UTC, datetime

    return datetime.fromisoformat(text.strip()).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    type: str  # blob | tree | commit
    sha: str
    size: int
    path: str


def ls_tree(path: Path, commit: str, rel: str) -> list[TreeEntry]:
    """Entries at `rel` (a file gives one entry; a directory its children); [] if absent."""
    target = rel.strip("/")
    args = ["ls-tree", "-l", "-z", commit]
    if target:
        args += ["--", target]
    proc = run_git(path, *args, check=False)
    entries = [_entry(raw) for raw in proc.stdout.decode(errors="surrogateescape").split("\x00") if raw]
    if target and len(entries) == 1 and entries[0].type == "tree" and entries[0].path == target:
        proc = run_git(path, "ls-tree", "-l", "-z", commit, "--", target + "/", check=False)
        entries = [_entry(raw) for raw in proc.stdout.decode(errors="surrogateescape").split("\x00") if raw]
        return entries or [TreeEntry("040000", "tree", "", 0, target)]
    return entries


def _entry(raw: str) -> TreeEntry:
    meta, _, name = raw.partition("\t")
    mode, kind, sha, size = meta.split()
    return TreeEntry(mode, kind, sha, 0 if size == "-" else int(size), name)


def is_tree(path: Path, commit: str, rel: str) -> bool:
    """Whether `rel` names a directory in `commit` (the root always does)."""
    target = rel.strip("/")
    if not target:
        return True
    proc = run_git(path, "cat-file", "-t", f"{commit}:{target}", check=False)
    return proc.stdout.decode().strip() == "tree"


def read_blob(path: Path, sha: str) -> bytes:
    return run_git(path, "cat-file", "blob", sha).stdout


def count_commits(path: Path, base: str, head: str) -> int:
    return int(out(path, "rev-list", "--count", f"{base}..{head}") or "0")


def diff_stats(path: Path, base: str, head: str) -> tuple[int, int, int]:
    """(additions, deletions, changed files) of head against its merge base with base."""
    text = out(path, "diff", "--numstat", f"{base}...{head}")
    additions = deletions = files = 0
    for line in text.splitlines():
        added, deleted, _ = line.split("\t", 2)
        files += 1
        additions += int(added) if added.isdigit() else 0
        deletions += int(deleted) if deleted.isdigit() else 0
    return additions, deletions, files


def diff_hunk(path: Path, base: str, head: str, file: str, line: int) -> str:
    """The diff hunk of `file` that ends at new-side `line`, as GitHub shows on review comments."""
    text = run_git(path, "diff", f"{base}...{head}", "--", file, check=False).stdout.decode(errors="replace")
    hunk: list[str] = []
    new_line = 0
    for row in text.splitlines():
        if row.startswith("@@"):
            hunk = [row]
            try:
                new_line = int(row.split("+", 1)[1].split(",", 1)[0].split(" ", 1)[0]) - 1
            except (IndexError, ValueError):
                new_line = 0
            continue
        if not hunk:
            continue
        hunk.append(row)
        if not row.startswith("-"):
            new_line += 1
        if new_line >= line:
            return "\n".join(hunk)
    return "\n".join(hunk) if hunk else f"@@ -0,0 +1,{max(line, 1)} @@"


def mergeable(path: Path, base: str, head: str) -> bool:
    """Whether head merges into base without conflicts."""
    proc = run_git(path, "merge-tree", "--write-tree", base, head, check=False)
    return proc.returncode == 0


def merge(path: Path, base: str, head: str, message: str, squash: bool) -> str | None:
    """A merge (or squash) commit of head into base; None on conflicts. Refs are not moved."""
    proc = run_git(path, "merge-tree", "--write-tree", base, head, check=False)
    if proc.returncode != 0:
        return None
    tree = proc.stdout.decode().split("\n", 1)[0].strip()
    parents = ["-p", base] if squash else ["-p", base, "-p", head]
    return out(path, "commit-tree", tree, *parents, "-m", message)


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------- smart HTTP


@dataclass
class CgiResponse:
    status: int
    headers: list[tuple[str, str]]
    body: AsyncIterator[bytes]
    process: asyncio.subprocess.Process


async def http_backend(
    project_root: Path,
    path_info: str,
    method: str,
    query: str,
    content_type: str,
    body: bytes,
    remote_user: str,
    git_protocol: str | None,
) -> CgiResponse:
    """Run `git http-backend` for one request; the body streams out as the CGI writes it."""
    env = git_env(
        {
            "GIT_PROJECT_ROOT": str(project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path_info,
            "REQUEST_METHOD": method,
            "QUERY_STRING": query,
            "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": remote_user,
            "REMOTE_ADDR": "127.0.0.1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
    )
    if git_protocol:
        env["GIT_PROTOCOL"] = git_protocol
    proc = await asyncio.create_subprocess_exec(
        "git",
        "http-backend",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None

    async def feed() -> None:
        assert proc.stdin is not None
        try:
            if body:
                proc.stdin.write(body)
                await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError, RuntimeError):
            pass  # git http-backend answered without reading it all (uvloop: RuntimeError on a closed pipe)
        finally:
            proc.stdin.close()

    feeder = asyncio.ensure_future(feed())
    raw_headers = b""
    while b"\r\n\r\n" not in raw_headers and b"\n\n" not in raw_headers:
        chunk = await proc.stdout.read(4096)
        if not chunk:
            break
        raw_headers += chunk
    sep = b"\r\n\r\n" if b"\r\n\r\n" in raw_headers else b"\n\n"
    head, _, rest = raw_headers.partition(sep)
    status = 200
    headers: list[tuple[str, str]] = []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if not name:
            continue
        if name.strip().lower() == "status":
            status = int(value.strip().split()[0])
        else:
            headers.append((name.strip(), value.strip()))

    async def stream() -> AsyncIterator[bytes]:
        assert proc.stdout is not None
        if rest:
            yield rest
        while True:
            chunk = await proc.stdout.read(65536)
            if not chunk:
                break
            yield chunk
        await feeder
        await proc.wait()

    return CgiResponse(status, headers, stream(), proc)
