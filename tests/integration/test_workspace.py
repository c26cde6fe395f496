"""Work trees from a per-repository mirror, over real git smart HTTP with an installation token."""

from __future__ import annotations

import fcntl
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import github
import pytest

from bot.core.errors import GitError
from bot.core.redact import Redactor
from bot.workspace.git import Git
from bot.workspace.slots import Workspace
from standins.github import FakeGitHub, generate_app_key
from standins.server import ServerThread
from tests.world import wait_until

REPO = "acme/tool"


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[tuple[FakeGitHub, str, str]]:
    fake = FakeGitHub(tmp_path / "gh")
    with ServerThread(fake.app) as server:
        fake.bind(server.url)
        private, public = generate_app_key()
        fake.add_app(1, public)
        fake.add_installation(9, "acme")
        fake.add_repo(REPO, 9, {"README.md": "# tool\n", "src/main.py": "print('hi')\n"})
        token = github.GithubIntegration(auth=github.Auth.AppAuth(1, private),
                                         base_url=fake.api_url).get_access_token(9).token
        yield fake, f"{server.url}/{REPO}.git", token
        fake.close()


def test_checkout_gives_a_clean_tree_and_keeps_the_token_out_of_git(tmp_path: Path, remote) -> None:
    fake, url, token = remote
    ws = Workspace(tmp_path / "work", Redactor())
    with ws.checkout(REPO, url, token, "main") as tree:
        assert (tree.path / "src/main.py").read_text() == "print('hi')\n"
        assert tree.sha == fake.branches(REPO)["main"]
        (tree.path / "scratch.txt").write_text("left behind?")
    assert not (tree.path / "scratch.txt").exists()
    for config in (ws.mirror_path(REPO) / "config", tree.path / ".git" / "config"):
        assert token not in config.read_text()
        assert "x-access-token" not in config.read_text()


def test_second_checkout_reuses_the_slot_and_sees_new_commits(tmp_path: Path, remote) -> None:
    fake, url, token = remote
    ws = Workspace(tmp_path / "work", Redactor())
    with ws.checkout(REPO, url, token, "main") as first:
        pass
    fake.push_commit(REPO, "main", {"src/new.py": "x = 1\n"}, by="acme")
    with ws.checkout(REPO, url, token, "main") as second:
        assert second.path == first.path
        assert (second.path / "src/new.py").exists() and second.sha != first.sha


class CountingGit(Git):
    """The real hardened git, counting the commands it ran."""

    def __init__(self) -> None:
        super().__init__(Redactor())
        self.commands: list[str] = []

    def __call__(self, *args: str, **kwargs: Any) -> str:
        self.commands.append(args[0])
        return super().__call__(*args, **kwargs)


@pytest.mark.parametrize("default_branch", ["main", "master"])
def test_a_clean_slot_is_reused_not_cloned_again(tmp_path: Path, remote, default_branch: str) -> None:
    """A mirror's HEAD names `master` (git's default), so for a repository whose branch is `master` the clone made
    a local branch; the reset deleted it, which changed .git/config after its digest was taken, and every job
    after the first threw the slot away and cloned it again."""
    fake, url, token = remote
    name = f"acme/{default_branch}-tool"
    fake.add_repo(name, 9, {"README.md": "# tool\n"}, default_branch=default_branch)
    ws = Workspace(tmp_path / "work", Redactor())
    ws.git = git = CountingGit()
    url = url.replace(REPO, name)
    for _ in range(3):
        with ws.checkout(name, url, token, default_branch) as tree:
            assert (tree.path / "README.md").is_file()
    assert git.commands.count("clone") == 1


