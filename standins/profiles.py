"""Server profiles for the OpenAI stand-in: how real OpenAI-compatible servers differ from OpenAI.

A :class:`ServerProfile` names the documented ways one server answers differently; give it to
``FakeOpenAI(profile=...)`` (or pick one by name with :func:`profile`). Each behaviour cites where it
is documented or reported:

* ``openai``: the reference behaviour (OpenAI's API description; the stand-in's default).
* ``ollama``: a forced format loses the tool calls (a request with ``tools`` and a
  ``response_format`` gets ``tool_calls`` empty and the format's JSON as content: ollama/ollama#8095);
  only ``max_tokens`` is read as the cap (its OpenAI layer maps only ``max_tokens`` to ``num_predict``:
  ollama/ollama#14464); the prompt is cut silently to ``num_ctx`` tokens (4k by default below 24 GiB
  of VRAM: ollama docs/context-length.mdx; only the server log says "truncating input prompt":
  ollama/ollama#299, #3839), so the usage reports no more than ``num_ctx`` prompt tokens.
* ``vllm``: a request whose prompt plus output cap exceeds ``--max-model-len`` is refused with 400
  "This model's maximum context length is N tokens. However, you requested M tokens (P in the
  messages, C in the completion). ..." (vllm-project/vllm#20409).
* ``llamacpp``: llama-cpp-python's server answers 500 to ``json_schema`` ("Input should be 'text' or
  'json_object'": ggml-org/llama.cpp#23463, seen in issue 15) and ignores ``max_completion_tokens``
  (abetlen/llama-cpp-python#1907; llama.cpp's own server read it only from ggml-org/llama.cpp#19831).
* ``lmstudio``: JSON mode refused with 400 and a bare-string body "'response_format.type' must be
  'json_schema' or 'text'" (lmstudio-ai/lmstudio-bug-tracker#189, #307).

Variants for what a default setup can hit: ``ollama-small-ctx`` (``num_ctx`` 2048, Ollama's default
before the VRAM-based one: the demo's prompts are cut), ``vllm-short`` (``--max-model-len 4096``, too
short for the default 4,096-token output cap), ``ollama-text-tools`` (tool calls come back as a bare
JSON object in ``content`` with ``tool_calls`` null, as qwen2.5-coder does under Ollama:
ollama/ollama#12174) and ``no-usage`` (no ``usage`` object at all: LostRuins/koboldcpp#603,
triton-inference-server/server#8194).

Each profile also carries the issuesmith ``settings`` (environment) that server needs, the same ones the
README's model section names: an input window plus output cap within the server's context (vLLM refuses a
longer request, Ollama cuts it silently), and JSON mode where ``json_schema`` is refused. A profile that
needs none has none; ``ollama-small-ctx`` cannot hold the demo's prompts with any output cap (the remedy
is the server's ``num_ctx``), so its settings make the run stop saying so instead of being cut.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from standins.formats import LLAMA_CPP_PYTHON_REFUSAL, LM_STUDIO_REFUSAL, FormatRefusal

__all__ = ["PROFILES", "ServerProfile", "profile"]


@dataclass(frozen=True)
class ServerProfile:
    """How one OpenAI-compatible server deviates from OpenAI (every field's default is OpenAI's way)."""

    name: str
    source: str = "OpenAI's API description"
    refused_formats: Mapping[str, FormatRefusal] = field(default_factory=dict)
    tools_lost_with_format: bool = False  # tools + response_format: tool_calls dropped, JSON content instead
    reads_max_completion_tokens: bool = True  # False: only `max_tokens` caps the output
    max_model_len: int | None = None  # refuse (400) a prompt plus output cap longer than this
    num_ctx: int | None = None  # keep only this many prompt tokens, silently (usage says so)
    usage: bool = True  # False: the response has no `usage` object
    tool_calls_as_text: bool = False  # tool calls come back as JSON text in `content`
    settings: Mapping[str, str] = field(default_factory=dict)  # the issuesmith environment this server needs


def _window(context: int, output: int) -> dict[str, str]:
    """The settings that keep every request within a server's `context` tokens: `output` for the answer, the
    rest for the prompt (`ISSUESMITH_MODEL_MAX_INPUT_TOKENS` + `_MAX_OUTPUT_TOKENS` <= the context)."""
    return {"ISSUESMITH_MODEL_MAX_INPUT_TOKENS": str(context - output),
            "ISSUESMITH_MODEL_MAX_OUTPUT_TOKENS": str(output)}


PROFILES: dict[str, ServerProfile] = {p.name: p for p in (
    ServerProfile("openai"),
    ServerProfile("ollama", "ollama/ollama#8095, #14464, #299, #3839; docs/context-length.mdx",
                  tools_lost_with_format=True, reads_max_completion_tokens=False, num_ctx=4096,
                  settings=_window(4096, output=1024)),
    ServerProfile("vllm", "vllm-project/vllm#20409", max_model_len=32_768, settings=_window(32_768, output=4096)),
    ServerProfile("llamacpp", "ggml-org/llama.cpp#23463; abetlen/llama-cpp-python#1907",
                  refused_formats=LLAMA_CPP_PYTHON_REFUSAL, reads_max_completion_tokens=False,
                  settings={"ISSUESMITH_STRUCTURED_OUTPUT": "json"}),
    ServerProfile("lmstudio", "lmstudio-ai/lmstudio-bug-tracker#189, #307", refused_formats=LM_STUDIO_REFUSAL),
    ServerProfile("ollama-small-ctx", "ollama/ollama#299, #3839 (num_ctx 2048, the old default)",
                  tools_lost_with_format=True, reads_max_completion_tokens=False, num_ctx=2048,
                  settings=_window(2048, output=512)),
    ServerProfile("vllm-short", "vllm-project/vllm#20409 (--max-model-len 4096)", max_model_len=4096,
                  settings=_window(4096, output=1024)),
    ServerProfile("ollama-text-tools", "ollama/ollama#12174 (qwen2.5-coder)", tools_lost_with_format=True,
                  reads_max_completion_tokens=False, num_ctx=32_768, tool_calls_as_text=True,
                  settings=_window(32_768, output=4096)),
    ServerProfile("no-usage", "LostRuins/koboldcpp#603; triton-inference-server/server#8194", usage=False),
)}
"""Every named profile; the first five are the servers, the rest their commonly met settings."""

SERVERS = ("openai", "ollama", "vllm", "llamacpp", "lmstudio")


def profile(name: str) -> ServerProfile:
    """The profile called `name`; `KeyError` names the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"no server profile {name!r}; known: {', '.join(PROFILES)}") from None
