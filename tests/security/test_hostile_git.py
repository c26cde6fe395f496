"""Hostile repositories against the worker's git: nothing a test leaves in the tree runs as the worker.

End to end through the real worker pieces and the real bubblewrap sandbox: the repository's
test command plants nested repositories whose configuration would execute a command (every
key of git that runs one), a `.git` file pointing at a planted git directory, hooks,
attribute files, links and a fifo, and the fix loop and a later plan job then run git on
that tree (`diff`, `grep`, `add`, `checkout`, `fetch`). Every payload writes a marker into
a folder that anyone on the host may write: if any of them ran, as root or as the reader,
the marker is there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.runs.model import State
from standins.github import FakeGitHub
from standins.openai import Reply
from tests.world import APPROVE, CODER, FIX, REPO, REVIEWER, SAMPLE_PLAN, TESTER, World

PLANNER = "Planner of issuesmith"
EXECUTING_KEYS = ("core.fsmonitor", "core.sshCommand", "core.pager", "core.editor", "core.askPass", "diff.external",
                  "credential.helper", "gpg.program", "sequence.editor", "core.gitProxy", "uploadpack.packObjectsHook",
                  "filter.evil.clean", "filter.evil.smudge", "filter.evil.process", "diff.evil.textconv",
                  "diff.evil.command", "core.alternateRefsCommand")
HOOKS = ("post-checkout", "pre-commit", "post-commit", "post-index-change", "reference-transaction", "pre-push",
         "fsmonitor-watchman", "post-merge", "pre-auto-gc")

PLANT = r"""#!/bin/sh
# What a hostile test run leaves behind in the work tree.
M={markers}
plant() {{  # plant <git dir> <name>: every configuration key that runs a command, and every hook
  for key in {keys}; do
    git --git-dir="$1" config "$key" "sh -c 'id > $M/$2-$key' #"
  done
  git --git-dir="$1" config core.hooksPath "$1/hooks"
  mkdir -p "$1/hooks"
  for hook in {hooks}; do
    printf '#!/bin/sh\nid > %s/%s-hook-%s\n' "$M" "$2" "$hook" > "$1/hooks/$hook"
    chmod +x "$1/hooks/$hook"
  done
}}
git init -q vendor/lib && plant vendor/lib/.git submodule                 # inside the submodule's folder
mkdir -p scratch/deep && git init -q scratch/deep && plant scratch/deep/.git untracked
git init -q textstats/inner && plant textstats/inner/.git tracked-folder  # under a tracked folder
git init -q --bare planted.git && plant planted.git gitfile
printf 'gitdir: ../planted.git\n' > docs/.git                            # a .git *file* (docs/ is tracked)
printf '* filter=evil diff=evil\n' > textstats/.gitattributes             # attributes naming the drivers
printf '*\n' > tests/.gitignore                                           # would hide the new test from git add
ln -s / textstats/root-link
mkfifo textstats/fifo
echo planted
"""


@pytest.fixture
def markers() -> Iterator[Path]:
    """A folder every user of the host may write: a payload run as root or as the reader leaves a file here."""
    folder = Path(tempfile.mkdtemp(prefix=f"issuesmith-hostile-{uuid.uuid4().hex[:6]}-", dir="/tmp"))
    folder.chmod(0o1777)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def push_hostile_commit(github: FakeGitHub, files: dict[str, str], gitlink: str | None = None) -> None:
    """Push a commit on main adding `files` (and a submodule at `gitlink`), as a maintainer would."""
    bare = github.repo_path(REPO)
    with tempfile.TemporaryDirectory() as scratch:
        clone = Path(scratch) / "clone"
        git = _git_in(clone)
        subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True, capture_output=True)
        for rel, text in files.items():
            (clone / rel).parent.mkdir(parents=True, exist_ok=True)
            (clone / rel).write_text(text)
        git("add", "-A")
        if gitlink:
            sub = git("hash-object", "-t", "blob", "--stdin", stdin="not a commit, only an id\n").strip()
            git("update-index", "--add", "--cacheinfo", f"160000,{sub},{gitlink}")
            (clone / ".gitmodules").write_text(f'[submodule "lib"]\n\tpath = {gitlink}\n\turl = ./lib\n')
            git("add", ".gitmodules")
        git("-c", "user.name=maintainer", "-c", "user.email=m@example.com", "commit", "-qm", "hostile")
        git("push", "-q", "origin", "HEAD:main")


def _git_in(root: Path):  # type: ignore[no-untyped-def]
    def run(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(["git", *args], cwd=root, input=stdin, capture_output=True, text=True,
                              check=True).stdout
    return run


def require_bubblewrap(world: World) -> None:
    probe = world.services.sandbox()
    if not probe.isolating:
        pytest.skip("needs the bubblewrap sandbox (root and bwrap, as in CI)")


def nested_git(work_dir: Path) -> list[str]:
    """Every `.git` under the work trees of `work_dir` but their own."""
    found = []
    for slot in (work_dir / "slots").glob("*/*/*"):
        if slot.is_dir() and not slot.name.endswith((".lock", ".lent")):
            for dirpath, dirnames, filenames in os.walk(slot):
                for name in (*dirnames, *filenames):
                    path = Path(dirpath, name)
                    if name == ".git" and path.parent != slot:
                        found.append(str(path.relative_to(slot)))
    return found


def hostile_files(markers: Path) -> dict[str, str]:
    """A repository whose test command first plants everything above (payloads write into `markers`)."""
    plant = PLANT.format(markers=markers, keys=" ".join(EXECUTING_KEYS), hooks=" ".join(HOOKS))
    return {"tools/plant.sh": plant, "docs/readme.md": "docs\n", "vendor/.keep": "",
            ".github/issuesmith.yml": "test_command: sh tools/plant.sh && python -m pytest -q\n"}


def test_what_a_test_plants_in_the_tree_never_runs_in_the_worker(world: World, markers: Path) -> None:
    require_bubblewrap(world)
    push_hostile_commit(world.github, hostile_files(markers), gitlink="vendor/lib")
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    world.openai.script(Reply.tool_calls([FIX]), Reply.json({"summary": "Split on any whitespace.", "notes": ""}),
                        match=CODER)
    world.openai.script(Reply.json(APPROVE), match=REVIEWER)
    world.openai.script(Reply.tool_calls([("create_file", {"path": "tests/test_hostile.py",
                                                           "content": "def test_new():\n    assert False\n"})]),
                        Reply.json({"summary": "added", "tests_added": ["test_new"]}), match=TESTER)
    world.openai.script(Reply.tool_calls([  # the fix round: search and read the tree the tests left, then edit
        ("search_code", {"query": "word_count"}), ("view_file", {"path": "textstats/__init__.py"}),
        ("replace_text", {"path": "tests/test_hostile.py", "old_text": "assert False", "new_text": "assert True"})]),
        Reply.json({"summary": "fixed the new test", "notes": ""}), match=CODER)
    world.say("/approve", by="carol")
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN, world.bot_comments()[-1].body
    [pull] = world.github.pulls(REPO)
    changed = subprocess.run(["git", "diff", "--name-only", f"main...{pull.head}"], cwd=world.github.repo_path(REPO),
                             capture_output=True, text=True, check=True).stdout.split()
    assert sorted(changed) == ["tests/test_hostile.py", "textstats/__init__.py"]  # nothing planted was committed
    results = [c.body for c in world.bot_comments() if "Review and t" in c.body]
    assert results and "passed" in results[-1]

    world.new_issue(title="count characters too")  # a second run takes the same work tree
    world.openai.script(Reply.tool_calls([("search_code", {"query": "def word_count"})]),
                        Reply.json(SAMPLE_PLAN), match=PLANNER)
    world.label()
    world.drain()
    assert any("/approve" in c.body for c in world.bot_comments()), "the second plan was posted"

    ran = sorted(os.listdir(markers))
    assert ran == [], f"planted commands ran on the worker: {ran}"
    assert nested_git(world.root / "work") == []
    tool_results = [str(m["content"]) for r in world.openai.requests for m in r["messages"] if m["role"] == "tool"]
    assert not any("root-link/" in text for text in tool_results)  # no hit through the link (the test output may
    # name it: on the run after the base run, `ln -s / textstats/root-link` finds the link there already)


def test_a_worker_killed_while_the_tree_was_lent_leaves_a_slot_that_is_rebuilt(world: World) -> None:
    """The tree lent to the sandbox user and never taken back (a killed worker): the next job clones afresh."""
    if os.geteuid() != 0:
        pytest.skip("lending a tree to another user needs root (as the worker has)")
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    [slot] = [p for p in (world.root / "work" / "slots" / REPO).iterdir() if p.name.isdigit()]
    planted = slot / "textstats" / "inner"
    subprocess.run(["git", "init", "-q", str(planted)], check=True)
    os.chown(planted, 65534, 65534)  # what ownership.lent leaves when its finally never ran
    slot.with_name(slot.name + ".lent").touch()

    world.new_issue(title="another one")
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    assert any("/approve" in c.body for c in world.bot_comments())
    assert not planted.exists() and not slot.with_name(slot.name + ".lent").exists()
    assert all(os.lstat(Path(d, n)).st_uid == os.geteuid()
               for d, dirs, files in os.walk(slot) for n in (*dirs, *files))
