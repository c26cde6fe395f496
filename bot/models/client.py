"""One model interface over any OpenAI-compatible endpoint.

`ModelClient.structured()` runs a bounded tool loop and returns a validated pydantic
object. The answer is asked for the strongest way the endpoint accepts (`bot.models.formats`:
strict `json_schema`, else JSON mode, else the schema in the prompt; a refusal is
remembered) and read tolerantly (`bot.models.parsing`: reasoning blocks, fences and prose
around it are skipped); an invalid reply is answered with the validation error, and a reply
cut off at the output cap with that news, each a bounded number of times. Before every call
the history is fitted to the model's input window (`bot.models.context`) and the run's budget is
checked; after it, usage and cost are added to the run and logged, and a server that read far
fewer prompt tokens than were sent (it cut the prompt silently) stops the step.

Every tool turn also offers `give_up`: the agent stops, saying why, and the step fails with
`AgentGaveUp`. Every tool result ends with how many tool calls are left; the same call (tool and
arguments) made `REPEAT_LIMIT` times in a row is answered with a warning, and once more ends the
step (`AgentStuck`).
Rate limits and 5xx are retried by the SDK (honouring `Retry-After`); what still fails
is raised, and `bot.core.errors.is_retryable` decides whether the job runs again.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import openai
from pydantic import BaseModel, ValidationError

from bot.config.pricing import Budget, PriceTable, Share
from bot.core.errors import AgentGaveUp, AgentStuck, ModelOutputInvalid, PromptTruncated
from bot.models import memo
from bot.models.context import (
    cap_output,
    cut_by_server,
    estimate,
    fit,
    text_estimate,
    usage_counts,
)
from bot.models.formats import Formats, finish_note, refuses_format, request_format, with_system_note
from bot.models.overflow import context_overflow
from bot.models.parsing import parse_answer, short_problem
from bot.models.sampling import Sampling
from bot.models.schema import FINISH, GIVE_UP, finish_tool, give_up_tool
from bot.models.textcalls import with_text_calls

T = TypeVar("T", bound=BaseModel)
log = logging.getLogger("issuesmith.llm")
OUTPUT_ATTEMPTS = 3
CUT_OFF_ATTEMPTS = 2  # replies cut off at the output cap, told to be shorter, before the step fails
REPEAT_LIMIT = 3  # the same tool call this many times in a row is warned about; once more ends the step
DEFAULT_INPUT_TOKENS = 32_000
AGENTS = {"plan": "Planner", "code": "Coder", "fix": "Coder", "review": "Reviewer", "test": "Tester"}
"""The agent that speaks in each step (for messages people read)."""


@dataclass(frozen=True)
class Tool:
    """A function the model may call: its schema comes from a pydantic model of its arguments."""

    name: str
    description: str
    arguments: type[BaseModel]
    run: Callable[[Any], str]

    def spec(self) -> dict[str, Any]:
        """The tool as the chat completions API describes it."""
        return {"type": "function", "function": {
            "name": self.name, "description": self.description,
            "parameters": self.arguments.model_json_schema()}}


@dataclass
class _Turns:
    """What is left of one conversation's bounds."""

    tool_calls_left: int
    invalid_left: int = OUTPUT_ATTEMPTS
    cut_left: int = CUT_OFF_ATTEMPTS
    force_finish: bool = False  # the last tool turn was answered with nothing: the next one requires `finish`
    last_call: tuple[str, str] | None = None
    repeats: int = 0

    def repeated(self, name: str, arguments: str) -> int:
        """Count one tool call; how many times in a row this same call (tool, arguments) has now been made."""
        signature = (name, _canonical(arguments))
        self.repeats = self.repeats + 1 if signature == self.last_call else 1
        self.last_call = signature
        return self.repeats


@dataclass
class CallContext:
    """Who is calling: the run (for budget and usage), the step (for the log and the model's role).

    `check`, when given, runs before every model call of a tool loop and raises to stop it
    (the run was cancelled, or the step ran out of time).
    """

    run_id: str
    step: str
    check: Callable[[], None] | None = None
    memo: str = ""
    """Where replies are kept for a resumed job (`bot.models.memo`): the run's attempt; "" keeps none."""
    execution: str = ""
    """The job execution asking: a request sent again within one execution is asked again."""

    @property
    def agent(self) -> str:
        """The agent speaking in this step: Planner, Coder, Reviewer or Tester."""
        return AGENTS.get(self.step, self.step)


