"""A cgroup per sandboxed run: the memory and the process count of the whole run, and a sure kill.

Only root can make one (there is no systemd here to delegate a subtree). The run's cgroup is
made below the worker's own cgroup in each hierarchy (from /proc/self/cgroup), so whatever
bounds the worker lives under still hold. With cgroup v2 (/sys/fs/cgroup is the unified
hierarchy and offers `memory` and `pids`) the limits are memory.max, memory.swap.max=0 and
pids.max, and `cgroup.kill` ends every member at once; with cgroup v1 they are
memory.limit_in_bytes and pids.max in the memory and pids hierarchies, and the members are
killed one by one until none is left. The first process joins in the child before exec, so
everything it starts is counted.

When no cgroup can be made (not root, no such controllers, a read-only cgroupfs, a v2
cgroup that holds the worker itself and so cannot hand controllers to a child) the run goes
on without one and `create` says why; the rlimits and the pid namespace still bound it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.sandboxes.base import Limits

CGROUP_ROOT = Path("/sys/fs/cgroup")
SELF_CGROUP = Path("/proc/self/cgroup")
_WANTED = ("memory", "pids")
MAX_AGE = 24 * 3600
"""Seconds after which a run cgroup is old enough to be nobody's (far longer than any run)."""


@dataclass(frozen=True)
class RunCgroup:
    """The cgroup directories of one run (one for v2, one per hierarchy for v1)."""

    version: int
    dirs: tuple[Path, ...]

    def join(self) -> None:
        """Move the calling process into the run's cgroup (call it in the child, before exec)."""
        pid = str(os.getpid())
        for directory in self.dirs:
            (directory / "cgroup.procs").write_text(pid)

    def members(self) -> set[int]:
        """The pids in the run's cgroup."""
        found: set[int] = set()
        for directory in self.dirs:
            with contextlib.suppress(OSError):
                found |= {int(line) for line in (directory / "cgroup.procs").read_text().split()}
        return found

    def kill(self, wait: float = 2.0) -> bool:
        """SIGKILL every member and wait until none is left (at most `wait` seconds); False if some are."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                (self.dirs[0] / "cgroup.kill").write_text("1")
        deadline = time.monotonic() + wait
        while members := self.members():
            for pid in members:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def remove(self, wait: float = 1.0) -> None:
        """Remove the run's directories (once empty; a busy one is left behind)."""
        for directory in self.dirs:
            deadline = time.monotonic() + wait
            while True:
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(0.01)


@contextlib.contextmanager
def run_cgroup(limits: Limits, *, enabled: bool = True, root: Path = CGROUP_ROOT,
               self_cgroup: Path = SELF_CGROUP) -> Iterator[tuple[RunCgroup | None, str]]:
    """A fresh cgroup bounded by `limits` for the block (or None and why not); killed and removed after it."""
    if not enabled:
        yield None, "no cgroup: switched off"
        return
    group, note = create(run_name(), limits, root=root, self_cgroup=self_cgroup)
    try:
        yield group, note
    finally:
        if group is not None:
            group.kill()
            group.remove()


def create(name: str, limits: Limits, *, root: Path = CGROUP_ROOT,
           self_cgroup: Path = SELF_CGROUP) -> tuple[RunCgroup | None, str]:
    """Make the cgroup `name` with the memory and process limits of `limits`; (None, why) when it cannot be."""
    if os.geteuid() != 0:
        return None, "no cgroup: the worker is not root (without systemd only root can make cgroups)"
    try:
        own = _own_paths(self_cgroup)
        if (root / "cgroup.controllers").exists():
            return _create_v2(name, limits, root, own.get("", "/"))
        return _create_v1(name, limits, root, own)
    except OSError as exc:
        return None, f"no cgroup: {exc}"


def run_name(pid: int | None = None) -> str:
    """`run-<pid>-<start>-<random>`: the cgroup's owner (a process and its start time) is in its name."""
    pid = os.getpid() if pid is None else pid
    return f"run-{pid}-{process_start(pid)}-{uuid.uuid4().hex[:8]}"


def process_start(pid: int) -> int:
    """The start time of `pid` (clock ticks since boot; it tells a reused pid apart); 0 when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return 0
    return int(raw[raw.rfind(b")") + 2:].split()[19])


def provably_dead(name: str, mtime: float, *, max_age: float = MAX_AGE) -> bool:
    """Whether the run cgroup `name` (from `run_name`) can have no user: its owner is gone, or it is older than
    any run; another worker's cgroup, made but not yet joined, is neither."""
    parts = name.removeprefix("issuesmith-").split("-")
    if time.time() - mtime > max_age:
        return True
    if len(parts) != 4 or parts[0] != "run" or not (parts[1].isdigit() and parts[2].isdigit()):
        return False  # a name of an older version: left to the age bound
    pid, start = int(parts[1]), int(parts[2])
    return process_start(pid) != start


