"""Running a command on a work tree, bounded in time, output, memory, processes and file size.

This module holds what every backend shares (`Limits`, `CommandResult`, the `Backend`
protocol, `Probe`, `SandboxUnavailable`, `supervise`) and the plain-subprocess runner
`run_command`, which isolates nothing: it is the `unsandboxed` backend. The isolating
backends (bubblewrap, docker) and the start-up choice among them are in `bot.sandboxes`.

`supervise` starts a process in its own session and process group, stdin closed, with the
environment it is given (`scrubbed_env` builds an allowlist, so no tokens or settings of the
worker reach the command), rlimits set in the child before exec. Output (stdout and stderr
interleaved) is read by the calling thread through a selector rather than a reader thread,
so a process that escaped and keeps the pipe open cannot leave a thread blocked behind; at
most `Limits.output_bytes` are kept, the head and the (larger) tail, since test failures are
usually reported at the end.

The trees a command may write (the work tree and the run's HOME) are held to
`Limits.disk_bytes` together by `bot.sandboxes.diskquota.DiskWatch`, measured while the command runs and
once more after it: past the quota the run is stopped as on a timeout and the result's
`disk_note` says so.

When the command times out or exceeds the disk quota, or when it ends but left processes
behind, every process of the run is stopped: SIGTERM, then SIGKILL after `Limits.kill_grace` seconds. The processes
of the run are found through /proc, repeatedly (while the command runs and again before
each signal): the process group, the children of children by their ppid, and any process
whose environment carries this run's `SANDBOX_RUN_ID` marker, which catches a daemon that
left the group with `setsid` and was re-parented after a double fork. A process that both
clears its environment and escapes in between two scans can still get away from
`run_command`; the isolating backends add a pid namespace (or a container) around the run.
"""

from __future__ import annotations

import contextlib
import os
import resource
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bot.core.errors import IssuesmithError
from bot.sandboxes.diskquota import DiskWatch

MARKER = "SANDBOX_RUN_ID"
SCAN_INTERVAL = 0.25
DRAIN_SECONDS = 1.0
_CHUNK = 65536
_TIMEOUT, _DISK = "timeout", "disk"
FIXED_ENV = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "CI": "true", "TERM": "dumb"}
"""The allowlisted variables whose value is the same for every command and backend (with PATH, HOME, TMPDIR)."""


@dataclass(frozen=True)
class Limits:
    """Bounds of one command; None switches a limit off.

    `memory_bytes` is the address-space limit (RLIMIT_AS; runtimes that reserve much virtual
    memory, like the JVM or Go, may need more). `processes` (RLIMIT_NPROC) counts all
    processes of the user and is not applied when running as root. The isolating backends
    also bound the whole run by `memory_bytes` and `processes` (a cgroup, or Docker's
    --memory and --pids-limit) and give it a private /tmp of `tmp_bytes`. `disk_bytes` bounds
    what the work tree and the run's HOME take on disk together (see `bot.sandboxes.diskquota`).
    """

    timeout: float = 600
    output_bytes: int = 200_000
    memory_bytes: int | None = 2 * 1024**3
    processes: int | None = 256
    file_bytes: int | None = 1024**3
    cpu_seconds: int | None = None
    open_files: int | None = 4096
    tmp_bytes: int = 512 * 1024**2
    kill_grace: float = 2.0
    disk_bytes: int | None = 4 * 1024**3


@dataclass(frozen=True)
class CommandResult:
    """What a command did. `exit_code` is None when it timed out (negative: killed by that signal;
    the bubblewrap and docker backends report a command killed by signal N as 128 + N, like a shell).

    `backend` names the backend that ran it and `isolated` whether that backend isolates the
    command from the worker; `notes` say how (or, loudly, that nothing was isolated).
    `disk_note` is empty unless the command took its trees past the disk quota, and then says so.
    """

    command: str
    exit_code: int | None
    output: str
    truncated: bool
    timed_out: bool
    duration: float
    backend: str = "unsandboxed"
    isolated: bool = False
    notes: tuple[str, ...] = ()
    disk_note: str = ""

    @property
    def disk_exceeded(self) -> bool:
        """Whether the command was stopped, or failed, for taking more disk than its quota."""
        return bool(self.disk_note)


class SandboxUnavailable(IssuesmithError):
    """No backend that isolates commands can run here, and running them unisolated is not allowed (final)."""


class SandboxStartFailed(IssuesmithError):
    """A sandbox that works here failed to start for one command (retryable): the worker's machine, not the
    repository, is at fault, and the message carries the real cause."""

    retryable = True

    def __init__(self, cause: str) -> None:
        super().__init__(f"the sandbox could not be started for this command: {cause}",
                         hint="issuesmith tries the step again by itself; if it keeps failing, the operator should "
                              "look at the worker (`issuesmith doctor`) — nothing in the repository causes this")


