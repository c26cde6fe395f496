"""What every chat request carries besides its messages: the output cap and the temperature.

The temperature is sent on every call (default 0: the agents should be repeatable, and
OpenAI's default is 1) unless unset: OpenAI's reasoning models (o-series, gpt-5) answer 400
"Unsupported value: 'temperature' does not support 0 with this model. Only the default (1)
value is supported." (e.g. OpenHands/OpenHands#4131, tmc/langchaingo#1355).

The output cap has two names. OpenAI's API description marks `max_tokens` deprecated in
favour of `max_completion_tokens` and "not compatible with o-series models"
(/work/shared/data/openai-openapi.json, CreateChatCompletionRequest); OpenAI answers 400
"Unsupported parameter: 'max_tokens' is not supported with this model. Use
'max_completion_tokens' instead." for o1/o3/o4-mini (openai/openai-python#2046). The local
servers read only the old name: llama-cpp-python ignores `max_completion_tokens`
(abetlen/llama-cpp-python#1907), llama.cpp's server read it only from early 2026
(ggml-org/llama.cpp#13700, fixed by #19831), and Ollama's OpenAI layer maps only
`max_tokens` to `num_predict` (ollama/ollama#14464 adds the new name, still open). Without
a cap they generate until the request times out. So: `max_completion_tokens` always, and
`max_tokens` too unless the endpoint is OpenAI's own (or Azure OpenAI's), which may refuse it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_OUTPUT_TOKENS = 4096
OPENAI_HOSTS = ("api.openai.com", ".openai.azure.com")


def is_openai(base_url: str | None) -> bool:
    """Whether `base_url` (OPENAI_BASE_URL; None is the SDK's default) is OpenAI's own API or Azure OpenAI's."""
    if base_url is None:
        return True
    host = (urlsplit(base_url).hostname or "").lower()
    return any(host == name or (name.startswith(".") and host.endswith(name)) for name in OPENAI_HOSTS)


@dataclass(frozen=True)
class Sampling:
    """The request parameters the client adds to every call."""

    max_output_tokens: int = DEFAULT_OUTPUT_TOKENS
    legacy_cap: bool = False  # also send `max_tokens` (servers that read only that name)
    temperature: float | None = 0.0  # None: not sent

    @classmethod
    def for_endpoint(cls, base_url: str | None, max_output_tokens: int = DEFAULT_OUTPUT_TOKENS,
                     temperature: float | None = 0.0) -> Sampling:
        """The parameters for the endpoint at `base_url`: both cap names unless it is OpenAI's."""
        return cls(max_output_tokens, legacy_cap=not is_openai(base_url), temperature=temperature)

    def params(self) -> dict[str, Any]:
        """The parameters, as keyword arguments of `chat.completions.create`."""
        cap: dict[str, Any] = {"max_completion_tokens": self.max_output_tokens}
        if self.legacy_cap:
            cap["max_tokens"] = self.max_output_tokens
        return cap if self.temperature is None else {**cap, "temperature": self.temperature}
