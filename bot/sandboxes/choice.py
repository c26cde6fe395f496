"""Which backend runs the commands here: probed at start-up, failing closed.

`choose_backend("auto")` takes the first isolating backend that works here, bubblewrap
(cheap, uses the worker's own interpreter and virtualenv) before docker (a container per
command, an image of its own). A named backend is taken only if it works. The unsandboxed
backend is taken only with `allow_unsandboxed` (ISSUESMITH_ALLOW_UNSANDBOXED): without it,
when nothing isolating works, `SandboxUnavailable` says why each backend cannot run and how
to fix it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from bot.sandboxes.base import Backend, Probe, SandboxUnavailable
from bot.sandboxes.bubblewrap import NOBODY, BubblewrapBackend, sweep
from bot.sandboxes.docker import DEFAULT_IMAGE, DockerBackend
from bot.sandboxes.trust import NO_TRUST, SetupTrust
from bot.sandboxes.unsandboxed import UnsandboxedBackend

log = logging.getLogger("issuesmith.sandbox")
ISOLATING = ("bubblewrap", "docker")
NAMES = (*ISOLATING, "unsandboxed")
HINT = ("Install bubblewrap (scripts/ensure-sandbox as root, or apt-get install bubblewrap) and run the worker as "
        "root, which drops every command to ISSUESMITH_SANDBOX_UID (65534 by default); or give the worker a Docker "
        "engine and set ISSUESMITH_SANDBOX=docker. Only on a trusted development machine: "
        "ISSUESMITH_ALLOW_UNSANDBOXED=1 runs commands unisolated (with ISSUESMITH_SANDBOX=auto or unsandboxed).")


class ProbedBackend(Backend, Protocol):
    """A backend that can tell whether it works here."""

    def probe(self) -> Probe:
        """Whether this backend can run on this machine, and why."""
        ...


def backends(*, uid: int = NOBODY, gid: int = NOBODY, docker_image: str = DEFAULT_IMAGE,
             read_only: Sequence[Path] = (), trust: SetupTrust = NO_TRUST) -> dict[str, ProbedBackend]:
    """Every backend, configured, by name (in the order `auto` tries them); `trust` is for their setup phase."""
    return {"bubblewrap": BubblewrapBackend(uid=uid, gid=gid, read_only=read_only, trust=trust),
            "docker": DockerBackend(image=docker_image, uid=uid, gid=gid),
            "unsandboxed": UnsandboxedBackend(trust=trust)}


def probe_all(*, uid: int = NOBODY, gid: int = NOBODY, docker_image: str = DEFAULT_IMAGE,
              read_only: Sequence[Path] = ()) -> list[Probe]:
    """Whether each backend is usable here, and why or why not."""
    return [backend.probe() for backend in backends(uid=uid, gid=gid, docker_image=docker_image,
                                                    read_only=read_only).values()]


def choose_backend(preference: str = "auto", allow_unsandboxed: bool = False, *, uid: int = NOBODY,
                   gid: int = NOBODY, docker_image: str = DEFAULT_IMAGE, read_only: Sequence[Path] = (),
                   trust: SetupTrust = NO_TRUST) -> Backend:
    """The backend to run commands with; raises SandboxUnavailable (final) rather than run them unisolated unasked."""
    preference = (preference or "auto").strip().lower()
    if preference not in (*NAMES, "auto"):
        raise SandboxUnavailable(f"unknown sandbox backend {preference!r} (ISSUESMITH_SANDBOX is one of auto, "
                                 f"{', '.join(NAMES)})", hint=HINT)
    if preference == "unsandboxed" and not allow_unsandboxed:
        raise SandboxUnavailable("ISSUESMITH_SANDBOX=unsandboxed needs ISSUESMITH_ALLOW_UNSANDBOXED=1: "
                                 "commands would run with no isolation", hint=HINT)
    candidates = backends(uid=uid, gid=gid, docker_image=docker_image, read_only=read_only, trust=trust)
    wanted = ISOLATING if preference == "auto" else (preference,)
    probes: list[Probe] = []
    for name in wanted:
        probe = candidates[name].probe()
        probes.append(probe)
        if probe.available:
            log.info("sandbox backend: %s (%s)", name, probe.reason)
            return candidates[name]
    if preference == "auto" and allow_unsandboxed:
        log.warning("sandbox backend: unsandboxed, NOTHING IS ISOLATED (ISSUESMITH_ALLOW_UNSANDBOXED); %s",
                    "; ".join(f"{p.backend}: {p.reason}" for p in probes))
        return candidates["unsandboxed"]
    reasons = "; ".join(f"{p.backend}: {p.reason}" for p in probes)
    raise SandboxUnavailable(f"no sandbox to run the repository's commands in ({reasons})", hint=HINT)


def adopt(backend: Backend) -> Backend:
    """A backend chosen in the worker before it forked this process: do what choosing it again would do here
    besides the trial runs (bubblewrap removes what killed runs left behind, as its probe does first)."""
    if isinstance(backend, BubblewrapBackend):
        sweep()
    return backend
