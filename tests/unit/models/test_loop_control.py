"""The tool loop's controls: give_up, repeated calls, calls left, the input window and silently cut prompts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import redis
from pydantic import BaseModel

from bot.config.pricing import Budget, PriceTable
from bot.core.errors import AgentGaveUp, AgentStuck, ContextOverflow, PromptTruncated, is_retryable
from bot.models import context
from bot.models.client import REPEAT_LIMIT, CallContext, ModelClient, Tool
from bot.runs.plan import Plan
from bot.runs.store import RunStore
from standins.openai import FakeOpenAI, Reply
from standins.server import ServerThread
from tests.world import SAMPLE_PLAN

KEY = "sk-unit-test-key-000000"
MESSAGES = [{"role": "system", "content": "Coder"}, {"role": "user", "content": "implement it"}]


class Echo(BaseModel):
    """Arguments of a test tool."""

    text: str


Setup = tuple[FakeOpenAI, RunStore, str]


@pytest.fixture
def setup(redis_url: str) -> Iterator[Setup]:
    fake = FakeOpenAI(api_key=KEY)
    store = RunStore(redis.Redis.from_url(redis_url, decode_responses=True))
    with ServerThread(fake.app) as server:
        yield fake, store, f"{server.url}/v1"


def client(setup: Setup, max_input_tokens: int = 32_000) -> ModelClient:
    _, store, url = setup
    sdk = openai.OpenAI(api_key=KEY, base_url=url, max_retries=0, timeout=5)
    return ModelClient(sdk.chat.completions.create, "gpt-4o-mini", store, PriceTable(), Budget(5.0, 10_000_000),
                       max_input_tokens=max_input_tokens)


def echo(size: int = 1) -> Tool:
    return Tool("echo", "echo text", Echo, lambda a: a.text * size)


def tool_results(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


def test_give_up_ends_the_loop_with_the_agent_and_its_reason(setup: Setup) -> None:
    fake = setup[0]
    fake.script(Reply.tool_calls([("give_up", {"reason": "The plan names   lib/x.py,\nwhich does not exist."})]))
    with pytest.raises(AgentGaveUp) as caught:
        client(setup).structured(CallContext("g1", "code"), MESSAGES, Plan, tools=[echo()], max_tool_calls=5)
    assert str(caught.value) == "the Coder gave up: “The plan names lib/x.py, which does not exist.”"
    assert caught.value.agent == "Coder" and not is_retryable(caught.value) and len(fake.requests) == 1
    give_up = next(t for t in fake.requests[0]["tools"] if t["function"]["name"] == "give_up")
    assert give_up["function"]["parameters"]["required"] == ["reason"]
    assert "`give_up`" in fake.requests[0]["messages"][0]["content"]
    [entry] = [e for e in setup[1].entries("g1") if e["event"] == "gave_up"]
    assert "lib/x.py" in entry["reason"]


def test_every_tool_result_says_how_many_calls_are_left_and_the_last_says_answer_now(setup: Setup) -> None:
    fake = setup[0]
    fake.script(Reply.tool_calls([("echo", {"text": "a"})]), Reply.tool_calls([("echo", {"text": "b"})]),
                Reply.json(SAMPLE_PLAN))
    client(setup).structured(CallContext("g2", "plan"), MESSAGES, Plan, tools=[echo()], max_tool_calls=2)
    last = tool_results(fake.requests[2])
    assert last[0] == "a\n(1 tool call left)"
    assert last[1] == "b\n(no tool calls left: answer now with your final answer, the JSON object)"
    assert "tools" not in fake.requests[2] and fake.requests[2]["response_format"]["type"] == "json_schema"


def test_a_third_identical_call_is_warned_and_a_fourth_ends_the_step(setup: Setup) -> None:
    fake = setup[0]
    same = ("echo", {"text": "x"})
    fake.script(*[Reply.tool_calls([same]) for _ in range(REPEAT_LIMIT + 1)])
    with pytest.raises(AgentStuck, match=r"the Coder made the same call \(echo with the same arguments\) 4 times"):
        client(setup).structured(CallContext("g3", "code"), MESSAGES, Plan, tools=[echo()], max_tool_calls=20)
    results = tool_results(fake.requests[-1])
    assert "same call" not in results[1]
    assert "You made this same call (echo with the same arguments) 3 times" in results[2]
    assert fake.pending() == 0 and len(fake.requests) == REPEAT_LIMIT + 1


def test_the_same_arguments_spelled_differently_count_as_a_repeat_and_another_call_resets(setup: Setup) -> None:
    fake = setup[0]
    fake.script(Reply.tool_calls([("echo", '{"text": "x"}')]), Reply.tool_calls([("echo", '{ "text":"x" }')]),
                Reply.tool_calls([("echo", {"text": "y"})]), Reply.tool_calls([("echo", {"text": "x"})]),
                Reply.json(SAMPLE_PLAN))
    client(setup).structured(CallContext("g4", "plan"), MESSAGES, Plan, tools=[echo()], max_tool_calls=20)
    assert not any("same call" in r for r in tool_results(fake.requests[-1]))


def test_a_long_tool_output_is_capped_with_head_tail_and_a_note(setup: Setup) -> None:
    fake = setup[0]
    fake.script(Reply.tool_calls([("echo", {"text": "0123456789\n"})]), Reply.json(SAMPLE_PLAN))
    client(setup).structured(CallContext("g5", "plan"), MESSAGES, Plan, tools=[echo(3000)], max_tool_calls=3)
    [result] = tool_results(fake.requests[1])
    assert len(result) < context.MAX_TOOL_OUTPUT_CHARS + 400 and "characters (" in result and "left out here" in result
    assert result.startswith("0123456789\n") and result.endswith("0123456789\n\n(2 tool calls left)")


def test_old_views_superseded_by_an_edit_are_elided_but_recent_turns_and_the_task_are_not(setup: Setup) -> None:
    fake = setup[0]
    view = Tool("view_file", "view", Echo, lambda a: "line\n" * 183)
    edit = Tool("replace_text", "edit", Echo, lambda a: "Applied")
    fake.script(Reply.tool_calls([("view_file", {"text": "v", "path": "a.py"})]),
                Reply.tool_calls([("replace_text", {"text": "e", "path": "a.py"})]),
                *[Reply.tool_calls([("view_file", {"text": f"w{i}", "path": "b.py"})]) for i in range(5)],
                Reply.json(SAMPLE_PLAN))
    big_task = [MESSAGES[0], {"role": "user", "content": "task " * 3000}]
    client(setup).structured(CallContext("g6", "plan"), big_task, Plan, tools=[view, edit], max_tool_calls=20)
    last = fake.requests[-1]["messages"]
    assert last[1]["content"] == "task " * 3000  # the task is never trimmed
    results = tool_results(fake.requests[-1])
    assert results[0] == ("[output of view_file a.py elided: a.py was viewed again or changed later; 185 lines]")
    assert results[1].startswith("Applied")  # not a view: kept
    assert all(r.startswith("line\n") for r in results[2:])  # b.py views: the last turns (and b.py kept changing)
    calls = [e for e in setup[1].entries("g6") if e["event"] == "model_call"]
    assert calls[-1]["untrimmed_estimate"] > calls[-1]["prompt_estimate"]


def test_over_the_window_old_outputs_collapse_and_what_cannot_fit_is_a_named_error(setup: Setup) -> None:
    fake = setup[0]
    fake.script(*[Reply.tool_calls([("echo", {"text": f"{i}-" + "z" * 100})]) for i in range(8)],
                Reply.json(SAMPLE_PLAN))
    model = client(setup, max_input_tokens=5_500)
    model.structured(CallContext("g7", "plan"), MESSAGES, Plan, tools=[echo(30)], max_tool_calls=20)
    results = tool_results(fake.requests[-1])
    assert results[0].startswith("[output of echo elided; ") and results[2].startswith("[output of echo elided; ")
    assert all(r.startswith(f"{i}-zzz") for i, r in list(enumerate(results))[3:])
    assert all(e["prompt_estimate"] <= 5_500 for e in setup[1].entries("g7") if e["event"] == "model_call")

    fake.script(Reply.json(SAMPLE_PLAN))
    with pytest.raises(ContextOverflow, match="ISSUESMITH_MODEL_MAX_INPUT_TOKENS"):
        model.structured(CallContext("g8", "plan"), [MESSAGES[0], {"role": "user", "content": "t " * 20_000}], Plan)
    assert fake.pending() == 1  # nothing was sent


def test_a_server_reading_far_fewer_prompt_tokens_than_sent_stops_the_step(setup: Setup) -> None:
    fake = setup[0]
    fake.script(Reply.json(SAMPLE_PLAN, usage=(2048, 50)))
    long_task = [MESSAGES[0], {"role": "user", "content": "the issue, in many words " * 1000}]
    with pytest.raises(PromptTruncated) as caught:
        client(setup).structured(CallContext("g9", "plan"), long_task, Plan)
    assert "read only 2,048 prompt tokens of a prompt whose text alone is about" in str(caught.value)
    assert "num_ctx" in caught.value.hint
    assert not is_retryable(caught.value)
    assert setup[1].usage("g9")["prompt_tokens"] == 2048  # what was spent is still counted


def test_a_small_prompt_or_missing_usage_is_not_judged(setup: Setup) -> None:
    fake = setup[0]
    fake.script(Reply.json(SAMPLE_PLAN, usage=(10, 5)))
    assert client(setup).structured(CallContext("g10", "plan"), MESSAGES, Plan).title == SAMPLE_PLAN["title"]
    assert context.usage_counts(None) == {"prompt_tokens": 0, "completion_tokens": 0}
    assert context.usage_counts(json) == {"prompt_tokens": 0, "completion_tokens": 0}  # no such fields
    assert not context.cut_by_server(0, 50_000) and context.cut_by_server(1_000, 50_000)
    assert not context.cut_by_server(900, 1_900)