def test_a_fetch_that_began_after_the_ask_is_not_repeated(tmp_path: Path, remote) -> None:
    fake, url, token = remote
    ws = Workspace(tmp_path / "work", Redactor())
    ws.git = git = CountingGit()
    ws.refresh_mirror(REPO, url, token)  # creates the mirror
    asked = time.time()
    ws.refresh_mirror(REPO, url, token)  # began after `asked`
    ws._refresh(REPO, url, token, asked=asked)  # as a job that asked then, and waited for the lock meanwhile
    assert git.commands.count("fetch") == 2
    fake.push_commit(REPO, "main", {"src/new.py": "x = 1\n"}, by="acme")
    with ws.checkout(REPO, url, token, "main") as tree:  # asks now: fetches, and sees the new commit
        assert (tree.path / "src/new.py").exists()
    assert git.commands.count("fetch") == 4  # the mirror's, and the slot's from the mirror


def test_jobs_waiting_for_the_mirror_share_one_fetch(tmp_path: Path, remote) -> None:
    _, url, token = remote
    ws = Workspace(tmp_path / "work", Redactor())
    ws.refresh_mirror(REPO, url, token)
    ws.git = git = CountingGit()
    lock = ws.mirror_path(REPO).with_suffix(".lock")
    with open(lock, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another job is fetching
        jobs = [threading.Thread(target=ws.refresh_mirror, args=(REPO, url, token)) for _ in range(3)]
        for job in jobs:
            job.start()
        wait_until(lambda: _flock_waiters(lock) == 3, what="three jobs waiting for the mirror's lock")
        fcntl.flock(held, fcntl.LOCK_UN)
    for job in jobs:
        job.join(30)
    assert git.commands.count("fetch") == 1


def _flock_waiters(path: Path) -> int:
    """Processes or open files blocked on a `flock` of `path` (Linux /proc/locks: lines marked `->`)."""
    inode = os.stat(path).st_ino
    return sum(1 for line in Path("/proc/locks").read_text().splitlines()
               if "->" in line and line.split()[-3].endswith(f":{inode}"))


def test_concurrent_checkouts_get_separate_slots(tmp_path: Path, remote) -> None:
    _, url, token = remote
    ws = Workspace(tmp_path / "work", Redactor())
    paths: list[Path] = []
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with ws.checkout(REPO, url, token, "main") as tree:
                paths.append(tree.path)
                barrier.wait(timeout=30)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(paths)) == 3


def test_bad_token_fails_with_a_redacted_final_error(tmp_path: Path, remote) -> None:
    _, url, _ = remote
    bad = "ghs_" + "z" * 36
    redactor = Redactor()
    redactor.add(bad)
    with pytest.raises(GitError) as caught, Workspace(tmp_path / "work", redactor).checkout(REPO, url, bad, "main"):
        pass
    assert bad not in str(caught.value) and not caught.value.retryable


def test_missing_branch_is_reported(tmp_path: Path, remote) -> None:
    _, url, token = remote
    workspace = Workspace(tmp_path / "work", Redactor())
    with pytest.raises(GitError, match="rev-parse"), workspace.checkout(REPO, url, token, "nope"):
        pass


def test_work_trees_carry_the_repositorys_tags_old_and_new(tmp_path: Path, remote) -> None:
    """setuptools-scm and versioneer projects take their version from tags: without them their tests refuse to run."""
    fake, url, token = remote
    bare = fake.repo_path(REPO)
    subprocess.run(["git", "-C", str(bare), "tag", "v1.0", "main"], check=True)
    ws = Workspace(tmp_path / "work", Redactor())
    with ws.checkout(REPO, url, token, "main") as first:
        assert "v1.0" in ws.git("tag", "--list", cwd=first.path).split()
    fake.push_commit(REPO, "main", {"src/new.py": "x = 1\n"}, by="acme")
    subprocess.run(["git", "-C", str(bare), "tag", "v1.1", "main"], check=True)
    with ws.checkout(REPO, url, token, "main") as second:
        assert second.path == first.path  # a reused slot learns the new tag too
        assert ws.git("describe", "--tags", "HEAD", cwd=second.path).strip() == "v1.1"