@dataclass(frozen=True)
class Probe:
    """Whether one backend can run on this machine, and why (or why not)."""

    backend: str
    available: bool
    reason: str


def unchanged(text: str) -> str:
    """The identity redactor."""
    return text


class Backend(Protocol):
    """Runs one shell command on a work tree, bounded by `Limits` (implementations: `bot.sandboxes`).

    `network` gives the command an outbound network (for a setup phase that installs
    dependencies): the internet, never a private, link-local or loopback address nor one of
    the host's own where the backend isolates (bubblewrap: `bot.sandboxes.egress`), and
    without the worker's virtualenv; it never gets the worker's secrets either way. `env` is
    added to the allowlisted environment and must not carry secrets. `home`, a directory of
    the caller's, is the command's HOME, so a run's setup and test commands can share what the
    setup installed there (by default HOME is new and empty for each command). Raises OSError
    only when the command cannot be started at all (with `network`: also when its network
    cannot be filtered here); whatever the command does is in the `CommandResult`.
    """

    name: str
    isolating: bool

    def run(self, command: str, workdir: Path, limits: Limits, *, network: bool = False,
            redactor: Callable[[str], str] = unchanged, env: Mapping[str, str] | None = None,
            home: Path | None = None) -> CommandResult:
        """Run `command` with `/bin/sh -c` in `workdir`."""
        ...


@dataclass(frozen=True)
class Supervised:
    """How a supervised process ended: its exit status (None when stopped) and its bounded output.

    `disk_note` says when the watched trees went past their quota (the process was stopped
    then, or had just ended over it).
    """

    exit_code: int | None
    output: str
    truncated: bool
    timed_out: bool
    disk_note: str = ""


def scrubbed_env(extra: Mapping[str, str] | None = None, *, scratch: Path | None = None) -> dict[str, str]:
    """The whole environment of a command: an allowlist, nothing else from `os.environ`.

    PATH is the worker's PATH with the directory of `sys.executable` first (so `python` is the
    worker's interpreter); HOME and TMPDIR are `scratch/home` and `scratch/tmp` (a new
    temporary directory, owned by the caller, when `scratch` is None). `extra` is added last.
    """
    base = scratch if scratch is not None else Path(tempfile.mkdtemp(prefix="issuesmith-env-"))
    home, tmp = base / "home", base / "tmp"
    home.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    env = {"PATH": sandbox_path(), "HOME": str(home), "TMPDIR": str(tmp), **FIXED_ENV}
    env.update(extra or {})
    return env


def sandbox_path(*, virtualenv: bool = True) -> str:
    """The worker's PATH with the directory of `sys.executable` first.

    Without `virtualenv`, the base interpreter's directory comes first instead, and no
    directory of the worker's virtualenv (`sys.prefix`, when it is one) is left on it.
    """
    interpreter_dir = os.path.dirname(sys.executable)
    first = interpreter_dir if virtualenv else os.path.join(sys.base_prefix, "bin")
    venv = Path(sys.prefix) if sys.prefix != sys.base_prefix and not virtualenv else None
    system = [p for p in (os.environ.get("PATH") or os.defpath).split(os.pathsep)
              if p and p not in (interpreter_dir, first) and not (venv and Path(p).is_relative_to(venv))]
    return os.pathsep.join([first, *system])


def run_command(command: str, cwd: Path, limits: Limits, redactor: Callable[[str], str] = unchanged,
                extra_env: Mapping[str, str] | None = None) -> CommandResult:
    """Run `command` with `/bin/sh -c` in `cwd` within `limits`; never raises for what the command does.

    This isolates nothing: the command runs as the worker's user and sees its files and its
    network. HOME and TMPDIR are fresh per command and removed afterwards, unless `extra_env`
    sets them (pass a run's own directories to share them between its commands); `cwd` and
    HOME are held to `limits.disk_bytes`. Raises OSError only when the command cannot be
    started at all (e.g. `cwd` does not exist).
    """
    started = time.monotonic()
    marker = uuid.uuid4().hex
    with _scratch() as scratch:
        env = scrubbed_env(extra_env, scratch=scratch) | {MARKER: marker}
        done = supervise(["/bin/sh", "-c", command], cwd=cwd, env=env, limits=limits, marker=marker,
                         preexec=rlimits_setter(limits, nproc=os.geteuid() != 0),
                         disk=disk_watch(limits, [cwd, Path(env["HOME"])]))
    return CommandResult(command, done.exit_code, redactor(done.output), done.truncated, done.timed_out,
                         time.monotonic() - started, disk_note=done.disk_note)


