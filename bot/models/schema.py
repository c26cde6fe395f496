"""JSON schemas of the pydantic models the agents answer with, in the forms servers accept."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in the form strict structured output accepts."""
    schema = copy.deepcopy(model.model_json_schema())

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
                node["required"] = list(node["properties"])
            node.pop("default", None)
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(schema)
    return schema


FINISH = "finish"
"""The tool a model calls to give its final answer while tools are offered."""


def finish_tool(output: type[BaseModel]) -> dict[str, Any]:
    """The `finish` tool: its arguments are the final answer, `output`'s JSON schema (validated by `output`)."""
    return {"type": "function", "function": {
        "name": FINISH, "description": f"Give your final answer (a {output.__name__}) and end the task.",
        "parameters": output.model_json_schema()}}


GIVE_UP = "give_up"
"""The tool a model calls to stop without an answer, saying why (the run then fails, quoting it)."""


def give_up_tool() -> dict[str, Any]:
    """The `give_up` tool: one `reason`, shown to the people on the issue."""
    return {"type": "function", "function": {
        "name": GIVE_UP,
        "description": "Stop without finishing, when the task cannot be done as asked (say why in `reason`: "
                       "what is missing, contradictory or impossible). The run stops and people read the reason.",
        "parameters": {"type": "object", "properties": {"reason": {
            "type": "string", "description": "Why the task cannot be done, in a few sentences"}},
            "required": ["reason"]}}}
