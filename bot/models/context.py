"""Keeping a tool loop's conversation inside the model's input window.

The estimate is cheap and tokenizer-free: the characters of the JSON the request carries (messages
and tool schemas) divided by four (`bot.localize.text.estimate_tokens`). That is close for English
and JSON; code and non-Latin text take more tokens per character, so the window setting should
leave some room below the server's real one.

Before every call the history is fitted (`fit`), from the cheapest loss to the dearest:

1. always: a tool output longer than `MAX_TOOL_OUTPUT_CHARS` keeps its head and tail with a note
   (`cap_output`, applied when the output is added);
2. always, outside the last `KEEP_TURNS` turns: a view of a file that was viewed again or changed
   later is replaced by a one-line note (what it showed is stale or shown again);
3. only when the estimate is still over the window: every tool output outside the last
   `KEEP_TURNS` turns becomes a one-line note ("[output of view_file a.py lines 1-200 elided; 183 lines]").

The messages before the first assistant message (the system prompt and the task: issue, plan)
and the last `KEEP_TURNS` turns are never changed. If the conversation still does not fit,
`ContextOverflow` is raised. The full history is kept by the caller; only what is sent is trimmed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.errors import ContextOverflow
from bot.localize.text import estimate_tokens

KEEP_TURNS = 5
"""Assistant turns at the end of the conversation (with their tool outputs) that are never trimmed."""
MAX_TOOL_OUTPUT_CHARS = 12_000
"""A tool output longer than this keeps its first two thirds and last third of this many characters."""
VIEWS = frozenset({"view_file", "read_file"})
EDITS = frozenset({"replace_text", "create_file", "delete_file", "write_file"})


def estimate(messages: list[dict[str, Any]], specs: list[dict[str, Any]]) -> int:
    """The estimated prompt tokens of a request: its messages and tool schemas, about four characters a token."""
    return estimate_tokens(json.dumps(messages)) + (estimate_tokens(json.dumps(specs)) if specs else 0)


def text_estimate(messages: list[dict[str, Any]]) -> int:
    """A floor of the prompt tokens of `messages`: only their text (contents, tool names and arguments), no
    JSON around it and no tool schemas, about four characters a token. What silent truncation is judged by."""
    parts: list[str] = []
    for message in messages:
        parts.append(str(message.get("content") or ""))
        parts += [call["function"]["name"] + call["function"]["arguments"] for call in message.get("tool_calls") or []]
    return estimate_tokens("".join(parts))


def cap_output(text: str, limit: int = MAX_TOOL_OUTPUT_CHARS) -> str:
    """`text` within `limit` characters: its head and tail, with a note saying how much was left out."""
    if len(text) <= limit:
        return text
    head, tail = text[: limit * 2 // 3], text[-(limit // 3):]
    cut = text[len(head): len(text) - len(tail)]
    note = (f"\n[... {len(cut):,} characters ({cut.count(chr(10)):,} lines) left out here; "
            "ask for a smaller part (view_file with start_line/end_line, a narrower search) ...]\n")
    return head + note + tail


@dataclass(frozen=True)
class _Call:
    """One tool call of the history: where its output is, what it was, and the path it read or wrote."""

    index: int  # of the tool message holding its output
    name: str
    arguments: dict[str, Any]
    turn: int  # the assistant turn it belongs to (0 = first)

    @property
    def path(self) -> str:
        value = self.arguments.get("path")
        return value.strip().removeprefix("./") if isinstance(value, str) else ""

    def label(self) -> str:
        """What the call was, in a few words: `view_file a.py lines 1-200`."""
        args, words = self.arguments, [self.name]
        if self.path:
            words.append(self.path)
        if "start_line" in args or "end_line" in args:
            words.append(f"lines {args.get('start_line', 1)}-{args.get('end_line', 'end')}")
        if isinstance(args.get("query"), str):
            words.append(json.dumps(args["query"][:60]))
        return " ".join(words)


def fit(messages: list[dict[str, Any]], specs: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], int]:
    """`messages` trimmed as the module docstring says, and their estimate; raises `ContextOverflow`."""
    calls = _calls(messages)
    last_turn = max((c.turn for c in calls), default=-1)
    old = [c for c in calls if c.turn <= last_turn - KEEP_TURNS]
    fitted = _elide(messages, [c for c in old if _superseded(c, calls)], "was viewed again or changed later")
    tokens = estimate(fitted, specs)
    if tokens > limit:
        fitted = _elide(fitted, old, "")
        tokens = estimate(fitted, specs)
    if tokens > limit:
        raise ContextOverflow(
            f"the conversation needs about {tokens:,} prompt tokens, more than the model's input window of "
            f"{limit:,} (ISSUESMITH_MODEL_MAX_INPUT_TOKENS), even with old tool outputs left out",
            hint="raise ISSUESMITH_MODEL_MAX_INPUT_TOKENS if the model's server allows it, or narrow the plan "
                 "(fewer, smaller files), then reply `/retry`")
    return fitted, tokens


def _calls(messages: list[dict[str, Any]]) -> list[_Call]:
    """Every answered tool call, in order, with the turn it belongs to."""
    asked: dict[str, tuple[str, dict[str, Any], int]] = {}
    found: list[_Call] = []
    turn = -1
    for index, message in enumerate(messages):
        if message.get("role") == "assistant":
            turn += 1
            for call in message.get("tool_calls") or []:
                asked[call["id"]] = (call["function"]["name"], _arguments(call["function"]["arguments"]), turn)
        elif message.get("role") == "tool" and message.get("tool_call_id") in asked:
            name, arguments, at = asked[message["tool_call_id"]]
            found.append(_Call(index, name, arguments, at))
    return found


def _arguments(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _superseded(call: _Call, calls: list[_Call]) -> bool:
    """Whether `call` viewed a file that a later call viewed again or changed."""
    if call.name not in VIEWS or not call.path:
        return False
    return any(later.index > call.index and later.path == call.path and later.name in VIEWS | EDITS
               for later in calls)


def _elide(messages: list[dict[str, Any]], calls: list[_Call], why: str) -> list[dict[str, Any]]:
    """`messages` with the outputs of `calls` replaced by one line each (a new list; the originals untouched)."""
    if not calls:
        return messages
    out = list(messages)
    for call in calls:
        content = str(out[call.index].get("content") or "")
        if content.startswith("[output of "):
            continue
        out[call.index] = {**out[call.index], "content": _note(call, content, why)}
    return out


def _note(call: _Call, content: str, why: str) -> str:
    lines = content.count("\n") + 1
    reason = f": {call.path} {why}" if why else ""
    return f"[output of {call.label()} elided{reason}; {lines} lines]"


def usage_counts(usage: Any) -> Mapping[str, int]:
    """The prompt and completion tokens a response reports; 0 for whatever is missing or not a number."""
    def number(name: str) -> int:
        value = getattr(usage, name, None) if usage is not None else None
        return int(value) if isinstance(value, int | float) and value > 0 else 0

    return {"prompt_tokens": number("prompt_tokens"), "completion_tokens": number("completion_tokens")}


CONTEXT_REFUSALS = ("maximum context length", "context_length_exceeded", "exceeds the available context size")
"""How servers say a request is longer than their window: vLLM's 400 "This model's maximum context length is
N tokens. However, you requested M tokens (...)" (vllm-project/vllm#20409), which is OpenAI's own wording (code
`context_length_exceeded`), and llama.cpp's server's "the request exceeds the available context size"."""


def refuses_context(exc: Exception) -> bool:
    """Whether a server's error answer says the request does not fit its context window."""
    said = f"{exc} {getattr(exc, 'body', '')}".lower()
    return any(words in said for words in CONTEXT_REFUSALS)


TRUNCATION_MIN_ESTIMATE = 2_000
"""Prompts estimated below this are not checked for silent truncation (too small to tell)."""
TRUNCATION_RATIO = 0.5
"""A server reporting fewer prompt tokens than this share of the estimate has cut the prompt."""


def cut_by_server(reported: int, estimated: int) -> bool:
    """Whether a server that read `reported` prompt tokens of a prompt whose text is about `estimated` tokens
    (`text_estimate`, a floor) must have cut the prompt.

    A server that reports nothing (0) is not judged: without usage there is nothing to compare.
    """
    return estimated > TRUNCATION_MIN_ESTIMATE and 0 < reported < estimated * TRUNCATION_RATIO