def disk_watch(limits: Limits, trees: Sequence[Path], skip: Sequence[Path] = ()) -> DiskWatch | None:
    """The watch that holds `trees` (less `skip`) to `limits.disk_bytes`, or None when there is no quota."""
    if limits.disk_bytes is None:
        return None
    return DiskWatch(trees, limits.disk_bytes, skip=skip)


def supervise(argv: Sequence[str], *, cwd: Path | None, env: Mapping[str, str], limits: Limits, marker: str,
              preexec: Callable[[], None] | None = None, on_timeout: Callable[[], None] | None = None,
              pass_fds: Sequence[int] = (), on_start: Callable[[], None] | None = None,
              disk: DiskWatch | None = None) -> Supervised:
    """Run `argv` in a new session and process group, bounded by `limits.timeout` and `limits.output_bytes`.

    `marker` is this run's value of `SANDBOX_RUN_ID` (put it in the command's environment: it
    finds processes that left the group). On timeout `on_timeout` is called first (e.g. to
    remove a container), then every process of the run is stopped, as they are when the
    command ends but left processes behind. `preexec` runs in the child before exec;
    `pass_fds` are inherited by it; `on_start` runs in the caller once the child has started
    (e.g. to give it a network), and what it raises stops the run's processes and goes up.
    `disk` is measured while it runs: past its quota the run is stopped as on a timeout
    (`on_timeout` too), and it is measured once more when the run has ended.
    Raises OSError when `argv` cannot be started.
    """
    proc = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec,
                            pass_fds=tuple(pass_fds))
    assert proc.stdout is not None
    capture = _Capture(limits.output_bytes)
    tracker = _Tracker(proc.pid, marker)
    stop = None
    try:
        if on_start is not None:
            on_start()
        stop = _pump(proc, proc.stdout.fileno(), capture, tracker, time.monotonic() + limits.timeout, disk)
        if stop is not None and on_timeout is not None:
            on_timeout()
    finally:
        tracker.stop_all(limits.kill_grace)
        _drain(proc.stdout.fileno(), capture, DRAIN_SECONDS)
        proc.stdout.close()
        proc.wait()
    disk_note = ""
    if disk is not None and (stop == _DISK or disk.over(tracker.scan())):
        disk_note = disk.message()
        how = "the command was stopped" if stop == _DISK else "the command ended over it"
        capture.add(f"\n[issuesmith: {disk_note}; {how}]\n".encode())
    output, truncated = capture.text()
    return Supervised(None if stop is not None else proc.returncode, output, truncated, stop == _TIMEOUT, disk_note)


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="issuesmith-cmd-"))
    try:
        yield path
    finally:
        _remove_tree(path)


def _remove_tree(path: Path) -> None:
    """Remove a directory the command wrote to, even where it made things read-only."""
    def retry(func: Callable[[str], object], name: str, _exc: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(name), stat.S_IRWXU)
            if not os.path.islink(name) and os.path.isdir(name):
                os.chmod(name, stat.S_IRWXU)
            func(name)

    shutil.rmtree(path, onerror=retry)


def rlimits_setter(limits: Limits, *, nproc: bool) -> Callable[[], None]:
    """A function that sets the rlimits of `limits` on the calling process (run it in the child before exec).

    RLIMIT_AS, FSIZE, CPU, NOFILE, CORE=0 and, when `nproc`, NPROC (the kernel exempts root
    from it, so it only counts once the command runs as another user). Soft and hard limits
    are set alike, never above the current hard limit.
    """
    wanted = [(resource.RLIMIT_AS, limits.memory_bytes), (resource.RLIMIT_FSIZE, limits.file_bytes),
              (resource.RLIMIT_CPU, limits.cpu_seconds), (resource.RLIMIT_NOFILE, limits.open_files),
              (resource.RLIMIT_CORE, 0)]
    if nproc:
        wanted.append((resource.RLIMIT_NPROC, limits.processes))

    def apply() -> None:
        for which, value in wanted:
            if value is None:
                continue
            hard = resource.getrlimit(which)[1]
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (value, value))

    return apply


def _pump(proc: subprocess.Popen[bytes], fd: int, capture: _Capture, tracker: _Tracker, deadline: float,
          disk: DiskWatch | None) -> str | None:
    """Read output until the command ends (None), the deadline passes (_TIMEOUT) or `disk` goes over (_DISK)."""
    with selectors.DefaultSelector() as selector, _exit_fd(proc.pid) as exit_fd:
        selector.register(fd, selectors.EVENT_READ)
        if exit_fd is not None:
            selector.register(exit_fd, selectors.EVENT_READ)
        next_scan = 0.0
        while proc.poll() is None:
            now = time.monotonic()
            if now >= deadline:
                return _TIMEOUT
            if disk is not None and disk.due(now) and disk.over(tracker.scan()):
                return _DISK
            if now >= next_scan:
                tracker.scan()
                next_scan = now + SCAN_INTERVAL
            for key, _ in selector.select(min(deadline - now, SCAN_INTERVAL)):
                if key.fd == fd and not capture.read(fd):
                    selector.unregister(fd)
    return None


