"""How a structured answer is asked for, and stepping down when the server refuses that way.

Three ways, strongest first: `json_schema` (strict structured output), `json_object` (JSON
mode, the schema in the prompt) and `text` (no `response_format` at all, the schema in the
prompt; the answer is read tolerantly either way, `bot.models.parsing`). Servers refuse the
stronger ways in their own words and with their own status codes:

- llama.cpp's server (before #9527) answered 500 `response_format type must be one of "text"
  or "json_object", but got: json_schema` (ggml-org/llama.cpp#9522); llama-cpp-python's server
  answers 500 to `json_schema` too (ggml-org/llama.cpp#23463; issue 15 saw "Input should be
  'text' or 'json_object'");
- LM Studio refuses JSON mode itself: 400 `{"error": "'response_format.type' must be
  'json_schema' or 'text'"}` (lmstudio-ai/lmstudio-bug-tracker#189, #307);
- llama.cpp speaks of grammars: "Either \"json_schema\" or \"grammar\" can be specified, but
  not both" (ggml-org/llama.cpp#11847).

So any 4xx or 5xx whose text mentions the response format steps down one way, and the
client keeps the weaker way for the rest of its life (all its per-run copies share one
`Formats`). `ISSUESMITH_STRUCTURED_OUTPUT=json_schema` pins the strongest way (a refusal is
raised); `json` starts at JSON mode and `text` asks without any format.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import openai
from pydantic import BaseModel

from bot.models.schema import strict_schema

SCHEMA, JSON, TEXT = "json_schema", "json_object", "text"
WAYS = (SCHEMA, JSON, TEXT)
START = {"auto": SCHEMA, "json_schema": SCHEMA, "json": JSON, "text": TEXT}
MENTIONS = ("response_format", "json_schema", "json_object", "grammar", "structured output", "guided")


def refuses_format(exc: Exception) -> bool:
    """Whether an error answer (any 4xx or 5xx) is about the response format we asked for."""
    if not isinstance(exc, openai.APIStatusError):
        return False
    said = f"{exc} {exc.body}".lower()  # the SDK's text has only an OpenAI-shaped message; LM Studio sends a string
    return any(word in said for word in MENTIONS)


class Formats:
    """The way answers are asked for at one endpoint; refusals step it down, for good."""

    def __init__(self, mode: str = "auto") -> None:
        """`mode` is ISSUESMITH_STRUCTURED_OUTPUT: auto, json_schema (pinned), json or text."""
        self.pinned = mode == "json_schema"
        self.current = START[mode]
        self._lock = threading.Lock()

    def step_down(self, refused: str) -> str | None:
        """The way to ask now that `refused` was refused (remembered), or None: nothing weaker to try."""
        with self._lock:
            if self.pinned or refused == TEXT:
                return None
            weaker = WAYS[WAYS.index(refused) + 1]
            if WAYS.index(self.current) < WAYS.index(weaker):
                self.current = weaker
            return self.current


def request_format(way: str, request: dict[str, Any], output: type[BaseModel]) -> dict[str, Any]:
    """`request` asking for `output` the given way: the `response_format`, or the schema in the prompt."""
    if way == SCHEMA:
        return {**request, "response_format": {"type": "json_schema", "json_schema": {
            "name": output.__name__, "schema": strict_schema(output), "strict": True}}}
    asked = {**request, "messages": with_system_note(request["messages"], schema_instruction(output))}
    return {**asked, "response_format": {"type": "json_object"}} if way == JSON else asked


def schema_instruction(output: type[BaseModel]) -> str:
    """The system message that asks for `output` where no schema is enforced."""
    return ("Answer with one JSON object only, no prose, matching this JSON schema:\n"
            + json.dumps(output.model_json_schema(), indent=None))


def finish_note(output: type[BaseModel]) -> str:
    """What a turn with tools adds to the system message: how to give the final answer."""
    return (f"When the work is done, give your final answer by calling `finish` with the {output.__name__} as its "
            "arguments (or reply with only that JSON object, no prose). If the task cannot be done as asked, call "
            "`give_up` with the reason instead of guessing.")


def with_system_note(messages: list[dict[str, Any]], note: str) -> list[dict[str, Any]]:
    """`messages` with `note` added to the first system message (a new first one if there is none).

    Not a system message at the end: some chat templates accept a system message only first.
    """
    if messages and messages[0].get("role") == "system":
        first, *rest = messages
        return [{**first, "content": f"{first['content']}\n\n{note}"}, *rest]
    return [{"role": "system", "content": note}, *messages]
