"""Reading a final answer out of what a model actually says.

Models asked for "one JSON object" often say more: reasoning models put a `<think>…</think>`
block first (DeepSeek-R1 and its distills, Qwen3, QwQ); when the chat template opens that
block in the prompt, the reply holds only its end (`…</think>`); small models wrap the object
in a ``` fence, put prose before or after it, show an example object first, or send the object
encoded twice (a JSON string holding it). `parse_answer`
drops the reasoning, then tries every `{` in order with `json.JSONDecoder.raw_decode` and
returns the first complete object that validates as the expected pydantic model. When none does
and the reply is itself a JSON object that does not decode (cut off by a stop word or the output
cap), the problem given back is that, not the errors of some object nested inside it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import TypeVar

from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)

_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.S | re.I)
_THINK_END = re.compile(r"</think>", re.I)
_THINK_OPEN = re.compile(r"<think>", re.I)
_DECODER = json.JSONDecoder()


def without_reasoning(text: str) -> str:
    """`text` without its `<think>` blocks: closed ones, an end whose start was in the prompt, an unclosed start."""
    text = _THINK_BLOCK.sub("", text)
    ends = list(_THINK_END.finditer(text))
    if ends:  # the template opened the block: everything before its end is reasoning
        text = text[ends[-1].end():]
    return _THINK_OPEN.sub("", text)  # never closed: keep what follows, the answer may be in it


def json_objects(text: str) -> Iterator[tuple[int, int]]:
    """The spans of the complete JSON objects in `text`, in order, outermost first where they nest."""
    start = text.find("{")
    while start != -1:
        try:
            value, end = _DECODER.raw_decode(text, start)
        except ValueError:
            value, end = None, start
        if isinstance(value, dict):
            yield start, end
        start = text.find("{", start + 1)


def parse_answer(output: type[T], content: str | None) -> tuple[T | None, str]:
    """The first JSON object in `content` that validates as `output`, or None and why none does."""
    text = _unquoted(without_reasoning(content or "").strip())
    if not text:
        return None, "the reply was empty" + (" apart from its reasoning" if (content or "").strip() else "")
    first_problem = ""
    for start, end in json_objects(text):
        try:
            return output.model_validate_json(text[start:end]), ""
        except ValidationError as exc:
            first_problem = first_problem or short_problem(exc)
    broken = _broken_object(text)
    if broken:  # not the errors of an object nested in it, which say nothing of what went wrong
        return None, broken
    if first_problem:
        return None, first_problem
    return None, "the reply holds no complete JSON object" + (
        " (it looks cut off)" if "{" in text else "")


def _broken_object(text: str) -> str:
    """Why `text`, which is a JSON object from its first character, does not decode as one ("" when it does,
    or when it does not start with `{`). A small model's tool arguments stop mid-string (issue 15)."""
    if not text.startswith("{"):
        return ""
    try:
        _DECODER.raw_decode(text)
    except json.JSONDecodeError as exc:
        where = f"{exc.msg}, at character {exc.pos} of {len(text)}"
        if exc.pos >= len(text) - 1 or exc.msg.startswith("Unterminated"):
            return f"the reply holds no complete JSON object (it looks cut off: {where})"
        return f"the reply's JSON object is not valid JSON ({where})"
    return ""


def _unquoted(text: str) -> str:
    """`text`, or the string it is the JSON of: small models send an object encoded twice, as a JSON string."""
    if not text.startswith('"'):
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value.strip() if isinstance(value, str) else text


def short_problem(exc: ValidationError) -> str:
    """The first few validation errors of `exc`, each as `field.path: message`."""
    problems = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()[:5]]
    return "; ".join(problems)
