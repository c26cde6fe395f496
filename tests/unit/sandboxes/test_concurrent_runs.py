"""Two workers on one host: one's sweep never takes the other's run cgroup, and a sandbox that fails to start
says why and is retried, never blamed on the installation or the repository."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from bot.core.errors import is_retryable
from bot.sandboxes import cgroups
from bot.sandboxes.base import Limits, SandboxStartFailed
from bot.sandboxes.bubblewrap import BubblewrapBackend, bwrap_failed
from tests.world import wait_until


def dead_pid() -> int:
    """A pid that was just in use and is gone now."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_sweep_takes_only_cgroups_whose_owner_is_gone(tmp_path: Path) -> None:
    """The race seen with two workers: a cgroup made but not yet joined is empty, and must stay."""
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text("0::/\n")
    base = tmp_path / "issuesmith"
    base.mkdir()
    live = base / f"issuesmith-{cgroups.run_name()}"  # another worker's run, about to be joined
    gone = dead_pid()
    dead = base / f"issuesmith-run-{gone}-{cgroups.process_start(os.getpid())}-abcd1234"
    older = base / "issuesmith-run-0123456789ab"  # a name of an earlier version, still young
    ancient = base / "issuesmith-run-ba9876543210"
    for path in (live, dead, older, ancient):
        path.mkdir()
    stale = time.time() - cgroups.MAX_AGE - 60
    os.utime(ancient, (stale, stale))
    assert cgroups.sweep(root=tmp_path, self_cgroup=self_cgroup) == 2
    assert live.exists() and older.exists() and not dead.exists() and not ancient.exists()


def test_a_reused_pid_does_not_make_a_dead_owner_look_alive() -> None:
    name = f"issuesmith-run-{os.getpid()}-{cgroups.process_start(os.getpid()) + 1}-abcd1234"
    assert cgroups.provably_dead(name, time.time())
    assert not cgroups.provably_dead(f"issuesmith-{cgroups.run_name()}", time.time())


def test_bwrap_failing_before_the_command_is_recognised() -> None:
    assert bwrap_failed(1, "bwrap: loopback: Failed RTM_NEWADDR: No child processes\n")
    assert not bwrap_failed(1, "bwrap: something\nthe tests printed this too\n")
    assert not bwrap_failed(2, "bwrap: loopback: Failed RTM_NEWADDR: No child processes\n")


@pytest.mark.skipif(os.geteuid() != 0, reason="the bubblewrap backend needs a root worker")
def test_a_sandbox_that_cannot_be_prepared_says_why_and_is_retried(
        bwrap: BubblewrapBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's cgroup vanished before the child joined it (what the sweep race did)."""
    import contextlib

    @contextlib.contextmanager
    def swept(limits: Limits, **_: object):  # type: ignore[no-untyped-def]
        yield cgroups.RunCgroup(2, (tmp_path / "swept-away",)), "cgroup v2 (removed under us)"

    monkeypatch.setattr(cgroups, "run_cgroup", swept)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(SandboxStartFailed) as raised:
        bwrap.run("true", work, Limits(timeout=10))
    message = f"{raised.value} {raised.value.hint}"
    assert "FileNotFoundError" in message and "swept-away" in message  # the real cause, not "preexec_fn"
    assert "install" not in message.lower() and "repository causes" in message
    assert is_retryable(raised.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="a network namespace of its own needs root here")
def test_slirp_waits_for_the_loopback_bwrap_sets_up() -> None:
    """slirp4netns brings `lo` up too; started before bwrap's own loopback set-up, it made that fail."""
    from bot.sandboxes import outbound

    down = subprocess.Popen(["unshare", "-n", "sleep", "5"])
    up = subprocess.Popen(["unshare", "-n", "sh", "-c", "ip link set lo up && exec sleep 5"])
    try:
        for proc in (down, up):  # as bwrap's child when it reports: in its own namespace already
            wait_until(lambda proc=proc: os.readlink(f"/proc/{proc.pid}/ns/net") != os.readlink("/proc/self/ns/net"),
                       what="the namespace of its own")
        assert outbound._loopback_ready(up.pid, 5.0)
        with pytest.raises(OSError, match="did not set up the sandbox's loopback"):
            outbound._loopback_ready(down.pid, 0.3)
    finally:
        for proc in (down, up):
            proc.kill()
            proc.wait()
    assert not outbound._loopback_ready(dead_pid(), 1.0)  # bwrap gone: its own error tells
