"""The sandbox backends against what a hostile repository would try: network, secrets, writes, root, forks, memory.

The bubblewrap tests run for real (skipped, with the probe's reason, where bubblewrap cannot
run); the unsandboxed backend is the contrast that shows each check would catch a leak. The
docker backend runs against a fake `docker` first on PATH, which records its arguments and
plays a container by running the command locally.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.errors import is_retryable
from bot.sandboxes import (
    BubblewrapBackend,
    DockerBackend,
    SandboxUnavailable,
    UnsandboxedBackend,
    choose_backend,
    probe_all,
)
from bot.sandboxes.base import CommandResult, Limits
from tests.greeting import greeting_service

FAST = Limits(timeout=10, kill_grace=0.3)
SECRETS = {"OPENAI_API_KEY": "sk-sandboxtest-openai-0123456789", "GITHUB_TOKEN": "ghs_sandboxtestgithubtoken0123",
           "ISSUESMITH_WEBHOOK_SECRET": "sandboxtest-webhook-secret-0123"}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A work tree with a .git directory, owned by the worker, below a 0700 directory (as pytest's are)."""
    work = tmp_path / "repo"
    (work / ".git" / "hooks").mkdir(parents=True)
    (work / "README.md").write_text("hello\n")
    return work


@pytest.fixture
def loopback_server() -> Iterator[int]:
    """A service on the host's 127.0.0.1; yields its port."""
    with greeting_service("127.0.0.1") as port:
        yield port


def connect_script(host: str, port: int) -> str:
    return (f"python -c \"import socket\ntry:\n s = socket.create_connection(('{host}', {port}), timeout=3)\n"
            " print('CONNECTED', s.recv(100))\nexcept OSError as e:\n print('FAILED', e)\"")


def with_marker(marker: str) -> list[int]:
    """Live processes whose command line mentions `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text()
        except OSError:
            continue
        if marker.encode() in cmdline and state[state.rfind(")") + 2] not in "ZX":
            found.append(int(entry.name))
    return found


def owners(tree: Path) -> set[int]:
    return {os.lstat(os.path.join(d, n)).st_uid for d, ds, fs in os.walk(tree) for n in (*ds, *fs)}


# --- network ------------------------------------------------------------------------------------------------------

def test_outbound_connection_fails(bwrap: BubblewrapBackend, tree: Path) -> None:
    result = bwrap.run(connect_script("1.1.1.1", 443), tree, FAST)
    assert result.exit_code == 0 and "FAILED" in result.output and "unreachable" in result.output.lower()
    assert result.isolated and result.backend == "bubblewrap" and "network: none" in result.notes


def test_host_loopback_service_is_unreachable(bwrap: BubblewrapBackend, tree: Path, loopback_server: int) -> None:
    sandboxed = bwrap.run(connect_script("127.0.0.1", loopback_server), tree, FAST)
    assert "FAILED" in sandboxed.output and "greeting" not in sandboxed.output
    plain = UnsandboxedBackend().run(connect_script("127.0.0.1", loopback_server), tree, FAST)
    assert "CONNECTED" in plain.output and "greeting" in plain.output  # the check would catch a leak


@pytest.fixture
def open_server() -> Iterator[tuple[str, int]]:
    """A service on all of the host's addresses; yields a non-loopback address of the host and its port."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2's `ip` is not installed, so no address of this machine can be found")
    shown = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True)
    found = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", shown.stdout)
    if not found:
        pytest.skip("this machine has no global IPv4 address to reach from a sandbox")
    with greeting_service("0.0.0.0") as port:
        yield found.group(1), port


