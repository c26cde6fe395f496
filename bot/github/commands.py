"""Slash commands that people write in issue comments: `/approve`, `/revise`, `/cancel`, `/retry`, `/status`.

A command is the first non-blank line of a comment, starting with `/word`. Anything else,
including unknown `/words` and commands quoted further down, is not a command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EDITED_COMMAND = "edited"
"""What intake gets for a command comment edited into a command again (not run; its args: the new command)."""
KNOWN = ("approve", "revise", "cancel", "retry", "status")
_COMMAND = re.compile(r"^/(?P<name>[a-z]+)(?:\s+(?P<rest>.*))?$", re.S)
_VERSION = re.compile(r"^v?(?P<version>\d+)$")


@dataclass(frozen=True)
class Command:
    """A parsed command: its name and the text after it (may span lines, for `/revise`)."""

    name: str
    args: str = ""

    def plan_version(self) -> int | None:
        """For `/approve v2` or `/approve 2`: the plan version named, else None."""
        match = _VERSION.match(self.args.strip())
        return int(match["version"]) if match else None


def parse_command(body: str | None) -> Command | None:
    """Return the command a comment body starts with, or None when it is not one of ours."""
    if not body:
        return None
    text = body.replace("\r\n", "\n").lstrip()
    match = _COMMAND.match(text)
    if match is None or match["name"] not in KNOWN:
        return None
    return Command(match["name"], (match["rest"] or "").strip())


def looks_like_command(body: str | None) -> bool:
    """A cheap pre-check for the web path: does the body start with one of our commands?"""
    return parse_command(body) is not None
