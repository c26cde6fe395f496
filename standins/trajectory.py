"""A known-good trajectory replayed through the OpenAI stand-in: each agent's replies, in order.

A transcript (`bot.models.replay`: one recorded reply a line, with the agent that asked) becomes
:class:`Reply` objects per agent; :func:`script` queues them in a :class:`FakeOpenAI`, each matched
to its agent's requests by the agent's system prompt ("You are the Coder of issuesmith"), so the
replay goes through the real client, HTTP and the server profile the stand-in plays.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from standins.openai import FakeOpenAI, Reply

Trajectory = dict[str, list[Reply]]
"""Agent (planner, coder, reviewer, tester) → its replies, in the order they are given."""

AGENT_PROMPTS = {agent: f"{agent.capitalize()} of issuesmith" for agent in ("planner", "coder", "reviewer", "tester")}


def load(path: Path) -> Trajectory:
    """The trajectory recorded in the transcript at `path`."""
    trajectory: Trajectory = {agent: [] for agent in AGENT_PROMPTS}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            trajectory.setdefault(entry["agent"], []).append(reply_of(entry))
    return trajectory


def reply_of(entry: dict[str, Any]) -> Reply:
    """One transcript entry as a scripted reply (its recorded usage kept)."""
    message, usage = entry["message"], entry.get("usage") or {}
    counts = (int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
    calls = message.get("tool_calls") or []
    if calls:
        return Reply.tool_calls([(c["name"], c.get("arguments") or "{}") for c in calls], usage=counts)
    content = message.get("content")
    return Reply.text(content if isinstance(content, str) else json.dumps(content), usage=counts)


def script(fake: FakeOpenAI, trajectory: Trajectory) -> None:
    """Queue every agent's replies in `fake`, each matched to its agent's requests."""
    for agent, replies in trajectory.items():
        if replies:
            fake.script(*replies, match=AGENT_PROMPTS[agent])