class Ledger(Protocol):
    """Where the client reports what it did and reads what the run spent (the run store, in the worker).

    The client only reports back through this: it knows nothing of where runs are kept.
    """

    def log(self, run_id: str, step: str, event: str, **detail: Any) -> None:
        """Record one event of the run's execution log."""

    def usage(self, run_id: str) -> Mapping[str, float]:
        """The run's totals so far: prompt_tokens, completion_tokens, calls, cost_usd."""
        ...

    def add_usage(self, run_id: str, step: str, model: str, prompt_tokens: int, completion_tokens: int,
                  cost_usd: float, **detail: Any) -> None:
        """Add one call to the run's totals and the figures by model, and log it (`model_call`), all at once."""

    def kept_reply(self, run_id: str, memo: str, digest: str) -> str | None:
        """The reply kept for the request with `digest` (`bot.models.memo`), if there is one."""
        ...

    def keep_reply(self, run_id: str, memo: str, digest: str, reply: str) -> None:
        """Keep the reply a request with `digest` got, for a resumed job."""


class ModelClient:
    """Structured calls to one chat model, with tools, budget, usage and cost accounting."""

    def __init__(self, create: Callable[..., Any], model: str, store: Ledger, prices: PriceTable,
                 budget: Budget, structured_output: str = "auto", sampling: Sampling | None = None,
                 max_input_tokens: int = DEFAULT_INPUT_TOKENS) -> None:
        """`create` sends one chat request: the SDK's `client.chat.completions.create`, or a replay's.

        `sampling` is what every request carries besides the messages (the output cap);
        `max_input_tokens` is the model's input window the history is fitted to.
        """
        self._create = create
        self.model = model
        self._store = store
        self._prices = prices
        self._budget = budget
        self._formats = Formats(structured_output)  # shared by the per-run copies: a refusal is remembered
        self._sampling = sampling or Sampling()
        self.max_input_tokens = max_input_tokens
        self._models: Callable[[str], str] = lambda step: model
        self._sent: dict[tuple[str, str, str], int] = {}  # shared by the per-run copies, like `_formats`
        self._sent_lock = threading.Lock()  # concurrent attempts of one run number their requests through it
        self._share: Share | None = None  # a concurrent attempt's part of the run's budget (`within`)

    def for_run(self, models: Callable[[str, str], str], budget: Budget) -> ModelClient:
        """A client for one run: `models(step, default)` picks each step's model; the run's own budget."""
        client = copy.copy(self)
        client._budget = budget
        client._models = lambda step: models(step, self.model)
        return client

    def sampled(self, temperature: float) -> ModelClient:
        """This client, sampling at `temperature` (unless the endpoint takes no temperature: then as it is)."""
        client = copy.copy(self)
        if self._sampling.temperature is not None:
            client._sampling = dataclasses.replace(self._sampling, temperature=temperature)
        return client

    def within(self, share: Share) -> ModelClient:
        """This client, also held to `share` (one of several concurrent attempts' part of the run's budget)."""
        client = copy.copy(self)
        client._share = share
        return client

    def structured(self, ctx: CallContext, messages: list[dict[str, Any]], output: type[T],
                   tools: list[Tool] | None = None, max_tool_calls: int = 0,
                   accept: Callable[[T], str | None] | None = None) -> T:
        """Run the conversation until the model returns a valid `output`; tools are bounded.

        `accept`, when given, judges a valid answer: the problem it returns is sent back like a
        validation error (and counted as one); None accepts it. Tool calls a server returned as
        text in the content are run as tool calls (`bot.models.textcalls`).

        A turn that offers tools offers `finish` (its arguments are the answer) and `give_up` too,
        and never a `response_format` (servers drop or garble tool calls under a forced format); the
        answer may also come as plain content. Only a call without tools (none given, or the bound
        reached: the last tool result said so) asks for the format.
        """
        messages = list(messages)
        turns = _Turns(tool_calls_left=max_tool_calls)
        by_name = {tool.name: tool for tool in tools or []}
        judge = _Judge(output, accept)
        while True:
            if ctx.check is not None:
                ctx.check()
            offered = list(by_name.values()) if turns.tool_calls_left > 0 else []
            choice = self._call(ctx, messages, output, offered, turns.force_finish)
            message = self._text_calls(ctx, choice.message, by_name) if offered else choice.message
            turns.force_finish = False
            if choice.finish_reason == "length" and not _complete_answer(output, message):
                turns.cut_left -= 1
                messages += self._cut_off(ctx, message, turns.cut_left)
            elif message.tool_calls and offered:
                answer = self._tool_turn(ctx, messages, message, by_name, judge, turns)
                if answer is not None:
                    return answer
            else:
                parsed, problem = judge(message.content)
                if parsed is not None:
                    return parsed
                self._invalid(ctx, output, problem, turns)
                turns.force_finish = bool(offered) and not (message.content or "").strip()
                messages.append({"role": "assistant", "content": message.content or ""})
                messages.append({"role": "user", "content": (
                    f"Your reply was not a valid {output.__name__}: {problem}\n"
                    "Reply again with only the JSON object, matching the schema exactly.")})

    def _text_calls(self, ctx: CallContext, message: Any, by_name: dict[str, Tool]) -> Any:
        """`message`, with tool calls written in its text made real ones (logged)."""
        read = with_text_calls(message, {*by_name, FINISH, GIVE_UP})
        if read is not message:
            self._store.log(ctx.run_id, ctx.step, "text_tool_calls", tools=[c.function.name for c in read.tool_calls])
        return read

    def _tool_turn(self, ctx: CallContext, messages: list[dict[str, Any]], message: Any,
                   by_name: dict[str, Tool], judge: _Judge[T], turns: _Turns) -> T | None:
        """Run one reply's tool calls (appending them and their results); the answer if one is a valid `finish`."""
        messages.append(_assistant_tool_message(message))
        answer: T | None = None
        for call in message.tool_calls:
            if call.function.name == GIVE_UP:
                self._store.log(ctx.run_id, ctx.step, "gave_up", reason=call.function.arguments[:2000])
                raise AgentGaveUp(ctx.agent, _reason(call.function.arguments))
            if call.function.name != FINISH:
                messages.append(self._run_tool(ctx, by_name, call, turns))
                continue
            answer, problem = judge(call.function.arguments)
            if answer is None:
                self._invalid(ctx, judge.output, problem, turns)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": "Accepted." if answer else (
                f"Not a valid {judge.output.__name__}: {problem}\nCall {FINISH} again with arguments matching "
                "its schema exactly.")})
        return answer

    def _invalid(self, ctx: CallContext, output: type[BaseModel], problem: str, turns: _Turns) -> None:
        """Count and log an answer that does not validate; raise once that happened too often."""
        turns.invalid_left -= 1
        self._store.log(ctx.run_id, ctx.step, "invalid_output", error=problem, attempts_left=turns.invalid_left)
        if turns.invalid_left <= 0:
            raise ModelOutputInvalid(
                f"the model answered {OUTPUT_ATTEMPTS} times with output that does not validate "
                f"as a {output.__name__}; last problem: {problem}",
                hint="try a stronger model (ISSUESMITH_MODEL) or reply `/retry`")

    def _cut_off(self, ctx: CallContext, message: Any, left: int) -> list[dict[str, Any]]:
        """The messages telling the model its reply hit the output cap; raises once that happened too often."""
        cap = self._sampling.max_output_tokens
        calls = [c.function.name for c in message.tool_calls or []]
        self._store.log(ctx.run_id, ctx.step, "output_cut_off", max_output_tokens=cap, tool_calls=calls,
                        attempts_left=left)
        if left <= 0:
            raise ModelOutputInvalid(
                f"the model's reply was cut off at the output cap of {cap} tokens {CUT_OFF_ATTEMPTS} times",
                hint="raise ISSUESMITH_MODEL_MAX_OUTPUT_TOKENS (if the model allows more) or try another model")
        said = message.content or (f"(my reply was cut off while calling {', '.join(calls)})" if calls
                                   else "(my reply was cut off)")
        return [{"role": "assistant", "content": said}, {"role": "user", "content": (
            f"Your reply was cut off: it reached the output limit of {cap} tokens, so it was lost "
            "(a cut-off tool call was not run). Answer again, shorter: no reasoning or prose around the "
            "answer, and split big work into several smaller tool calls (one edit of a few lines each) "
            "instead of one large one; keep summaries to a few sentences.")}]

    def _run_tool(self, ctx: CallContext, by_name: dict[str, Tool], call: Any, turns: _Turns) -> dict[str, Any]:
        """Run one tool call (bounded, repeats counted); its result, capped, ending with the calls left."""
        name, arguments = call.function.name, call.function.arguments
        repeats = turns.repeated(name, arguments)
        if repeats > REPEAT_LIMIT:
            self._store.log(ctx.run_id, ctx.step, "repeated_call", tool=name, arguments=arguments[:300], times=repeats)
            raise AgentStuck(f"the {ctx.agent} made the same call ({name} with the same arguments) {repeats} times in "
                             "a row, and once more after being told that it repeated itself",
                             hint="try a stronger model (ISSUESMITH_MODEL), or make the issue or plan more "
                                  "specific, then reply `/retry`")
        if turns.tool_calls_left <= 0:
            result = "Tool budget used up: this call was not run. Answer now with the final JSON."
        elif name not in by_name:
            result = f"Unknown tool {name!r}; available: {', '.join(by_name)}."
        else:
            result = cap_output(_invoke(by_name[name], arguments))
        turns.tool_calls_left -= 1
        self._store.log(ctx.run_id, ctx.step, "tool_call", tool=name, arguments=arguments[:300],
                        result_chars=len(result))
        if repeats == REPEAT_LIMIT:
            result += (f"\n\nYou made this same call ({name} with the same arguments) {repeats} times in a row; "
                       "its result will not change. Do something else, or call finish (or give_up). Making it "
                       "once more ends the task as failed.")
        return {"role": "tool", "tool_call_id": call.id, "content": result + _calls_left(turns.tool_calls_left)}

    def _call(self, ctx: CallContext, messages: list[dict[str, Any]], output: type[BaseModel],
              tools: list[Tool], force_finish: bool = False) -> Any:
        """One chat request: with tools (and `finish`) and no format, or without tools asking for the format.

        `tool_choice: auto` is sent with the tools: it is OpenAI's default, but llama-cpp-python's server
        leaves the tools out of the prompt without it (its `chatml-function-calling` format, seen in issue 15).
        After a tool turn answered with nothing at all, `force_finish` names `finish` as the call to make:
        that format returns an empty message whenever its model chooses text over a tool (issue 15).
        """
        model = self._models(ctx.step)
        specs = [tool.spec() for tool in tools] + ([finish_tool(output), give_up_tool()] if tools else [])
        sent = with_system_note(messages, finish_note(output)) if specs else messages
        fitted, tokens = fit(sent, specs, self.max_input_tokens)
        request: dict[str, Any] = {"model": model, "messages": fitted, **self._sampling.params()}
        if specs:
            choice = {"type": "function", "function": {"name": FINISH}} if force_finish else "auto"
            request = {**request, "tools": specs, "tool_choice": choice}
        digest = self._occurrence(ctx, memo.request_digest({**request, "answer": output.__name__}))
        kept = self._kept(ctx, digest)
        if kept is not None:
            return kept.choices[0]
        self._check_budget(ctx, model, tokens)
        started = time.monotonic()
        try:
            response = self._create(**request) if specs else self._create_with_format(ctx, request, output)
        except openai.APIStatusError as exc:
            overflow = context_overflow(exc, tokens, self._sampling.max_output_tokens)
            if overflow is None:
                raise
            raise overflow from exc
        self._record(ctx, model, response, time.monotonic() - started,
                     {"prompt_estimate": tokens, "untrimmed_estimate": estimate(sent, specs),
                      "text_estimate": text_estimate(fitted)})
        self._keep(ctx, digest, response)
        return response.choices[0]

    def _occurrence(self, ctx: CallContext, digest: str) -> str:
        """The digest numbered by how often this execution has sent the request: the n-th time gets the
        reply the n-th time got in an earlier execution, so a request repeated on purpose is asked again."""
        key = (ctx.run_id, ctx.execution + ctx.memo, digest)
        with self._sent_lock:
            self._sent[key] = count = self._sent.get(key, 0) + 1
        return f"{digest}:{count}"

    def _kept(self, ctx: CallContext, digest: str) -> Any:
        """The reply this run already got for the request with `digest` (logged as reused), else None."""
        text = self._store.kept_reply(ctx.run_id, ctx.memo, digest) if ctx.memo else None
        if text is None:
            return None
        self._store.log(ctx.run_id, ctx.step, "model_reply_reused", digest=digest[:16])
        return memo.loads(text)

    def _keep(self, ctx: CallContext, digest: str, response: Any) -> None:
        """Keep the reply for a job that resumes this step (`bot.models.memo`)."""
        text = memo.dumps(response) if ctx.memo else None
        if text is not None:
            self._store.keep_reply(ctx.run_id, ctx.memo, digest, text)

    def _create_with_format(self, ctx: CallContext, request: dict[str, Any], output: type[BaseModel]) -> Any:
        """Send `request` asking for `output` the endpoint's current way; step down when it refuses that way."""
        while True:
            way = self._formats.current
            try:
                return self._create(**request_format(way, request, output))
            except openai.APIStatusError as exc:
                weaker = self._formats.step_down(way) if refuses_format(exc) else None
                if weaker is None:
                    raise
                log.warning("the endpoint refused response_format %s (%s); asking with %s from now on",
                            way, exc.status_code, weaker)
                self._store.log(ctx.run_id, ctx.step, "format_refused", refused=way, status=exc.status_code,
                                now=weaker, error=str(exc)[:300])

    def _check_budget(self, ctx: CallContext, model: str, prompt: int) -> None:
        spent = self._store.usage(ctx.run_id)
        next_usd = self._prices.cost(model, prompt, self._sampling.max_output_tokens)
        next_tokens = prompt + self._sampling.max_output_tokens
        self._budget.check(spent_usd=spent["cost_usd"], spent_tokens=int(spent["prompt_tokens"] +
                           spent["completion_tokens"]), next_usd=next_usd, next_tokens=next_tokens)
        if self._share is not None:
            self._share.check(next_usd, next_tokens)

    def _record(self, ctx: CallContext, model: str, response: Any, seconds: float, sizes: dict[str, int]) -> None:
        """Add the call's usage and cost to the run and log it; stop if the server cut the prompt.

        `sizes` are our estimates: `prompt_estimate` (what was sent, with its JSON and tool schemas),
        `untrimmed_estimate` (the same before trimming) and `text_estimate` (only the text sent: the
        floor silent truncation is judged by).
        """
        counts = usage_counts(getattr(response, "usage", None))
        prompt, completion = counts["prompt_tokens"], counts["completion_tokens"]
        cost = self._prices.cost(model, prompt, completion)
        if self._share is not None:
            self._share.add(cost, prompt + completion)
        self._store.add_usage(ctx.run_id, ctx.step, model, prompt, completion, cost, seconds=round(seconds, 3),
                              **sizes)
        if cut_by_server(prompt, sizes["text_estimate"]):
            raise PromptTruncated(
                f"the model server read only {prompt:,} prompt tokens of a prompt whose text alone is about "
                f"{sizes['text_estimate']:,}: "
                "it cut the prompt to fit its context window without saying so, and an answer to a cut prompt "
                "cannot be trusted",
                hint="raise the server's context window to at least ISSUESMITH_MODEL_MAX_INPUT_TOKENS + "
                     "ISSUESMITH_MODEL_MAX_OUTPUT_TOKENS (Ollama: `num_ctx`, e.g. OLLAMA_CONTEXT_LENGTH or "
                     "`PARAMETER num_ctx` in a Modelfile; llama.cpp: `--ctx-size`; vLLM: `--max-model-len`), or "
                     "lower ISSUESMITH_MODEL_MAX_INPUT_TOKENS to what it holds, then reply `/retry`")


