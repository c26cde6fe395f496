"""Model providers that read and write transcripts: replay a recorded run, record a live one.

A transcript is a JSON Lines file, one model reply a line, in the order they were given:

    {"agent": "coder", "message": {"content": null, "tool_calls": [{"name": "view_file",
     "arguments": "{\"path\": \"a.py\"}"}]}, "usage": {"prompt_tokens": 900, "completion_tokens": 80}}

A recorded line also keeps the reply's `finish_reason` (`length` when it was cut off at the
output cap); without one, a reply with tool calls finished with `tool_calls`, else `stop`.

`agent` is who asked (planner, coder, reviewer, tester: read from the first line of the
request's system prompt, "You are the Coder of issuesmith..."). On replay each request gets
the next unused reply recorded for its agent, so the order of the agents' calls may differ
from the recording, but each agent's own conversation replays in order. A request with no
reply left fails with `ConfigError` naming the agent: the run stops and says so.

`ReplayModel.create` and `Recorder.create` have the signature of the OpenAI SDK's
`chat.completions.create` and return the SDK's own `ChatCompletion`, so `bot.models.client.ModelClient`
cannot tell them from a live endpoint. The demo ships a transcript made for its sample
repository and issue; `ISSUESMITH_RECORD_TRANSCRIPT` records a live run for replay when
debugging.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openai.types.chat import ChatCompletion

from bot.core.errors import ConfigError

_AGENT = re.compile(r"You are the (\w+) of issuesmith")
FINISH_REASONS = ("stop", "length", "tool_calls", "content_filter", "function_call")


def agent_of(request: dict[str, Any]) -> str:
    """Which agent sent a chat request: from its first system message (`unknown` when none says)."""
    for message in request.get("messages", []):
        if message.get("role") == "system":
            found = _AGENT.search(str(message.get("content") or ""))
            return found.group(1).lower() if found else "unknown"
    return "unknown"


def load(path: Path) -> list[dict[str, Any]]:
    """The entries of a transcript file; `ConfigError` says which line is wrong and why."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read the model transcript {path}: {exc.strerror or exc}",
                          hint="set ISSUESMITH_REPLAY_TRANSCRIPT to a transcript file") from exc
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry.get("agent"), str) or not isinstance(entry.get("message"), dict):
                raise ValueError("each line needs an `agent` string and a `message` object")
        except (ValueError, AttributeError) as exc:
            raise ConfigError(f"the model transcript {path} is malformed at line {number}: {exc}") from exc
        entries.append(entry)
    return entries


class ReplayModel:
    """Answers chat requests from a transcript instead of a model."""

    def __init__(self, entries: list[dict[str, Any]], source: str = "transcript") -> None:
        self.source = source
        self._queues: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            self._queues.setdefault(entry["agent"], []).append(entry)
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: Path) -> ReplayModel:
        """A replay of the transcript at `path`."""
        return cls(load(path), source=str(path))

    def create(self, **request: Any) -> ChatCompletion:
        """The next recorded reply for the agent that sent `request`, as the SDK would return it."""
        agent = agent_of(request)
        with self._lock:
            queue = self._queues.get(agent, [])
            if not queue:
                raise ConfigError(f"the model transcript {self.source} has no reply left for the {agent}",
                                  hint="the run asked for more than was recorded: record a new transcript")
            entry = queue.pop(0)
        return completion(entry, request.get("model", "replay"))

    def remaining(self) -> dict[str, int]:
        """How many replies are left, by agent."""
        with self._lock:
            return {agent: len(queue) for agent, queue in self._queues.items() if queue}


class Recorder:
    """Wraps a live `create` and appends every reply to a transcript file."""

    def __init__(self, create: Callable[..., Any], path: Path) -> None:
        self._create = create
        self.path = path
        self._lock = threading.Lock()

    def create(self, **request: Any) -> Any:
        """Call the live endpoint, record its reply, return it unchanged."""
        response = self._create(**request)
        choice = response.choices[0]
        message = choice.message
        usage = response.usage
        entry = {"agent": agent_of(request), "message": {
            "content": message.content,
            "tool_calls": [{"name": c.function.name, "arguments": c.function.arguments}
                           for c in message.tool_calls or []]},
            "finish_reason": choice.finish_reason,
            "usage": {"prompt_tokens": getattr(usage, "prompt_tokens", 0) or 0,
                      "completion_tokens": getattr(usage, "completion_tokens", 0) or 0}}
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(entry) + "\n")
        return response


def completion(entry: dict[str, Any], model: str) -> ChatCompletion:
    """A transcript entry as the SDK's `ChatCompletion`."""
    message = entry["message"]
    calls = [{"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
              "function": {"name": c["name"], "arguments": c.get("arguments") or "{}"}}
             for c in message.get("tool_calls") or []]
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        content = json.dumps(content)
    usage = entry.get("usage") or {}
    prompt, completion_tokens = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    return ChatCompletion.model_validate({
        "id": f"chatcmpl-replay-{uuid.uuid4().hex[:16]}", "object": "chat.completion", "created": int(time.time()),
        "model": model, "choices": [{"index": 0, "finish_reason": _finish_reason(entry, bool(calls)),
                                     "message": {"role": "assistant", "content": content,
                                                 "tool_calls": calls or None, "refusal": None}}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion_tokens,
                  "total_tokens": prompt + completion_tokens}})


def _finish_reason(entry: dict[str, Any], calls: bool) -> str:
    """The recorded finish reason (`length` for a reply cut off at the output cap), else what the reply implies."""
    recorded = entry.get("finish_reason")
    return recorded if recorded in FINISH_REASONS else ("tool_calls" if calls else "stop")
