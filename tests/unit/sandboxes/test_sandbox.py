"""Commands run bounded: scrubbed environment, timeouts that kill every process, capped output."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.core.redact import REDACTED, Redactor
from bot.sandboxes import cgroups, ownership, staging
from bot.sandboxes.base import Limits, run_command, scrubbed_env

FAST = Limits(timeout=1.0, kill_grace=0.2)


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for a parent that does not reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] not in "ZX"


def read_pid(path: Path) -> int:
    for _ in range(50):
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.02)
    raise AssertionError(f"no pid in {path}")


def test_exit_code_and_interleaved_output(tmp_path: Path) -> None:
    result = run_command("echo out; echo err >&2; exit 3", tmp_path, FAST)
    assert (result.exit_code, result.output, result.timed_out, result.truncated) == (3, "out\nerr\n", False, False)
    assert run_command("pwd", tmp_path, FAST).output.strip() == str(tmp_path)
    assert run_command("true", tmp_path, FAST).exit_code == 0


def test_environment_is_an_allowlist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_faketokenfaketokenfaketoken")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fakefakefakefakefake")
    monkeypatch.setenv("ISSUESMITH_WEBHOOK_SECRET", "0123456789abcdef")
    result = run_command("env; python -c 'import sys; print(\"prefix=\" + sys.prefix)'", tmp_path, FAST,
                         extra_env={"EXTRA": "1"})
    env = dict(line.split("=", 1) for line in result.output.splitlines() if "=" in line)
    for name in ("GITHUB_TOKEN", "OPENAI_API_KEY", "ISSUESMITH_WEBHOOK_SECRET"):
        assert name not in env
    assert "fake" not in result.output and "0123456789abcdef" not in result.output
    assert env["PATH"].split(":")[0] == os.path.dirname(sys.executable)
    assert env["prefix"] == sys.prefix
    assert (env["CI"], env["LC_ALL"], env["EXTRA"]) == ("true", "C.UTF-8", "1")
    assert env["HOME"] != os.environ.get("HOME") and not Path(env["HOME"]).exists()  # removed afterwards


def test_scrubbed_env_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fakefakefakefakefake")
    env = scrubbed_env(scratch=tmp_path)
    assert set(env) == {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "PYTHONDONTWRITEBYTECODE", "CI", "TERM"}
    assert Path(env["HOME"]).is_dir() and Path(env["TMPDIR"]).is_dir()


def test_timeout_kills_the_process_group_with_its_grandchild(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_command("sh -c 'sleep 30 & echo $! > grandchild.pid; wait'; echo never", tmp_path, FAST)
    assert result.timed_out and result.exit_code is None and "never" not in result.output
    assert time.monotonic() - started < 3
    assert not alive(read_pid(tmp_path / "grandchild.pid"))


def test_timeout_kills_a_detached_double_forked_sleeper(tmp_path: Path) -> None:
    command = "setsid sh -c 'sleep 30 >/dev/null 2>&1 </dev/null & echo $! > daemon.pid'; sleep 30"
    result = run_command(command, tmp_path, FAST)
    assert result.timed_out
    assert not alive(read_pid(tmp_path / "daemon.pid"))


def test_processes_left_behind_after_a_normal_exit_are_killed(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_command("setsid sh -c 'sleep 30 & echo $! > daemon.pid'; echo done", tmp_path, FAST)
    assert (result.exit_code, result.output, result.timed_out) == (0, "done\n", False)
    assert time.monotonic() - started < 2  # the sleeper held the output pipe open
    assert not alive(read_pid(tmp_path / "daemon.pid"))


def test_output_cap_keeps_head_and_tail(tmp_path: Path) -> None:
    script = "for i in range(20000): print(f'line {i}')"
    result = run_command(f'python -c "{script}"', tmp_path, Limits(timeout=5, output_bytes=4000))
    assert result.truncated and result.exit_code == 0
    assert result.output.startswith("line 0\nline 1\n")
    assert result.output.endswith("line 19999\n")
    assert "bytes cut ...]" in result.output and len(result.output) < 4100


def test_redactor_is_applied(tmp_path: Path) -> None:
    token = "ghs_" + "a" * 36
    result = run_command(f"echo token={token} secret=hunter2hunter2", tmp_path, FAST, Redactor(["hunter2hunter2"]))
    assert result.output == f"token={REDACTED} secret={REDACTED}\n"


def test_memory_hog_fails_without_hurting_us(tmp_path: Path) -> None:
    result = run_command("python -c 'bytearray(4 * 1024**3)'", tmp_path,
                         Limits(timeout=10, memory_bytes=512 * 1024**2))
    assert result.exit_code not in (0, None) and "MemoryError" in result.output
    assert bytearray(10 * 1024**2)  # we still allocate freely


def test_run_command_says_it_isolates_nothing(tmp_path: Path) -> None:
    result = run_command("true", tmp_path, FAST)
    assert (result.backend, result.isolated) == ("unsandboxed", False)


def fake_cgroupfs(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_cgroup_v2_below_the_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    fake_cgroupfs(tmp_path, {"cgroup.controllers": "cpu memory pids", "cgroup.subtree_control": "cpu",
                             "self": "0::/\n"})
    group, note = cgroups.create("run-1", Limits(memory_bytes=1000, processes=7), root=tmp_path,
                                 self_cgroup=tmp_path / "self")
    assert group is not None and group.version == 2 and group.dirs == (tmp_path / "issuesmith" / "issuesmith-run-1",)
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert (group.dirs[0] / "memory.max").read_text() == "1000" and (group.dirs[0] / "pids.max").read_text() == "7"
    assert note.startswith("cgroup v2 issuesmith/issuesmith-run-1")


def test_cgroup_v2_refuses_a_cgroup_holding_the_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    fake_cgroupfs(tmp_path, {"cgroup.controllers": "memory pids", "worker/cgroup.controllers": "memory pids",
                             "worker/cgroup.subtree_control": "", "self": "0::/worker\n"})
    group, note = cgroups.create("run-1", Limits(), root=tmp_path, self_cgroup=tmp_path / "self")
    assert group is None and "holds processes" in note


def test_cgroup_v1_in_the_workers_own_cgroups(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    fake_cgroupfs(tmp_path, {"memory/cgroup.procs": "", "memory/worker/cgroup.procs": "", "pids/cgroup.procs": "",
                             "self": "4:memory:/worker\n8:pids:/\n1:cpu,cpuacct:/\n"})
    group, note = cgroups.create("run-1", Limits(memory_bytes=None, processes=9), root=tmp_path,
                                 self_cgroup=tmp_path / "self")
    assert group is not None and group.version == 1
    assert group.dirs == (tmp_path / "memory/worker/issuesmith-run-1", tmp_path / "pids/issuesmith-run-1")
    assert (group.dirs[0] / "memory.limit_in_bytes").read_text() == "-1"
    assert (group.dirs[1] / "pids.max").read_text() == "9"
    assert note.startswith("cgroup v1 (memory+pids) run-1: memory unbounded, processes 9")


def test_no_cgroup_unless_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    group, note = cgroups.create("run-1", Limits(), root=tmp_path, self_cgroup=tmp_path / "self")
    assert group is None and "not root" in note


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files to another uid needs root")
def test_lending_a_tree_and_taking_it_back(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "file").write_text("x")
    outside = tmp_path / "outside"
    outside.write_text("not ours")
    (tree / "link").symlink_to(outside)
    with ownership.lent(tree, 65534, 65534):
        assert {p.lstat().st_uid for p in (tree, tree / "sub", tree / "sub" / "file", tree / "link")} == {65534}
        assert outside.stat().st_uid == 0  # the symlink was not followed
        (tree / "sub" / "file").chmod(0o4755)
    assert {p.lstat().st_uid for p in (tree, tree / "sub", tree / "sub" / "file", tree / "link")} == {0}
    assert not (tree / "sub" / "file").stat().st_mode & 0o6000


def test_sweeping_what_a_killed_worker_left(tmp_path: Path) -> None:
    fake_cgroupfs(tmp_path, {"self": "4:memory:/worker\n8:pids:/\n"})
    child = subprocess.Popen(["true"])
    child.wait()  # the killed worker: its pid is gone
    name = f"issuesmith-run-{child.pid}-1-abcd1234"
    for leftover in (f"memory/worker/{name}", f"pids/{name}", "pids/other-run-2"):
        (tmp_path / leftover).mkdir(parents=True)
    assert cgroups.sweep(root=tmp_path, self_cgroup=tmp_path / "self") == 2
    assert [p.name for p in (tmp_path / "pids").iterdir()] == ["other-run-2"]
    old, young = tmp_path / f"{staging.PREFIX}old", tmp_path / f"{staging.PREFIX}young"
    (old / "0").mkdir(parents=True)
    young.mkdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert staging.sweep(tmp_path) == 1 and not old.exists() and young.exists()