class _Judge(Generic[T]):
    """Reads an answer out of a reply and judges it: valid as `output`, then accepted by `accept`."""

    def __init__(self, output: type[T], accept: Callable[[T], str | None] | None) -> None:
        self.output = output
        self._accept = accept

    def __call__(self, text: str | None) -> tuple[T | None, str]:
        """The answer in `text`, or None and the problem to tell the model."""
        answer, problem = parse_answer(self.output, text)
        if answer is None or self._accept is None:
            return answer, problem
        refused = self._accept(answer)
        return (None, refused) if refused else (answer, "")


def _assistant_tool_message(message: Any) -> dict[str, Any]:
    """The reply with tool calls as the next request repeats it: content "" for none, not null (llama-cpp-python's
    server answers 500 to an assistant message whose content is null, issue 15)."""
    return {"role": "assistant", "content": message.content or "", "tool_calls": [
        {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
        for c in message.tool_calls]}


def _complete_answer(output: type[BaseModel], message: Any) -> bool:
    """Whether a reply cut off at the output cap still holds a whole, valid answer (and no tool call)."""
    return not message.tool_calls and parse_answer(output, message.content)[0] is not None


def _canonical(arguments: str) -> str:
    """Tool arguments in one spelling (keys sorted, no spaces), so equal calls compare equal."""
    try:
        return json.dumps(json.loads(arguments or "{}"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return arguments


def _calls_left(left: int) -> str:
    if left > 0:
        return f"\n({left} tool call{'s' if left != 1 else ''} left)"
    return "\n(no tool calls left: answer now with your final answer, the JSON object)"


def _reason(arguments: str, limit: int = 1000) -> str:
    """The reason a `give_up` call gives, on one line and bounded (its raw arguments when they are not JSON)."""
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        value = arguments
    said = value.get("reason") if isinstance(value, dict) else value
    text = " ".join(str(said if said is not None else "").split()) or "(no reason given)"
    return text if len(text) <= limit else text[:limit] + " […]"


def _invoke(tool: Tool, raw_arguments: str) -> str:
    try:
        arguments = tool.arguments.model_validate_json(raw_arguments or "{}")
    except ValidationError as exc:
        return f"Invalid arguments for {tool.name}: {short_problem(exc)}"
    return tool.run(arguments)