def test_setup_phase_reaches_neither_the_hosts_loopback_nor_its_own_addresses(bwrap: BubblewrapBackend, tree: Path,
                                                                              open_server: tuple[str, int],
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The host's own addresses are refused like its loopback (the internet: tests/security/test_sandbox_network.py)."""
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    address, port = open_server  # listening on 127.0.0.1 too
    script = "; ".join(connect_script(host, port) for host in (address, "127.0.0.1", "10.0.2.2")) + "; env"
    result = bwrap.run(script, tree, FAST, network=True)
    answers = [line for line in result.output.splitlines() if line.startswith(("CONNECTED", "FAILED"))]
    assert len(answers) == 3, result.output
    assert answers[0].startswith("FAILED") and "No route to host" in answers[0]  # the host's own address: no
    assert answers[1].startswith("FAILED") and answers[2].startswith("FAILED")  # the host's loopback: no
    assert not any(value in result.output for value in SECRETS.values())
    assert any("slirp4netns" in note for note in result.notes)
    plain = UnsandboxedBackend().run(connect_script(address, port), tree, FAST)
    assert "CONNECTED" in plain.output and "greeting" in plain.output  # the check would catch a leak
    offline = bwrap.run(connect_script(address, port), tree, FAST)
    assert "FAILED" in offline.output  # and without `network`, nothing at all


def test_home_is_kept_between_the_commands_of_a_run(bwrap: BubblewrapBackend, tree: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    install = ("mkdir -p ~/.local/bin && printf '#!/bin/sh\\necho installed-tool\\n' > ~/.local/bin/tool"
               " && chmod +x ~/.local/bin/tool")
    assert bwrap.run(install, tree, FAST, network=True, home=home).exit_code == 0
    result = bwrap.run("~/.local/bin/tool && echo $HOME", tree, FAST, home=home)
    assert result.output.split() == ["installed-tool", "/tmp/home"]
    assert owners(home) == {os.geteuid()}  # given back to the worker
    assert bwrap.run("ls ~/.local", tree, FAST).exit_code != 0  # a command without `home` starts empty


def test_setup_phase_without_slirp4netns_is_refused(bwrap: BubblewrapBackend, tree: Path) -> None:
    backend = BubblewrapBackend(uid=bwrap.uid, gid=bwrap.gid, slirp="/nonexistent/slirp4netns")
    with pytest.raises(OSError, match="slirp4netns"):
        backend.run("true", tree, FAST, network=True)
    assert backend.run("true", tree, FAST).exit_code == 0  # the test phase needs no network


# --- secrets --------------------------------------------------------------------------------------------------------

def test_worker_secrets_are_invisible(bwrap: BubblewrapBackend, tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    command = "env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'; ls /proc"
    result = bwrap.run(command, tree, FAST, env={"EXTRA": "1"})
    for name, value in SECRETS.items():
        assert name not in result.output and value not in result.output
    env = dict(line.split("=", 1) for line in result.output.splitlines() if "=" in line)
    assert (env["HOME"], env["TMPDIR"], env["CI"], env["EXTRA"]) == ("/tmp/home", "/tmp", "true", "1")
    assert str(os.getpid()) not in result.output.split()  # the worker is not in the sandbox's /proc


def test_key_files_outside_the_tree_cannot_be_read(bwrap: BubblewrapBackend, tree: Path, tmp_path: Path) -> None:
    app_key = tmp_path / "keys" / "issuesmith.private-key.pem"
    app_key.parent.mkdir()
    app_key.write_text("-----BEGIN APP KEY sandboxtest-app-key-----\n")
    root_key = Path("/root") / f"issuesmith-sandboxtest-{uuid.uuid4().hex}.pem"
    try:
        root_key.write_text("-----BEGIN ROOT KEY sandboxtest-root-key-----\n")
        command = f"cat {app_key}; cat {root_key}; echo LISTING; ls -a /root {tmp_path}"
        result = bwrap.run(command, tree, FAST)
        assert "sandboxtest-app-key" not in result.output and "sandboxtest-root-key" not in result.output
        listing = result.output.split("LISTING")[1].split()
        assert root_key.name not in listing and "keys" not in listing and "repo" in listing
        plain = UnsandboxedBackend().run(command, tree, FAST)
        assert "sandboxtest-app-key" in plain.output and "sandboxtest-root-key" in plain.output
    finally:
        root_key.unlink(missing_ok=True)


# --- files ----------------------------------------------------------------------------------------------------------

def test_writes_outside_the_tree_do_not_reach_the_host(bwrap: BubblewrapBackend, tree: Path) -> None:
    name = f"issuesmith-escape-{uuid.uuid4().hex}"
    targets = [Path("/tmp") / name, tree.parent / name, Path("/etc") / name, Path("/usr") / name,
               Path(sys.prefix) / name, tree / ".git" / "hooks" / "pre-commit"]
    command = "; ".join(f"(echo evil > {t} && echo WROTE {t}) 2>&1" for t in targets)
    result = bwrap.run(command, tree, FAST)
    for target in targets:
        assert not target.exists(), f"{target} reached the host"
    wrote = {line.split()[1] for line in result.output.splitlines() if line.startswith("WROTE")}
    assert not wrote & {str(t) for t in targets[2:]}  # read-only: /etc, /usr, the venv, .git
    assert "Read-only file system" in result.output


def test_writes_inside_the_tree_succeed_and_come_back_to_the_worker(bwrap: BubblewrapBackend, tree: Path) -> None:
    result = bwrap.run("mkdir -p build/deep && echo data > build/deep/out.txt && chmod 4755 build/deep/out.txt "
                       "&& ln -s /etc/passwd link && ls -ln build/deep", tree, FAST)
    assert result.exit_code == 0, result.output
    assert " 65534 65534 " in result.output  # written by the sandbox user...
    assert (tree / "build" / "deep" / "out.txt").read_text() == "data\n"
    assert owners(tree) == {os.geteuid()} and tree.stat().st_uid == os.geteuid()  # ...and the worker's again
    assert not (tree / "build" / "deep" / "out.txt").stat().st_mode & stat.S_ISUID
    assert Path("/etc/passwd").stat().st_uid == 0  # the symlink was not followed


def test_the_command_is_not_root(bwrap: BubblewrapBackend, tree: Path) -> None:
    result = bwrap.run("id -u; mount -o remount,rw / && echo REMOUNTED; unshare -U true && echo USERNS; "
                       "touch /proc/sysrq-trigger && echo SYSRQ; true", tree, FAST)
    assert result.output.splitlines()[0] == "65534"
    assert "REMOUNTED" not in result.output and "USERNS" not in result.output and "SYSRQ" not in result.output


# --- processes and memory --------------------------------------------------------------------------------------------

FORK_BOMB = textwrap.dedent("""\
    python -c "
    import os, time
    n = 0
    try:
        for _ in range(300):
            if os.fork() == 0:
                time.sleep(30)
                os._exit(0)
            n += 1
    except OSError as e:
        print('FORK FAILED after', n, e.errno)
    " {marker}""")


def test_fork_bomb_is_contained(bwrap: BubblewrapBackend, tree: Path) -> None:
    marker = f"forkbomb-{uuid.uuid4().hex}"
    result = bwrap.run(FORK_BOMB.format(marker=marker), tree, Limits(timeout=10, kill_grace=0.3, processes=40))
    assert "FORK FAILED after" in result.output, result.output
    assert int(result.output.split("after")[1].split()[0]) < 40
    time.sleep(0.1)
    assert with_marker(marker) == []  # the sleepers went with the sandbox
    assert UnsandboxedBackend().run("true", tree, FAST).exit_code == 0  # the host still starts processes


MEMORY_HOG = textwrap.dedent("""\
    python -c "
    import os, time
    kids = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            block = bytearray(b'x') * (200 * 1024 * 1024)
            time.sleep(1)
            os._exit(0)
        kids.append(pid)
    print('STATUSES', [os.waitpid(k, 0)[1] & 0x7f for k in kids])
    " """)


def test_memory_hog_is_killed(bwrap: BubblewrapBackend, tree: Path) -> None:
    limits = Limits(timeout=20, kill_grace=0.3, memory_bytes=400 * 1024**2)
    single = bwrap.run("python -c 'bytearray(4 * 1024**3)'", tree, limits)
    assert single.exit_code not in (0, None) and "MemoryError" in single.output  # RLIMIT_AS
    together = bwrap.run(MEMORY_HOG, tree, limits)
    if not any(note.startswith("cgroup") for note in together.notes):
        pytest.skip(f"no cgroup bounds the whole run here: {together.notes[-1]}")
    statuses = json.loads(together.output.split("STATUSES")[1].strip())
    assert 9 in statuses, together.output  # the cgroup's OOM killer took at least one hog (SIGKILL)
    assert bytearray(50 * 1024**2)  # we still allocate freely


def test_detached_double_forked_sleeper_does_not_survive_a_timeout(bwrap: BubblewrapBackend, tree: Path) -> None:
    marker = f"detached-{uuid.uuid4().hex}"
    command = (f"setsid python -c 'import os, time; os.fork() and os._exit(0); os.setsid(); "
               f"os.fork() and os._exit(0); time.sleep(60)' {marker} & sleep 60")
    started = time.monotonic()
    result = bwrap.run(command, tree, Limits(timeout=1, kill_grace=0.3))
    assert result.timed_out and result.exit_code is None
    assert time.monotonic() - started < 4
    assert with_marker(marker) == []
    assert owners(tree) <= {os.geteuid()}


def test_output_beyond_the_cap_is_cut(bwrap: BubblewrapBackend, tree: Path) -> None:
    script = "for i in range(20000): print(f'line {i}')"
    result = bwrap.run(f'python -c "{script}"', tree, Limits(timeout=10, output_bytes=4000))
    assert result.truncated and result.exit_code == 0
    assert result.output.startswith("line 0\n") and result.output.endswith("line 19999\n")
    assert "bytes cut ...]" in result.output and len(result.output) < 4100


def test_pytest_runs_inside_the_sandbox(bwrap: BubblewrapBackend, tree: Path) -> None:
    (tree / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (tree / "tests").mkdir()
    (tree / "tests" / "test_calc.py").write_text(
        "import os, tempfile\nfrom calc import add\n\n"
        "def test_add():\n    assert add(2, 3) == 5\n\n"
        "def test_tmp_and_home(tmp_path):\n    (tmp_path / 'x').write_text('1')\n"
        "    assert os.environ['HOME'] == '/tmp/home' and tempfile.gettempdir() == '/tmp'\n")
    result = bwrap.run("python -m pytest -q --junitxml=.issuesmith-junit.xml", tree, Limits(timeout=60),
                       env={"PYTHONPATH": str(tree)})
    assert result.exit_code == 0, result.output
    assert "2 passed" in result.output
    assert (tree / ".issuesmith-junit.xml").exists() and owners(tree) == {os.geteuid()}


def test_redactor_and_exit_codes(bwrap: BubblewrapBackend, tree: Path) -> None:
    result = bwrap.run("echo token=abc123secret; exit 3", tree, FAST, redactor=lambda s: s.replace("abc123secret", "*"))
    assert (result.exit_code, result.output) == (3, "token=*\n")


# --- docker, through a fake client ----------------------------------------------------------------------------------

FAKE_DOCKER = '''#!{python}
"""A stand-in for the docker client: records argv, plays `run` locally, `rm -f` kills what `run` started."""
import json, os, signal, subprocess, sys
from pathlib import Path
here = Path(__file__).parent
args = sys.argv[1:]
with open(here / "calls.jsonl", "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[0] == "version":
    if (here / "down").exists():
        print("Cannot connect to the Docker daemon at unix:///var/run/docker.sock", file=sys.stderr)
        sys.exit(1)
    print("99.0-fake")
elif args[0] == "run":
    name = args[args.index("--name") + 1]
    volume = next(args[i + 1] for i, a in enumerate(args) if a == "-v" and args[i + 1].endswith(":/work:rw"))
    proc = subprocess.Popen(args[-3:], cwd=volume.split(":")[0], start_new_session=True)
    (here / (name + ".pid")).write_text(str(proc.pid))
    sys.exit(proc.wait())
elif args[:2] == ["rm", "-f"]:
    pidfile = here / (args[2] + ".pid")
    if pidfile.exists():
        try:
            os.killpg(int(pidfile.read_text()), signal.SIGKILL)
        except ProcessLookupError:
            pass
'''


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER.format(python=sys.executable))
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def calls(fake: Path) -> list[list[str]]:
    log = fake / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_docker_run_arguments(fake_docker: Path, tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    backend = DockerBackend(image="example/python:3.11")
    limits = Limits(timeout=10, processes=64, memory_bytes=512 * 1024**2, tmp_bytes=64 * 1024**2)
    result = backend.run("echo in-container; pwd", tree, limits, env={"EXTRA": "1"})
    assert (result.exit_code, result.output) == (0, f"in-container\n{tree}\n")  # the fake runs it on the host
    [run] = calls(fake_docker)
    flags = " ".join(run)
    name = run[run.index("--name") + 1]
    assert run[:2] == ["run", "--rm"] and name.startswith("issuesmith-") and len(name) > 20
    for expected in ("--network none", "--read-only", "--cap-drop ALL", "--security-opt no-new-privileges",
                     "--pids-limit 64", f"--memory {512 * 1024**2}", f"-v {tree}:/work:rw",
                     f"-v {tree}/.git:/work/.git:ro", "-w /work", "--init",
                     "--tmpfs /tmp:rw,exec,nosuid,nodev,size=67108864,mode=1777"):
        assert expected in flags
    uid, gid = backend.user()
    assert f"--user {uid}:{gid}" in flags and (uid != 0 or os.geteuid() != 0)
    env = [run[i + 1].split("=", 1)[0] for i, arg in enumerate(run) if arg == "-e"]
    assert sorted(env) == sorted(["HOME", "TMPDIR", "LANG", "LC_ALL", "PYTHONDONTWRITEBYTECODE", "CI", "TERM", "EXTRA"])
    assert run[-4:] == ["example/python:3.11", "sh", "-c", "echo in-container; pwd"]
    assert not any(value in flags for value in SECRETS.values())
    home = tree.parent / "home"
    home.mkdir()
    backend.run("true", tree, limits, home=home)
    assert f"{home}:/tmp/home:rw" in calls(fake_docker)[-1] and "HOME=/tmp/home" in calls(fake_docker)[-1]
    with pytest.raises(OSError, match="cannot keep a command's network off private and host addresses"):
        backend.run("true", tree, limits, network=True, home=home)  # a setup phase docker cannot filter
    assert len(calls(fake_docker)) == 2  # refused before any container was started


def test_docker_exit_codes_and_ownership(fake_docker: Path, tree: Path) -> None:
    backend = DockerBackend()
    failed = backend.run("echo oops >&2; exit 7", tree, FAST)
    assert (failed.exit_code, failed.output, failed.timed_out) == (7, "oops\n", False)
    backend.run("echo made > made.txt", tree, FAST)
    assert (tree / "made.txt").read_text() == "made\n" and owners(tree) == {os.geteuid()}
    assert not [c for c in calls(fake_docker) if c[0] == "rm"]  # --rm cleans up after a normal exit


def test_docker_timeout_removes_the_container(fake_docker: Path, tree: Path) -> None:
    marker = f"container-{uuid.uuid4().hex}"
    started = time.monotonic()
    result = DockerBackend().run(f"python -c 'import time; time.sleep(30)' {marker}", tree,
                                 Limits(timeout=1, kill_grace=0.3))
    assert result.timed_out and result.exit_code is None and time.monotonic() - started < 5
    run, remove = calls(fake_docker)
    assert remove == ["rm", "-f", run[run.index("--name") + 1]]
    time.sleep(0.1)
    assert with_marker(marker) == []


def test_docker_probe(fake_docker: Path) -> None:
    assert DockerBackend().probe().available
    (fake_docker / "down").touch()
    probe = DockerBackend().probe()
    assert not probe.available and "Cannot connect" in probe.reason


# --- probing and choosing -------------------------------------------------------------------------------------------

@pytest.fixture
def nothing_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH with neither bwrap nor docker on it."""
    empty = tmp_path / "emptybin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def test_probe_all_says_why(nothing_installed: None) -> None:
    probes = {p.backend: p for p in probe_all()}
    assert list(probes) == ["bubblewrap", "docker", "unsandboxed"]
    assert not probes["bubblewrap"].available and "apt-get install bubblewrap" in probes["bubblewrap"].reason
    assert not probes["docker"].available and "docker" in probes["docker"].reason
    assert probes["unsandboxed"].available and "ISOLATES NOTHING" in probes["unsandboxed"].reason


def test_choose_fails_closed_without_the_flag(nothing_installed: None) -> None:
    with pytest.raises(SandboxUnavailable) as raised:
        choose_backend("auto")
    error = raised.value
    assert not is_retryable(error)
    assert "bubblewrap" in str(error) and "docker" in str(error)
    for word in ("ISSUESMITH_SANDBOX", "ISSUESMITH_ALLOW_UNSANDBOXED", "apt-get install bubblewrap"):
        assert word in error.hint
    with pytest.raises(SandboxUnavailable):
        choose_backend("unsandboxed")
    with pytest.raises(SandboxUnavailable):
        choose_backend("bubblewrap", allow_unsandboxed=True)  # a named backend never falls back
    with pytest.raises(SandboxUnavailable, match="unknown"):
        choose_backend("chroot")


def test_unsandboxed_only_with_the_flag(nothing_installed: None, tmp_path: Path) -> None:
    backend = choose_backend("auto", allow_unsandboxed=True)
    assert (backend.name, backend.isolating) == ("unsandboxed", False)
    assert choose_backend("unsandboxed", allow_unsandboxed=True).name == "unsandboxed"
    result: CommandResult = backend.run("echo plain", tmp_path, FAST)
    assert result.output == "plain\n" and not result.isolated and "UNSANDBOXED" in result.notes[0]


def test_auto_prefers_bubblewrap(bwrap: BubblewrapBackend) -> None:
    chosen = choose_backend("auto")
    assert (chosen.name, chosen.isolating) == ("bubblewrap", True)
    assert choose_backend("bubblewrap").name == "bubblewrap"
    with pytest.raises(SandboxUnavailable, match=r"bubblewrap: .*root \(0\)"):
        choose_backend("bubblewrap", uid=0)


def test_bubblewrap_refuses_a_worker_that_is_not_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    probe = BubblewrapBackend(bwrap="sh").probe()  # any installed program passes the "is it installed" check
    assert not probe.available and "not root" in probe.reason
    same = BubblewrapBackend(uid=1000, gid=1000, bwrap="sh").probe()
    assert not same.available and "worker's own uid" in same.reason


def test_read_only_toolchain_under_tmp_stays_visible(bwrap: BubblewrapBackend, tree: Path, tmp_path: Path) -> None:
    """A checkout (and so its venv) under /tmp must not be hidden by the sandbox's private /tmp."""
    tool = tmp_path / "toolchain"
    tool.mkdir()
    (tool / "version.txt").write_text("toolchain 1.0\n")
    tool.chmod(0o755)
    backend = BubblewrapBackend(uid=bwrap.uid, gid=bwrap.gid, read_only=[tool])
    result = backend.run(f"cat {tool}/version.txt", tree, Limits(timeout=20))
    assert result.exit_code == 0 and "toolchain 1.0" in result.output, result.output
