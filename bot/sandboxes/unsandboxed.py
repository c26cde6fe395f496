"""The unsandboxed backend: `bot.sandboxes.base.run_command`, which isolates nothing; trusted machines only.

It is chosen only when explicitly allowed (ISSUESMITH_ALLOW_UNSANDBOXED); every result it
returns and every run it logs say so, since the command runs as the worker's user with the
worker's files, processes and network (its environment is still the allowlist).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from bot.sandboxes.base import CommandResult, Limits, Probe, run_command, sandbox_path, unchanged
from bot.sandboxes.trust import NO_TRUST, SetupTrust

log = logging.getLogger("issuesmith.sandbox")


def warning() -> str:
    """What running unsandboxed means, loudly."""
    return (f"UNSANDBOXED: nothing is isolated: the command ran as the worker's uid {os.geteuid()}, with the "
            "worker's files, processes and network (only its environment was scrubbed)")


class UnsandboxedBackend:
    """Runs commands as plain subprocesses of the worker (bounded, but not isolated)."""

    name = "unsandboxed"
    isolating = False

    def __init__(self, *, trust: SetupTrust = NO_TRUST) -> None:
        self.trust = trust

    def probe(self) -> Probe:
        """Always runs; the reason says that it isolates nothing."""
        return Probe(self.name, True, "runs anywhere but ISOLATES NOTHING (the worker's uid, files and network); "
                                      "used only with ISSUESMITH_ALLOW_UNSANDBOXED=1")

    def run(self, command: str, workdir: Path, limits: Limits, *, network: bool = False,
            redactor: Callable[[str], str] = unchanged, env: Mapping[str, str] | None = None,
            home: Path | None = None) -> CommandResult:
        """Run `command` with `run_command` (the network stays); the result says it was not isolated."""
        log.warning("running a command unsandboxed: nothing is isolated", extra={"command": command[:200]})
        index = self.trust.env(bundle=False) if network else {}  # the host's own CA configuration applies here
        homes = {"HOME": str(home), "PATH": f"{home}/.local/bin:{sandbox_path()}"} if home is not None else {}
        extra = {**(env or {}), **index, **homes}
        result = run_command(command, workdir, limits, redactor, extra)
        return dataclasses.replace(result, backend=self.name, isolated=False, notes=(warning(),))
