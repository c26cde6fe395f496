"""The bubblewrap backend: each command in fresh namespaces, as an unprivileged user, on a minimal read-only root.

The worker must be root, and never hands its root to the command: the child drops to the
sandbox user (`uid`/`gid`, 65534 by default) through `setpriv --reuid --regid --clear-groups
--inh-caps=-all --bounding-set=-all --no-new-privs` before bwrap starts, so bwrap itself runs
unprivileged and builds the sandbox with a user namespace (bwrap started by root would keep
root's capabilities inside: a remount of / rw succeeds). A worker that is not root cannot
switch to another uid, and running the command under the worker's own uid is refused.

Inside: new user, pid, network, ipc, uts and cgroup namespaces (with `network`, the network
namespace gets `outbound`'s filtered network: the internet, no private or host address);
`--die-with-parent`, `--new-session`, no further user namespaces; an environment of the
allowlist only (`--clearenv`); a root of read-only binds of the system (/usr and the /bin,
/lib... links or binds, a few files of /etc) and of the interpreter (`sys.base_prefix`) at
their own paths, with /root and everything else absent; new /proc and /dev; a private /tmp
tmpfs of `Limits.tmp_bytes` (HOME=/tmp/home unless the run has its own) and a /dev/shm of
at most 64 MiB (a bwrap older than 0.7 has no `--size`: its tmpfs are bounded only by the
run's memory cgroup, which tmpfs pages count against, and the probe says so); the work tree
bound read-write at its own path, except its `.git`, read-only (a hook or config written
there would run as the worker at its next git command).

The worker's virtualenv (`sys.prefix`) is bound read-only, with its `bin` first on PATH, only
for commands without a network (the test phase: a repository that brings no pytest of its own
uses the worker's). A command with a network (the setup phase) sees the system and the base
interpreter only, with the base interpreter's directory first on PATH: the virtualenv holds
the worker's own code and its Redis and queue clients, which a setup command has no use for.
In both, `$HOME/.local/bin` comes first on PATH (`HOME_BIN`), for the interpreter or tools a
setup command installs there.
It also gets the deployment's CA bundle, read-only, and package index (`bot.sandboxes.trust`).
The work tree and the run's HOME are held to `Limits.disk_bytes` together (`bot.sandboxes.diskquota`).

Directories the sandbox user cannot reach are staged first (`staging`), the tree is lent to
that user (`ownership`), rlimits are set before exec, and a per-run cgroup bounds memory and
processes where one can be made (`cgroups`). On timeout bwrap's process group and every descendant are killed; the pid
namespace takes whatever is left with it, and so does the cgroup.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from bot.sandboxes import cgroups, egress, outbound, ownership, staging
from bot.sandboxes.base import (
    FIXED_ENV,
    MARKER,
    CommandResult,
    Limits,
    Probe,
    SandboxStartFailed,
    disk_watch,
    rlimits_setter,
    sandbox_path,
    supervise,
)
from bot.sandboxes.base import unchanged as _unchanged
from bot.sandboxes.trust import CA_PATH, NO_TRUST, SetupTrust

NOBODY = 65534
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
SYSTEM_FILES = ("/etc/alternatives", "/etc/ssl", "/etc/ca-certificates", "/etc/pki", "/etc/ld.so.cache",
                "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts",
                "/etc/resolv.conf", "/etc/localtime")
SANDBOX_HOME = "/tmp/home"
HOME_BIN = ".local/bin"
"""First on PATH, in HOME: what the setup phase installs there (`uv python install`, `pip install --user`) the
test phase runs by name (HOME is the run's, kept between its phases)."""
SHM_BYTES = 64 * 1024**2
_LAUNCHER_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


class BubblewrapBackend:
    """Runs commands with bwrap as an unprivileged user; see the module docstring for what is isolated how."""

    name = "bubblewrap"
    isolating = True

    def __init__(self, *, uid: int = NOBODY, gid: int = NOBODY, bwrap: str = "bwrap", setpriv: str = "setpriv",
                 read_only: Sequence[Path] = (), use_cgroups: bool = True, slirp: str = outbound.SLIRP,
                 nft: str = egress.NFT, trust: SetupTrust = NO_TRUST) -> None:
        self.uid, self.gid = uid, gid
        self.trust = trust
        self.bwrap, self.setpriv, self.slirp, self.nft = bwrap, setpriv, slirp, nft
        self.read_only = tuple(read_only)
        self.use_cgroups = use_cgroups

    def probe(self) -> Probe:
        """Whether commands can run here: the checks, then trial runs of `true` (and one with a setup network)."""
        problem = self._problem()
        if problem:
            return Probe(self.name, False, problem)
        sweep()
        with tempfile.TemporaryDirectory(prefix="issuesmith-probe-") as work:
            try:
                trial = self._trial(Path(work))
            except (OSError, SandboxStartFailed) as exc:
                return Probe(self.name, False, f"bwrap could not be started: {exc}")
            if trial.exit_code != 0:
                return Probe(self.name, False,
                             f"a trial sandbox failed ({trial.exit_code}): {trial.output.strip()[:300]}")
            setup = self._setup_network(Path(work))
        return Probe(self.name, True, "; ".join([f"{_version(self.bwrap)} as uid {self.uid}:{self.gid}",
                                                 *trial.notes, setup, *self._tmpfs_note()]))

    def _trial(self, work: Path, *, network: bool = False, attempts: int = 3) -> CommandResult:
        """A run of `true`; a sandbox that fails to start once (a race with another run) is tried again."""
        for attempt in range(attempts):
            try:
                return self.run("true", work, Limits(timeout=20, kill_grace=0.5), network=network)
            except SandboxStartFailed:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    def _setup_network(self, work: Path) -> str:
        """Whether a setup phase can have its filtered network here (a trial run with it), for the probe's reason."""
        problem = outbound.problem(self.slirp, self.nft)
        if not problem:
            try:
                trial = self._trial(work, network=True)
                problem = "" if trial.exit_code == 0 else f"a trial setup sandbox failed: {trial.output[:300]}"
            except (OSError, SandboxStartFailed) as exc:
                problem = str(exc)
        if problem:
            return f"SETUP PHASE REFUSED HERE: {problem}"
        return "setup phase: outbound through slirp4netns, private and host addresses rejected (nftables)"

    def _tmpfs_note(self) -> list[str]:
        if "--size" in _features(self.bwrap):
            return []
        return ["this bwrap has no --size: /tmp is bounded only by the run's memory cgroup"]

    def _problem(self) -> str:
        """Why this backend cannot run here, or "" when it may."""
        if not shutil.which(self.bwrap):
            return ("bubblewrap is not installed: run scripts/ensure-sandbox as root (apt-get install bubblewrap)"
                    " or install the bubblewrap package")
        if 0 in (self.uid, self.gid):
            return "the sandbox uid/gid must not be root (0): set ISSUESMITH_SANDBOX_UID to an unprivileged uid"
        worker = os.geteuid()
        if worker != 0:
            if worker == self.uid:
                return (f"the sandbox uid {self.uid} is the worker's own uid: the command would own the worker's "
                        "files; set ISSUESMITH_SANDBOX_UID to another uid")
            return (f"the worker runs as uid {worker}, not root, so it cannot switch to the sandbox uid {self.uid} "
                    "(and running the command as the worker's own uid is refused): run the worker as root, "
                    "which drops each command to the sandbox uid, or use the docker backend")
        if not shutil.which(self.setpriv):
            return "setpriv (util-linux) is missing: it drops root to the sandbox uid before bwrap starts"
        return ""

    def run(self, command: str, workdir: Path, limits: Limits, *, network: bool = False,
            redactor: Callable[[str], str] = _unchanged, env: Mapping[str, str] | None = None,
            home: Path | None = None) -> CommandResult:
        """Run `command` with `/bin/sh -c` in `workdir` inside a fresh sandbox; see `bot.sandboxes.base.Backend`."""
        problem = self._problem() or (network and outbound.problem(self.slirp, self.nft))
        if problem:
            raise OSError(f"bubblewrap backend cannot run: {problem}")
        started = time.monotonic()
        workdir = workdir.resolve(strict=True)
        if not workdir.is_dir():
            raise NotADirectoryError(str(workdir))
        marker = uuid.uuid4().hex
        bundle = self.trust.bundle() if network else b""
        sandbox_env = {"PATH": f"{SANDBOX_HOME}/{HOME_BIN}:{sandbox_path(virtualenv=not network)}",
                       "HOME": SANDBOX_HOME, "TMPDIR": "/tmp",
                       **FIXED_ENV, **(env or {}), **(self.trust.env(bundle=bool(bundle)) if network else {}),
                       MARKER: marker}
        read_only = self._read_only_dirs(virtualenv=not network)
        writable = [workdir] if home is None else [workdir, home.resolve(strict=True)]
        with contextlib.ExitStack() as stack:
            for tree in writable:
                stack.enter_context(ownership.lent(tree, self.uid, self.gid))
            stage = stack.enter_context(staging.staged([*read_only, *writable]))
            files = {CA_PATH: stage.file("ca-bundle.pem", bundle)} if bundle else {}
            group, group_note = stack.enter_context(cgroups.run_cgroup(limits, enabled=self.use_cgroups))
            net = stack.enter_context(outbound.Outbound(self.slirp, nft=self.nft)) if network else None
            argv = [*self._drop(), *self.bwrap_args(workdir, stage, limits, network, sandbox_env, read_only,
                                                    home=writable[1] if home else None, files=files,
                                                    extra=net.bwrap_args() if net else ()),
                    "/bin/sh", "-c", command]
            cause = stack.enter_context(_ChildErrors())
            try:
                done = supervise(argv, cwd=Path("/"), env={"PATH": _LAUNCHER_PATH, "LANG": "C.UTF-8", MARKER: marker},
                                 limits=limits, marker=marker, preexec=cause.guard(_preexec(group, stage, limits)),
                                 on_timeout=_killer(group), pass_fds=net.child_fds if net else (),
                                 on_start=net.attach if net else None,
                                 disk=disk_watch(limits, writable, skip=[workdir / ".git"]))
            except subprocess.SubprocessError as exc:  # the preexec step failed in the child: say why
                raise SandboxStartFailed(cause.read() or str(exc)) from exc
        if bwrap_failed(done.exit_code, done.output):
            raise SandboxStartFailed(done.output.strip())
        notes = (f"bubblewrap: uid {self.uid}:{self.gid}, new user/pid/ipc/uts/cgroup namespaces, read-only system",
                 "network: outbound through slirp4netns; private, loopback, link-local and the host's own "
                 "addresses rejected (nftables); no virtualenv" if network else "network: none", group_note)
        return CommandResult(command, done.exit_code, redactor(done.output), done.truncated, done.timed_out,
                             time.monotonic() - started, self.name, True, notes, done.disk_note)

    def _drop(self) -> list[str]:
        """setpriv: from root to the sandbox user, no groups, no capabilities of any kind, no new privileges."""
        return [self.setpriv, "--reuid", str(self.uid), "--regid", str(self.gid), "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]

    def _read_only_dirs(self, *, virtualenv: bool = True) -> list[Path]:
        """Interpreter, virtualenv (if `virtualenv`) and configured directories not inside a bound system directory."""
        prefixes = (sys.base_prefix, sys.base_exec_prefix, *((sys.prefix, sys.exec_prefix) if virtualenv else ()))
        wanted = [Path(p) for p in prefixes]
        wanted += [p.resolve() for p in wanted] + [Path(p) for p in self.read_only]
        chosen: list[Path] = []
        for path in wanted:
            path = Path(os.path.abspath(path))
            if (path.is_dir() and path not in chosen and not _under(path, SYSTEM_DIRS)
                    and not any(path.is_relative_to(other) for other in chosen)):
                chosen = [other for other in chosen if not other.is_relative_to(path)] + [path]
        return chosen

    def bwrap_args(self, workdir: Path, stage: staging.Staging, limits: Limits, network: bool,
                   env: Mapping[str, str], read_only: Sequence[Path], *, home: Path | None = None,
                   files: Mapping[str, Path] | None = None, extra: Sequence[str] = ()) -> list[str]:
        """The bwrap command line up to (and including) `--`, for the work tree, `read_only` and `home` in `stage`.

        `files` are bound read-only at the paths they are keyed by (the setup phase's CA bundle).

        The network namespace is always new: with `network`, `extra` carries `outbound`'s
        options, which give it an outbound-only network and its own /etc/resolv.conf.
        """
        features = _features(self.bwrap)
        args = [self.bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--new-session",
                "--hostname", "issuesmith-sandbox", "--clearenv"]
        if "--disable-userns" in features:
            args.append("--disable-userns")
        for name, value in env.items():
            args += ["--setenv", name, value]
        for system in SYSTEM_DIRS:
            if os.path.islink(system):
                args += ["--symlink", os.readlink(system), system]
            elif os.path.isdir(system):
                args += ["--ro-bind", system, system]
        for system in SYSTEM_FILES:
            if not (network and system == "/etc/resolv.conf"):
                args += ["--ro-bind-try", system, system]
        args += ["--proc", "/proc", "--dev", "/dev"]
        for tmpfs, size in (("/tmp", limits.tmp_bytes), ("/dev/shm", min(limits.tmp_bytes, SHM_BYTES))):
            args += ["--size", str(size), "--tmpfs", tmpfs] if "--size" in features else ["--tmpfs", tmpfs]
        for path in read_only:  # after the tmpfs: an interpreter or venv under /tmp must stay visible
            args += ["--ro-bind", str(stage[path]), str(path)]
        for target, source in (files or {}).items():
            args += ["--ro-bind", str(source), target]
        args += ["--dir", SANDBOX_HOME] if home is None else ["--bind", str(stage[home]), SANDBOX_HOME]
        args += ["--bind", str(stage[workdir]), str(workdir)]
        git = workdir / ".git"
        if git.is_dir() and not git.is_symlink():
            args += ["--ro-bind", str(stage[workdir] / ".git"), str(workdir / ".git")]
        return [*args, *extra, "--remount-ro", "/", "--chdir", str(workdir), "--"]


def sweep() -> int:
    """Remove what a killed worker's runs left behind (old staging directories, empty run cgroups)."""
    return staging.sweep() + (cgroups.sweep() if os.geteuid() == 0 else 0)


def _preexec(group: cgroups.RunCgroup | None, stage: staging.Staging, limits: Limits) -> Callable[[], None]:
    """In the child, still root: join the run's cgroup, stage the binds, set the rlimits (NPROC included)."""
    set_limits = rlimits_setter(limits, nproc=True)

    def prepare() -> None:
        if group is not None:
            group.join()
        stage.enter()
        set_limits()

    return prepare


class _ChildErrors:
    """A pipe through which the child reports why its preparation failed (subprocess only says it did)."""

    def __enter__(self) -> _ChildErrors:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        return self

    def __exit__(self, *_exc: object) -> None:
        os.close(self._read)
        os.close(self._write)

    def guard(self, prepare: Callable[[], None]) -> Callable[[], None]:
        """`prepare`, reporting what it raises (in the child) before raising it."""
        write = self._write

        def guarded() -> None:
            try:
                prepare()
            except BaseException as exc:
                os.write(write, f"{type(exc).__name__}: {exc}".encode()[:1000])
                raise

        return guarded

    def read(self) -> str:
        """What the child reported ("" when nothing)."""
        try:
            return os.read(self._read, 1000).decode(errors="replace")
        except BlockingIOError:
            return ""


def bwrap_failed(exit_code: int | None, output: str) -> bool:
    """Whether bwrap itself failed before running the command (it exits 1 with one line "bwrap: ...")."""
    lines = output.strip().splitlines()
    return exit_code == 1 and len(lines) == 1 and lines[0].startswith("bwrap: ")


def _killer(group: cgroups.RunCgroup | None) -> Callable[[], None] | None:
    """On timeout, kill the whole cgroup at once (where there is one)."""
    if group is None:
        return None

    def kill() -> None:
        group.kill()

    return kill


def _under(path: Path, roots: Sequence[str]) -> bool:
    return any(path.is_relative_to(Path(root).resolve()) or path.is_relative_to(root) for root in roots
               if os.path.exists(root))


@functools.cache
def _features(bwrap: str) -> str:
    """bwrap's --help text, to see which options this version has (--size, --disable-userns)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10).stdout
    return ""


@functools.cache
def _version(bwrap: str) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    return "bubblewrap"
