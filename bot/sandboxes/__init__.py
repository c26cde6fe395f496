"""The backends that run a repository's commands, and the start-up choice among them.

`choose_backend(...)` returns a `Backend` (bubblewrap, docker, or, only when allowed,
unsandboxed) or raises `SandboxUnavailable`; `probe_all()` says why each backend is or is not
usable here. The shared types and the bounded runner live in `bot.sandboxes.base`; the disk
quota in `diskquota`; reading what a test run reports in `testresults` (the verdict) and
`runneroutput` (each runner's printed summary, TAP's failing tests).

May import: `bot.config`, `bot.runs`, `bot.core`. Must not: import work trees, the model client,
GitHub, the agents, the flow or the web app.
"""

from bot.sandboxes.base import Backend, CommandResult, Limits, Probe, SandboxUnavailable
from bot.sandboxes.bubblewrap import BubblewrapBackend
from bot.sandboxes.choice import choose_backend, probe_all
from bot.sandboxes.docker import DockerBackend
from bot.sandboxes.unsandboxed import UnsandboxedBackend

__all__ = ["Backend", "BubblewrapBackend", "CommandResult", "DockerBackend", "Limits", "Probe", "SandboxUnavailable",
           "UnsandboxedBackend", "choose_backend", "probe_all"]
