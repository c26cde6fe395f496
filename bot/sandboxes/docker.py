"""The docker backend: each command in a throwaway container (for workers that have a Docker socket).

`docker run --rm --name issuesmith-<uuid>` with no network, a read-only root, every
capability dropped, no new privileges, an init process, the run's process and memory limits,
a private /tmp tmpfs of `Limits.tmp_bytes`, the work tree mounted at /work (its `.git`
read-only) and, when given, the run's HOME at /tmp/home; the environment is the allowlist
(`-e`, no value from the worker's secrets; PATH is the image's own). When the worker is root
the container runs as the sandbox user (`uid`/`gid`, 65534 by default) and the tree is lent
to that user for the command (`ownership`); a worker that is not root runs it as its own
uid, since it could not take the tree back. On timeout the container is removed with `docker
rm -f` and the client process is killed; output is captured and capped by
`bot.sandboxes.base.supervise` like the others, and the work tree and HOME are held to
`Limits.disk_bytes` together.

A setup phase (`network`) is refused: the engine's default network reaches whatever the
engine's host reaches (Redis on a compose network, cloud metadata, the host's own
addresses), and the worker, which may not even share the engine's host, cannot filter it the
way the bubblewrap backend does (`egress`). Use bubblewrap for a setup command, or none.

The work tree path is given to the Docker engine as it is: a worker that itself runs in a
container must see the tree at the same path as the engine's host does.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from bot.sandboxes import ownership
from bot.sandboxes.base import FIXED_ENV, MARKER, CommandResult, Limits, Probe, disk_watch, supervise, unchanged

DEFAULT_IMAGE = "python:3.11-slim"
NOBODY = 65534
WORKDIR = "/work"
HOME = "/tmp/home"
NO_SETUP_NETWORK = ("the docker backend runs no setup phase: it cannot keep a command's network off private and "
                    "host addresses (Redis, cloud metadata); use the bubblewrap backend (ISSUESMITH_SANDBOX="
                    "bubblewrap, a root worker) for a setup command, or unset ISSUESMITH_SETUP_COMMAND")
_CLIENT_ENV = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY",
               "DOCKER_CERT_PATH")


class DockerBackend:
    """Runs commands in throwaway containers through the `docker` client."""

    name = "docker"
    isolating = True

    def __init__(self, *, image: str = DEFAULT_IMAGE, uid: int = NOBODY, gid: int = NOBODY,
                 docker: str = "docker") -> None:
        self.image = image
        self.uid, self.gid = uid, gid
        self.docker = docker

    def probe(self) -> Probe:
        """Available when `docker version` reaches an engine."""
        try:
            answer = subprocess.run([self.docker, "version", "--format", "{{.Server.Version}}"], capture_output=True,
                                    text=True, timeout=15, env=_client_env())
        except FileNotFoundError:
            return Probe(self.name, False, f"no `{self.docker}` client is installed")
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Probe(self.name, False, f"`docker version` failed: {exc}")
        if answer.returncode != 0:
            why = (answer.stderr.strip().splitlines() or ["no answer"])[-1]
            return Probe(self.name, False, f"no Docker engine answers: {why[:300]}")
        return Probe(self.name, True, f"Docker engine {answer.stdout.strip()}, image {self.image}")

    def user(self) -> tuple[int, int]:
        """The uid and gid the container runs as: the sandbox user when the worker is root, else the worker's."""
        return (self.uid, self.gid) if os.geteuid() == 0 else (os.geteuid(), os.getegid())

    def argv(self, name: str, command: str, workdir: Path, limits: Limits, *,
             env: Mapping[str, str], home: Path | None = None) -> list[str]:
        """The `docker run` command line for one command."""
        uid, gid = self.user()
        args = [self.docker, "run", "--rm", "--name", name, "--init", "--read-only", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges", "--user", f"{uid}:{gid}", "--network", "none"]
        if limits.processes is not None:
            args += ["--pids-limit", str(limits.processes)]
        if limits.memory_bytes is not None:
            args += ["--memory", str(limits.memory_bytes), "--memory-swap", str(limits.memory_bytes)]
        ulimits: tuple[tuple[str, int | None], ...] = (("nofile", limits.open_files), ("fsize", limits.file_bytes),
                                                       ("cpu", limits.cpu_seconds), ("core", 0))
        for ulimit, bound in ulimits:
            if bound is not None:
                args += ["--ulimit", f"{ulimit}={bound}:{bound}"]
        args += ["--tmpfs", f"/tmp:rw,exec,nosuid,nodev,size={limits.tmp_bytes},mode=1777",
                 "-v", f"{workdir}:{WORKDIR}:rw"]
        git = workdir / ".git"
        if git.is_dir() and not git.is_symlink():
            args += ["-v", f"{git}:{WORKDIR}/.git:ro"]
        if home is not None:
            args += ["-v", f"{home}:{HOME}:rw"]
        args += ["-w", WORKDIR]
        for key, value in env.items():
            args += ["-e", f"{key}={value}"]
        return [*args, self.image, "sh", "-c", command]

    def run(self, command: str, workdir: Path, limits: Limits, *, network: bool = False,
            redactor: Callable[[str], str] = unchanged, env: Mapping[str, str] | None = None,
            home: Path | None = None) -> CommandResult:
        """Run `command` with `sh -c` in a new container with the work tree at /work; see `bot.sandboxes.base.Backend`.

        Raises OSError for a command with `network` (see the module docstring).
        """
        if network:
            raise OSError(NO_SETUP_NETWORK)
        started = time.monotonic()
        workdir = workdir.resolve(strict=True)
        name = f"issuesmith-{uuid.uuid4().hex}"
        marker = uuid.uuid4().hex
        home = home.resolve(strict=True) if home is not None else None
        container_env = {"HOME": HOME if home else "/tmp", "TMPDIR": "/tmp", **FIXED_ENV, **(env or {})}
        argv = self.argv(name, command, workdir, limits, env=container_env, home=home)
        uid, gid = self.user()
        with self._lent(workdir, uid, gid), self._lent(home, uid, gid):
            done = supervise(argv, cwd=workdir, env={**_client_env(), MARKER: marker}, limits=limits, marker=marker,
                             on_timeout=lambda: self.remove(name),
                             disk=disk_watch(limits, [workdir, *([home] if home else [])], skip=[workdir / ".git"]))
        notes = (f"docker: container {name} of {self.image} as {uid}:{gid}, read-only root, no capabilities",
                 "network: none")
        return CommandResult(command, done.exit_code, redactor(done.output), done.truncated, done.timed_out,
                             time.monotonic() - started, self.name, True, notes, done.disk_note)

    def remove(self, name: str) -> None:
        """`docker rm -f NAME`: stop and remove the container, whatever it is doing."""
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run([self.docker, "rm", "-f", name], capture_output=True, timeout=30, env=_client_env())

    @contextlib.contextmanager
    def _lent(self, workdir: Path | None, uid: int, gid: int) -> Iterator[None]:
        if workdir is not None and os.geteuid() == 0:
            with ownership.lent(workdir, uid, gid):
                yield
        else:
            yield


def _client_env() -> dict[str, str]:
    """The docker client's own environment: what it needs to reach the engine, none of the worker's secrets."""
    return {key: os.environ[key] for key in _CLIENT_ENV if key in os.environ}