def sweep(*, root: Path = CGROUP_ROOT, self_cgroup: Path = SELF_CGROUP, max_age: float = MAX_AGE) -> int:
    """Remove the run cgroups a killed worker left behind: only empty ones whose owner is provably dead.

    Every worker sweeps when it checks its sandbox, while other workers' runs are starting: a
    cgroup made but not yet joined is empty too, and must stay (its owner is alive).
    """
    removed = 0
    with contextlib.suppress(OSError, ValueError):
        own = _own_paths(self_cgroup)
        parents = [root / own.get("", "/").lstrip("/"), root / "issuesmith"]
        parents += [root / controller / path.lstrip("/") for controller, path in own.items() if controller]
        for parent in parents:
            for leftover in parent.glob("issuesmith-run-*") if parent.is_dir() else []:
                with contextlib.suppress(OSError):
                    if provably_dead(leftover.name, leftover.stat().st_mtime, max_age=max_age):
                        leftover.rmdir()
                        removed += 1
    return removed


def _own_paths(self_cgroup: Path) -> dict[str, str]:
    """Controller name (or "" for v2) -> the worker's cgroup path in that hierarchy."""
    paths: dict[str, str] = {}
    for line in self_cgroup.read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def _create_v2(name: str, limits: Limits, root: Path, own: str) -> tuple[RunCgroup | None, str]:
    parent = root / own.lstrip("/")
    if missing := [c for c in _WANTED if c not in (parent / "cgroup.controllers").read_text().split()]:
        return None, f"no cgroup: cgroup v2 at {parent} does not offer {', '.join(missing)}"
    if own == "/":
        base = root / "issuesmith"
        _enable(root)
        base.mkdir(exist_ok=True)
    elif set(_WANTED) <= set((parent / "cgroup.subtree_control").read_text().split()):
        base = parent
    else:
        return None, (f"no cgroup: the worker's cgroup v2 {own} holds processes, so it cannot hand memory and pids "
                      "to a child; run the worker in a cgroup of its own whose parent delegates them")
    _enable(base)
    run = base / f"issuesmith-{name}"
    run.mkdir()
    group = RunCgroup(2, (run,))
    try:
        _write(run / "memory.max", limits.memory_bytes)
        if (run / "memory.swap.max").exists():
            _write(run / "memory.swap.max", 0)
        _write(run / "pids.max", limits.processes)
    except OSError:
        group.remove()
        raise
    return group, f"cgroup v2 {run.relative_to(root)}: {_describe(limits)}"


def _enable(directory: Path) -> None:
    control = directory / "cgroup.subtree_control"
    current = control.read_text().split() if control.exists() else []
    if not set(_WANTED) <= set(current):
        control.write_text(" ".join(f"+{c}" for c in _WANTED))


def _create_v1(name: str, limits: Limits, root: Path, own: dict[str, str]) -> tuple[RunCgroup | None, str]:
    settings = {"memory": ("memory.limit_in_bytes", limits.memory_bytes), "pids": ("pids.max", limits.processes)}
    made: list[Path] = []
    skipped: list[str] = []
    try:
        for controller, (knob, value) in settings.items():
            hierarchy = root / controller
            if controller not in own or not (hierarchy / "cgroup.procs").exists():
                skipped.append(controller)
                continue
            directory = hierarchy / own[controller].lstrip("/") / f"issuesmith-{name}"
            directory.mkdir()
            made.append(directory)
            _write(directory / knob, value)
    except OSError:
        RunCgroup(1, tuple(made)).remove()
        raise
    if not made:
        return None, "no cgroup: neither a cgroup v2 hierarchy nor the v1 memory and pids hierarchies are mounted"
    note = f"cgroup v1 ({'+'.join(d.relative_to(root).parts[0] for d in made)}) {name}: {_describe(limits)}"
    return RunCgroup(1, tuple(made)), note + (f" (no {', '.join(skipped)} hierarchy)" if skipped else "")


def _write(path: Path, value: int | None) -> None:
    """Write a limit; None is "no limit" (-1 for v1's memory.limit_in_bytes, "max" elsewhere)."""
    if value is None:
        path.write_text("-1" if path.name == "memory.limit_in_bytes" else "max")
    else:
        path.write_text(str(value))


def _describe(limits: Limits) -> str:
    memory = "unbounded" if limits.memory_bytes is None else f"{limits.memory_bytes // 1024**2} MiB"
    processes = "unbounded" if limits.processes is None else str(limits.processes)
    return f"memory {memory}, processes {processes}"
