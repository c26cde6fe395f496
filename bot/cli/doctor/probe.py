"""`issuesmith doctor --probe-model`: what the configured model server does with the requests the agents send.

A few tiny chat requests, built the way `bot.models` builds them: the answer asked for as strict
`json_schema` and as JSON mode (`bot.models.formats.request_format`), and a turn offering one tool
(with `tool_choice: auto`, as the client sends it). Each reply is read the way the client reads it.
From what came back the report says which `ISSUESMITH_STRUCTURED_OUTPUT` to use, whether the
server returns tool calls (without them the agents cannot read or edit files), and whether it
reports token usage (the run's budgets count what the server reports).

Opt-in, since it spends a few hundred tokens and a local model may take seconds per request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import openai
from pydantic import BaseModel

from bot.cli.doctor.remote import PUBLIC_OPENAI, unreachable
from bot.cli.doctor.result import Check, fail, ok, warn
from bot.config.settings import Settings
from bot.models.client import Tool
from bot.models.formats import JSON, SCHEMA, refuses_format, request_format
from bot.models.parsing import parse_answer
from bot.models.sampling import Sampling

PROBE_OUTPUT_TOKENS = 96
QUESTION = "Is the sky blue on a clear day? Answer yes or no."
TOOL_QUESTION = "Record the answer 'yes' by calling the record_answer tool. Do not reply with text."
SERVER_TOOL_HINTS = ("llama-cpp-python: start it with `--chat_format chatml-function-calling`; vLLM: "
                     "`--enable-auto-tool-choice --tool-call-parser <the model's parser>`; Ollama: a model "
                     "with the tools capability")


class ProbeAnswer(BaseModel):
    """The answer the probe asks for."""

    answer: str


RECORD = Tool("record_answer", "Record the answer to the user's question.", ProbeAnswer, run=lambda _: "")


@dataclass(frozen=True)
class Outcome:
    """What one probe request came to: refused (with the server's words), a reply, or no answer."""

    refused: str = ""  # the server refused the response format, in its words
    failed: str = ""  # the request failed otherwise (another error, no answer)
    problem: str = ""  # the reply was not what was asked for
    tool_calls: tuple[tuple[str, str], ...] = ()  # (name, arguments) of each returned call
    usage: tuple[int, int] | None = None  # (prompt, completion) tokens reported

    @property
    def works(self) -> bool:
        """Whether the request was accepted and answered as asked."""
        return not (self.refused or self.failed or self.problem)


class Prober:
    """Sends the probe requests to one endpoint and model."""

    def __init__(self, settings: Settings, timeout: float) -> None:
        """A client with no retries: a refusal or a slow server is reported, not waited out."""
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "unused"
        self.base = settings.openai_base_url or PUBLIC_OPENAI
        self.timeout = timeout
        self.client = openai.OpenAI(api_key=key, base_url=self.base, timeout=timeout, max_retries=0)
        sampling = Sampling.for_endpoint(settings.openai_base_url, PROBE_OUTPUT_TOKENS, settings.model_temperature)
        self.request: dict[str, Any] = {"model": settings.model, **sampling.params()}

    def answer(self, way: str) -> Outcome:
        """Ask for a `ProbeAnswer` with the response format `way` (json_schema or json_object)."""
        messages = [{"role": "user", "content": QUESTION}]
        request = request_format(way, {**self.request, "messages": messages}, ProbeAnswer)
        return self._send(request, lambda message: parse_answer(ProbeAnswer, message.content)[1])

    def tools(self) -> Outcome:
        """Offer one tool the way a tool turn of the agents does, and ask the model to call it."""
        messages = [{"role": "user", "content": TOOL_QUESTION}]
        request = {**self.request, "messages": messages, "tools": [RECORD.spec()], "tool_choice": "auto"}
        return self._send(request, _tool_problem)

    def _send(self, request: dict[str, Any], problem_of: Any) -> Outcome:
        try:
            response = self.client.chat.completions.create(**request)
        except openai.APIStatusError as exc:
            said = f"{exc.status_code}: {_message(exc)}"
            return Outcome(refused=said) if refuses_format(exc) else Outcome(failed=f"the server answered {said}")
        except openai.APIConnectionError as exc:
            return Outcome(failed=unreachable(exc, self.timeout))
        message = response.choices[0].message
        calls = tuple((c.function.name, c.function.arguments) for c in message.tool_calls or [])
        return Outcome(problem=problem_of(message), tool_calls=calls, usage=_usage(response))


def probe_model(settings: Settings, timeout: float) -> list[Check]:
    """The capability lines: structured output, tool calls and usage; the settings each one asks for."""
    prober = Prober(settings, timeout)
    with prober.client:
        schema, json_mode, tools = prober.answer(SCHEMA), prober.answer(JSON), prober.tools()
    return [structured_check(schema, json_mode), tools_check(tools),
            usage_check(schema, json_mode, tools)]


def structured_check(schema: Outcome, json_mode: Outcome) -> Check:
    """Which ISSUESMITH_STRUCTURED_OUTPUT suits the server, from its answers to the two formats.

    The setting follows from what the server accepts; whether the model then answered with the
    JSON asked for decides between ✓ and a warning about the model.
    """
    name = "model structured output"
    seen = f"json_schema: {_said(schema)}; json_object: {_said(json_mode)}"
    if schema.failed and json_mode.failed:
        return fail(name, f"the probe requests failed: {schema.failed}", "check the model server and its log", seen)
    if not (schema.refused or schema.failed):
        setting, used = "ISSUESMITH_STRUCTURED_OUTPUT=auto (the default) asks with strict json_schema", schema
    elif not (json_mode.refused or json_mode.failed):
        setting = ("json_schema is refused, JSON mode is accepted: set ISSUESMITH_STRUCTURED_OUTPUT=json (auto "
                   "steps down to it too, after a refused request per worker)")
        used = json_mode
    else:
        return warn(name, "the server accepts neither response format", "set ISSUESMITH_STRUCTURED_OUTPUT=text: "
                    "the schema then goes in the prompt and the reply is read tolerantly", seen)
    if used.works:
        return ok(name, setting, seen)
    return warn(name, f"{setting}; but the model did not answer with the JSON asked for",
                "a small or base model answers poorly even when held to a format; try a stronger ISSUESMITH_MODEL "
                "(invalid replies are sent back with the error, a bounded number of times)", seen)


def tools_check(tools: Outcome) -> Check:
    """Whether the server returns tool calls: the Planner's reads and the Coder's edits are tool calls."""
    name = "model tool calls"
    if tools.refused or tools.failed:
        return fail(name, f"a request offering tools failed ({tools.refused or tools.failed})",
                    f"the agents need tool calls: {SERVER_TOOL_HINTS}")
    if not tools.tool_calls:
        return warn(name, f"the model answered without a tool call ({tools.problem})",
                    f"the agents then cannot read or edit files; {SERVER_TOOL_HINTS}; or a stronger model")
    shown = ", ".join(f"{n}({a[:80]})" for n, a in tools.tool_calls)
    if tools.problem:
        return warn(name, f"tool calls come back, but not as asked: {tools.problem}; got {shown}",
                    "a weak model calls tools poorly; the agents send invalid calls back with the error")
    return ok(name, f"tool calls come back: {shown}")


def usage_check(*outcomes: Outcome) -> Check:
    """Whether the replies report token usage, which the run's budgets and the cost shown rely on."""
    reported = [o.usage for o in outcomes if o.usage is not None]
    answered = [o for o in outcomes if not (o.refused or o.failed)]
    if reported and all(p > 0 and c > 0 for p, c in reported):
        totals = ", ".join(f"{p}+{c}" for p, c in reported)
        return ok("model usage", f"every reply reports its tokens (prompt+completion: {totals})")
    if not answered:
        return warn("model usage", "no request was answered, so usage could not be seen", "see the lines above")
    return warn("model usage", f"{len(answered) - len(reported)} of {len(answered)} replies report no token usage",
                "the run's token and dollar budgets (ISSUESMITH_RUN_BUDGET_*) then count estimates only; "
                "use a server that returns `usage`")


def _tool_problem(message: Any) -> str:
    """Why a reply to the tool request is not a well-formed call of record_answer ("" when it is)."""
    calls = message.tool_calls or []
    if not calls:
        return f"it replied with text: {(message.content or '(nothing)')[:120]!r}"
    first = calls[0].function
    if first.name != RECORD.name:
        return f"it called {first.name!r}, not {RECORD.name!r}"
    try:
        ProbeAnswer.model_validate(json.loads(first.arguments or ""))
    except ValueError as exc:
        return f"its arguments are not a valid record_answer call ({str(exc).splitlines()[0][:120]})"
    return ""


def _usage(response: Any) -> tuple[int, int] | None:
    usage = getattr(response, "usage", None)
    if usage is None:
        return None
    return int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0) or 0)


def _said(outcome: Outcome) -> str:
    if outcome.refused:
        return f"refused ({outcome.refused[:200]})"
    if outcome.failed:
        return f"failed ({outcome.failed[:200]})"
    return f"answered, but {outcome.problem[:200]}" if outcome.problem else "works"


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    inner = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(inner, dict) and inner.get("message"):
        return " ".join(str(inner["message"]).split())[:300]
    return " ".join(str(inner or exc.message).split())[:300]
