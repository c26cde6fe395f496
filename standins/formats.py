"""How servers refuse a ``response_format`` type: the refusal profiles the OpenAI stand-in can play."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LLAMA_CPP_2024_REFUSAL", "LLAMA_CPP_PYTHON_REFUSAL", "LM_STUDIO_REFUSAL", "FormatRefusal"]


@dataclass(frozen=True)
class FormatRefusal:
    """How a server refuses one ``response_format`` type: its status and its words. ``plain`` bodies are
    ``{"error": "<message>"}`` (LM Studio's shape) instead of OpenAI's error object."""

    status: int
    message: str
    plain: bool = False


LLAMA_CPP_PYTHON_REFUSAL = {  # 500 to json_schema: ggml-org/llama.cpp#23463 (llama-cpp-python 0.3.x), seen in issue 15
    "json_schema": FormatRefusal(
        500, "Input should be 'text' or 'json_object'")
}
LLAMA_CPP_2024_REFUSAL = {  # llama.cpp's server before #9527: ggml-org/llama.cpp#9522
    "json_schema": FormatRefusal(
        500, 'response_format type must be one of "text" or "json_object", but got: json_schema')
}
LM_STUDIO_REFUSAL = {  # JSON mode refused, 400 with a bare string: lmstudio-ai/lmstudio-bug-tracker#189, #307
    "json_object": FormatRefusal(400, "'response_format.type' must be 'json_schema' or 'text'", plain=True)
}
