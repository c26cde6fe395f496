"""Recognising a server's answer that the conversation no longer fits the model's context window.

Each server says it its own way, mostly as a 400:

- OpenAI, vLLM and llama-cpp-python's server: code `context_length_exceeded`, "This model's maximum
  context length is 4096 tokens. However, you requested 4608 tokens (4352 in the messages, 256 in the
  completion)..." (llama-cpp-python rewrites its own "Requested tokens (N) exceed context window of M"
  into that; seen in issue 15 with `--n_ctx` 4096);
- llama.cpp's server: type `exceed_context_size_error`, "the request exceeds the available context
  size, try increasing it";
- vLLM past `--max-model-len`: OpenAI's wording (vllm-project/vllm#20409).

Retrying such a request gives the same answer, so it becomes `ModelContextExceeded`: a final error
whose hint names the server's setting and ours.
"""

from __future__ import annotations

import openai

from bot.core.errors import ModelContextExceeded

MARKERS = ("context_length_exceeded", "maximum context length", "exceed_context_size",
           "exceeds the available context size", "exceed context window")
HINT = ("lower ISSUESMITH_MODEL_MAX_INPUT_TOKENS and ISSUESMITH_MODEL_MAX_OUTPUT_TOKENS so that together they fit "
        "the server's window, or give the model server a larger context window (llama.cpp's server: -c/--ctx-size; "
        "llama-cpp-python: --n_ctx; vLLM: --max-model-len; Ollama: num_ctx), then reply `/retry`")


def context_overflow(exc: Exception, prompt_tokens: int = 0, output_cap: int = 0) -> ModelContextExceeded | None:
    """The named error for a server's 4xx saying the request does not fit the context window, else None.

    `prompt_tokens` (our estimate) and `output_cap` say what was asked, when known.
    """
    if not isinstance(exc, openai.APIStatusError) or not 400 <= exc.status_code < 500:
        return None
    said = f"{exc.message} {exc.body}"
    if not any(marker in said.lower() for marker in MARKERS):
        return None
    asked = (f"a prompt of about {prompt_tokens:,} tokens plus the output cap of {output_cap:,}"
             if prompt_tokens else "the conversation")
    return ModelContextExceeded(f"the model server refused {asked}: it is longer than the server's context window "
                                f"(the server said: {_message(exc)})", hint=HINT)


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    inner = body.get("error", body) if isinstance(body, dict) else body
    text = inner.get("message") if isinstance(inner, dict) else inner
    return " ".join(str(text or exc.message).split())[:300]
