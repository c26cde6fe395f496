"""Tool calls a server returned as text: recognised and run as the calls they are.

Some model and server pairs put a tool call in the reply's `content` as JSON, with
`tool_calls` left null: qwen2.5-coder under Ollama writes a bare `{"name": ..., "arguments":
{...}}` that the template's `<tool_call>` parser does not recognise (ollama/ollama#12174), and
Hermes-style templates wrap the same object in `<tool_call>…</tool_call>` tags when the server
does not parse them. Such a reply is read as tool calls when every call names a tool we offered;
anything else (the answer itself, prose) is left as content.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from typing import Any

from openai.types.chat import ChatCompletionMessageToolCall

from bot.models.parsing import json_objects, without_reasoning


def calls_in_text(content: str | None, names: Collection[str]) -> list[tuple[str, str]]:
    """The `(name, arguments JSON)` of the tool calls written as JSON in `content`; empty when there are none."""
    text = without_reasoning(content or "")
    calls: list[tuple[str, str]] = []
    end_of_last = -1
    for start, end in json_objects(text):
        if start < end_of_last:  # nested inside a call already taken
            continue
        value = json.loads(text[start:end])
        call = _call(value, names)
        if call is not None:
            calls.append(call)
            end_of_last = end
    return calls


def _call(value: dict[str, Any], names: Collection[str]) -> tuple[str, str] | None:
    """`value` as a call of one of `names`: `{"name", "arguments"}` (or `parameters`), arguments an object
    or a JSON string of one."""
    name = value.get("name")
    arguments = value.get("arguments", value.get("parameters"))
    if not isinstance(name, str) or name not in names or set(value) - {"name", "arguments", "parameters"}:
        return None
    if isinstance(arguments, str):
        return name, arguments
    if isinstance(arguments, dict):
        return name, json.dumps(arguments)
    return None


def with_text_calls(message: Any, names: Collection[str]) -> Any:
    """`message` with the tool calls its text holds as real ones (and no content), or `message` unchanged."""
    if message.tool_calls:
        return message
    calls = calls_in_text(message.content, names)
    if not calls:
        return message
    made = [ChatCompletionMessageToolCall.model_validate({
        "id": f"call_text_{uuid.uuid4().hex[:16]}", "type": "function",
        "function": {"name": name, "arguments": arguments}}) for name, arguments in calls]
    return message.model_copy(update={"tool_calls": made, "content": None})