@contextlib.contextmanager
def _exit_fd(pid: int) -> Iterator[int | None]:
    """A pidfd that becomes readable when `pid` exits (None where the kernel has none)."""
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        yield None
        return
    try:
        yield pidfd
    finally:
        os.close(pidfd)


def _drain(fd: int, capture: _Capture, seconds: float) -> None:
    """Read what is left in the pipe, until EOF or for at most `seconds`."""
    deadline = time.monotonic() + seconds
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while (left := deadline - time.monotonic()) > 0:
            if selector.select(left) and not capture.read(fd):
                return


class _Capture:
    """Keeps the first quarter and the last three quarters of `limit` bytes of output."""

    def __init__(self, limit: int) -> None:
        self.head_limit = max(limit, 0) // 4
        self.tail_limit = max(limit, 0) - self.head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def read(self, fd: int) -> bool:
        """Read one chunk from `fd`; False at end of file."""
        try:
            chunk = os.read(fd, _CHUNK)
        except BlockingIOError:
            return True
        self.add(chunk)
        return bool(chunk)

    def add(self, chunk: bytes) -> None:
        """Take a chunk of output."""
        self.total += len(chunk)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        self.tail += chunk
        if len(self.tail) > 2 * self.tail_limit + _CHUNK:
            del self.tail[: len(self.tail) - self.tail_limit]

    def text(self) -> tuple[str, bool]:
        """The kept output as text, and whether some was cut."""
        tail = self.tail[len(self.tail) - self.tail_limit:] if self.tail_limit else bytearray()
        cut = self.total - len(self.head) - len(tail)
        head_text = self.head.decode("utf-8", errors="replace")
        tail_text = tail.decode("utf-8", errors="replace")
        if cut <= 0:
            return (self.head + tail).decode("utf-8", errors="replace"), False
        return f"{head_text}\n[... {cut} bytes cut ...]\n{tail_text}", True


@dataclass(frozen=True)
class _Proc:
    pid: int
    ppid: int
    pgid: int
    start: int
    zombie: bool


class _Tracker:
    """Finds the processes of one run through /proc and stops them."""

    def __init__(self, root: int, marker: str) -> None:
        self.root = root
        self.marker = f"{MARKER}={marker}".encode()
        self.known: dict[int, int] = {}  # pid -> start time, to notice a reused pid

    def scan(self, deep: bool = False) -> list[int]:
        """The live processes of the run; `deep` also reads every environment for the marker."""
        table = {p.pid: p for p in _processes()}
        self.known = {pid: start for pid, start in self.known.items()
                      if pid in table and table[pid].start == start}
        members = set(self.known) | {p.pid for p in table.values() if p.pgid == self.root or p.pid == self.root}
        if deep:
            members |= {pid for pid in table if pid not in members and self._marked(pid)}
        members |= _descendants(table, members)
        members.discard(os.getpid())
        self.known.update({pid: table[pid].start for pid in members})
        return sorted(pid for pid in members if not table[pid].zombie)

    def _marked(self, pid: int) -> bool:
        try:
            data = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            return False
        return any(entry == self.marker for entry in data.split(b"\0"))

    def stop_all(self, grace: float) -> None:
        """SIGTERM every process of the run, then SIGKILL what is left after `grace` seconds."""
        if not self._signal(signal.SIGTERM):
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.scan(deep=True):
            time.sleep(0.02)
        for _ in range(20):
            if not self._signal(signal.SIGKILL):
                return
            time.sleep(0.02)

    def _signal(self, signum: int) -> bool:
        """Send `signum` to the group and to every process found; False when none was left."""
        pids = self.scan(deep=True)
        if not pids:
            return False
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.root, signum)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)
        return True


def _descendants(table: Mapping[int, _Proc], roots: set[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    found: set[int] = set()
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found and child not in roots:
                found.add(child)
                todo.append(child)
    return found


def _processes() -> Iterator[_Proc]:
    """Every process in /proc: pid, ppid, process group, start time, whether a zombie."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_bytes()
        except OSError:
            continue
        fields = raw[raw.rfind(b")") + 2:].split()
        if len(fields) < 20:
            continue
        yield _Proc(int(entry.name), int(fields[1]), int(fields[2]), int(fields[19]), fields[0] in (b"Z", b"X"))
