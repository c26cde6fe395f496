"""Replies a run already paid for: kept by the request that got them, given again instead of asking twice.

A job that dies mid-step (a worker killed, stopped, or its machine lost) runs again and resumes at
the step it was in; the step starts over on the same tree, so its agents send the same requests
again, in the same order, up to where the job died. The model is not asked those again: every reply
is kept under the digest of its request (model, messages, tools, tool choice, format) and how many
times the execution has sent it, and a request whose digest is kept gets that reply back, without
spending tokens, budget or time (so a request the flow repeats on purpose, within one execution,
is still asked again). The first request
that differs (the conversation went past where it died, or a test run printed other timings) goes to
the model as before. Replies are kept per run and per attempt (`/retry` asks afresh).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from openai.types.chat import ChatCompletion


def request_digest(request: Mapping[str, Any]) -> str:
    """A digest of everything a request asks: the same request, the same digest (key order aside)."""
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def dumps(response: Any) -> str | None:
    """A reply as kept (None when it cannot be: not the SDK's `ChatCompletion`)."""
    if not isinstance(response, ChatCompletion):
        return None
    return response.model_dump_json()


def loads(text: str) -> ChatCompletion:
    """A kept reply, as the SDK returned it."""
    return ChatCompletion.model_validate_json(text)
