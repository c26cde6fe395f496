"""Commands run bounded: scrubbed environment, timeouts that kill every process, capped output."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from bot.redact import REDACTED, Redactor
from bot.sandbox import Limits, run_command, scrubbed_env

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
