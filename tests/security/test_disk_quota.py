"""A disk quota on the work tree and HOME of a run: a command that writes past it is stopped, and the run fails.

The real bubblewrap sandbox runs each command with a quota of 50 MiB; the end-to-end test
lowers ISSUESMITH_DISK_BYTES and lets the Tester add a test that fills the tree.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.runs.model import State
from bot.sandboxes import BubblewrapBackend, UnsandboxedBackend
from bot.sandboxes.base import Limits
from tests.integration import test_implement as scripted
from tests.world import APPROVE, FIX, REPO, World

QUOTA = 50 * 1024**2
LIMITS = Limits(timeout=60, kill_grace=0.3, disk_bytes=QUOTA)


def write_mib(path: str, mib: int) -> str:
    """A shell command writing `mib` MiB of real (not sparse) data to `path`."""
    return f"head -c {mib * 1024 * 1024} /dev/urandom > {path}"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    work = tmp_path / "repo"
    (work / ".git").mkdir(parents=True)
    (work / "README.md").write_text("hello\n")
    return work


def test_a_command_that_fills_the_tree_is_stopped_with_a_clear_message(bwrap: BubblewrapBackend, tree: Path) -> None:
    result = bwrap.run(f"{write_mib('big.bin', 80)} && echo WROTE && sleep 50 && echo SURVIVED", tree, LIMITS)
    assert result.disk_exceeded and result.exit_code is None and not result.timed_out
    assert "disk quota exceeded" in result.disk_note and "50.0 MiB (ISSUESMITH_DISK_BYTES)" in result.disk_note
    assert "the command was stopped" in result.output and "SURVIVED" not in result.output
    assert result.duration < 30  # stopped by the quota, long before its 60 s timeout


def test_the_tree_and_home_count_together(bwrap: BubblewrapBackend, tree: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    ok = bwrap.run(write_mib("part.bin", 30), tree, LIMITS, home=home)
    assert ok.exit_code == 0 and not ok.disk_exceeded  # 30 MiB: under the quota
    over = bwrap.run(write_mib("~/cache.bin", 30), tree, LIMITS, home=home)  # 60 MiB together
    assert over.disk_exceeded and "disk quota exceeded" in over.output


def test_under_the_quota_a_command_passes_and_links_do_not_count(bwrap: BubblewrapBackend, tree: Path) -> None:
    command = f"{write_mib('small.bin', 10)} && ln -s /usr usr-link && ln small.bin hard-link && echo DONE"
    result = bwrap.run(command, tree, LIMITS)
    assert (result.exit_code, result.disk_note) == (0, "") and "DONE" in result.output
    assert (tree / "usr-link").is_symlink()  # the walk never followed it into /usr


def test_without_a_sandbox_the_quota_holds_too(tree: Path) -> None:
    result = UnsandboxedBackend().run(write_mib("big.bin", 60), tree, LIMITS)
    assert result.disk_exceeded and "disk quota exceeded" in result.output
    assert result.exit_code == 0 and "the command ended over it" in result.output  # the final measurement


def test_a_run_whose_tests_fill_the_disk_fails_with_the_quota_on_the_issue(world: World,
                                                                          bwrap: BubblewrapBackend) -> None:
    world.services.settings.disk_bytes = QUOTA
    filler = ("import os\n\n\ndef test_fills_the_work_tree():\n"
              "    with open('filler.bin', 'wb') as out:\n"
              "        for _ in range(200):\n"
              "            out.write(os.urandom(1024 * 1024))\n"
              "            out.flush()\n"
              "    import time\n    time.sleep(60)\n")
    scripted.coder(world, FIX)
    scripted.reviewer(world, APPROVE)
    scripted.tester(world, ("create_file", {"path": "tests/test_filler.py", "content": filler}))
    world.plan_and_approve()

    run = world.run()
    assert run is not None and run.state == State.FAILED and run.failed_step == "test"
    notice = next(c.body for c in world.bot_comments() if "stopped at the **test** step" in c.body)
    assert "disk quota exceeded" in notice and "over the quota of 50.0 MiB (ISSUESMITH_DISK_BYTES)" in notice
    assert "ISSUESMITH_DISK_BYTES" in notice and "/retry" in notice
    assert world.github.pulls(REPO) == []
    [tests_run] = [e for e in world.services.store.entries(run.id) if e["event"] == "tests"] or [None]
    assert tests_run is None  # no test report was made of a stopped run


def test_files_deleted_but_held_open_still_count(bwrap: BubblewrapBackend, tree: Path) -> None:
    """A file the command deletes while keeping it open is in no folder, yet fills the disk."""
    held = ("python3 -c \"import os, time\nfd = os.open('blob', os.O_CREAT | os.O_WRONLY, 0o600)\n"
            "os.unlink('blob')\nfor _ in range(80): os.write(fd, os.urandom(1 << 20))\n"
            "print('HELD', flush=True)\ntime.sleep(50)\nprint('SURVIVED')\"")
    result = bwrap.run(held, tree, LIMITS)
    assert result.disk_exceeded and "HELD" in result.output and "SURVIVED" not in result.output
    assert result.duration < 30


def test_folders_nested_past_any_walk_are_stopped_and_taken_away(bwrap: BubblewrapBackend, tree: Path) -> None:
    """A chain of 1,200 folders broke every recursive walk (RecursionError): the tree stayed the sandbox
    user's and the slot could not even be deleted."""
    from bot.workspace.tree import scrub

    deep = "python3 -c \"import os, time\nfor _ in range(1200):\n os.mkdir('d'); os.chdir('d')\ntime.sleep(30)\""
    result = bwrap.run(deep, tree, Limits(timeout=60, kill_grace=0.3, disk_bytes=10**9))
    assert result.disk_exceeded and "more than 256 levels deep" in result.disk_note
    owners = {os.lstat(os.path.join(d, n)).st_uid for d, dirs, files in os.walk(tree) for n in (*dirs, *files)}
    assert owners <= {os.geteuid()}  # taken back; what lay deeper than a walk goes is gone
    assert scrub(tree) == [] and not (tree / ("d/" * 300)).exists()
