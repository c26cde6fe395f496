"""Tools and a forced response format never share a request; the answer comes by `finish` or as content."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
import redis
from pydantic import BaseModel

from bot.config.pricing import Budget, PriceTable
from bot.core.errors import ModelOutputInvalid
from bot.models.client import CallContext, ModelClient, Tool
from bot.runs.plan import Plan
from bot.runs.store import RunStore
from standins.openai import FakeOpenAI, Reply
from standins.server import ServerThread
from tests.world import SAMPLE_PLAN

KEY = "sk-unit-test-key-000000"
MESSAGES = [{"role": "system", "content": "Planner"}, {"role": "user", "content": "plan it"}]


class Echo(BaseModel):
    """Arguments of a test tool."""

    text: str


Setup = tuple[FakeOpenAI, ModelClient, list[str], Tool]


@pytest.fixture
def setup(redis_url: str) -> Iterator[Setup]:
    fake = FakeOpenAI(api_key=KEY)
    store = RunStore(redis.Redis.from_url(redis_url, decode_responses=True))
    echoed: list[str] = []
    tool = Tool("echo", "echo text", Echo, lambda a: echoed.append(a.text) or a.text)
    with ServerThread(fake.app) as server:
        sdk = openai.OpenAI(api_key=KEY, base_url=f"{server.url}/v1", max_retries=0, timeout=5)
        yield fake, ModelClient(sdk.chat.completions.create, "gpt-4o-mini", store, PriceTable(),
                                Budget(5.0, 1_000_000)), echoed, tool


def tool_names(request: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in request.get("tools") or []]


def test_tool_turns_offer_finish_and_no_response_format(setup: Setup) -> None:
    fake, model, echoed, tool = setup
    fake.script(Reply.tool_calls([("echo", {"text": "one"})]), Reply.tool_calls([("finish", SAMPLE_PLAN)]))
    plan = model.structured(CallContext("t1", "plan"), MESSAGES, Plan, tools=[tool], max_tool_calls=5)
    assert plan.title == SAMPLE_PLAN["title"] and echoed == ["one"]
    assert [tool_names(r) for r in fake.requests] == [["echo", "finish", "give_up"]] * 2
    assert all("response_format" not in r for r in fake.requests)
    assert all(r["tool_choice"] == "auto" for r in fake.requests)  # llama-cpp-python ignores tools without it
    finish = fake.requests[0]["tools"][1]["function"]
    assert finish["parameters"] == Plan.model_json_schema()
    system = fake.requests[0]["messages"][0]
    assert system["role"] == "system" and "calling `finish` with the Plan" in system["content"]
    assert [m["role"] for m in fake.requests[0]["messages"]] == ["system", "user"]  # the note is not a new message
    repeated = fake.requests[1]["messages"][2]
    assert repeated["role"] == "assistant" and repeated["content"] == ""  # not null: llama-cpp-python refuses that


def test_a_content_answer_on_a_tool_turn_is_read_tolerantly(setup: Setup) -> None:
    fake, model, _, tool = setup
    fake.script(Reply.tool_calls([("echo", {"text": "one"})]),
                Reply.text("<think>done reading</think>\nHere it is:\n```json\n" + Plan.model_validate(
                    SAMPLE_PLAN).model_dump_json() + "\n```"))
    plan = model.structured(CallContext("t2", "plan"), MESSAGES, Plan, tools=[tool], max_tool_calls=5)
    assert plan.steps == SAMPLE_PLAN["steps"] and "response_format" not in fake.requests[1]


def test_an_empty_reply_on_a_tool_turn_is_followed_by_a_turn_that_requires_finish(setup: Setup) -> None:
    """llama-cpp-python's chatml-function-calling returns "" whenever its model picks text over a tool (issue 15)."""
    fake, model, echoed, tool = setup
    fake.script(Reply.text("", usage=(1922, 6)), Reply.tool_calls([("echo", {"text": "one"})]),
                Reply.text(" \n"), Reply.tool_calls([("finish", SAMPLE_PLAN)]))
    plan = model.structured(CallContext("t2e", "plan"), MESSAGES, Plan, tools=[tool], max_tool_calls=5)
    assert plan.title == SAMPLE_PLAN["title"] and echoed == ["one"]
    forced = {"type": "function", "function": {"name": "finish"}}
    assert [r["tool_choice"] for r in fake.requests] == ["auto", forced, "auto", forced]
    told = fake.requests[1]["messages"][-1]["content"]
    assert told.startswith("Your reply was not a valid Plan: the reply was empty")


def test_calls_beside_finish_run_first(setup: Setup) -> None:
    fake, model, echoed, tool = setup
    fake.script(Reply.tool_calls([("echo", {"text": "edit"}), ("finish", SAMPLE_PLAN)]))
    model.structured(CallContext("t3", "plan"), MESSAGES, Plan, tools=[tool], max_tool_calls=5)
    assert echoed == ["edit"] and len(fake.requests) == 1


def test_an_invalid_finish_is_answered_with_the_problem_and_bounded(setup: Setup) -> None:
    fake, model, _, tool = setup
    fake.script(Reply.tool_calls([("finish", {"title": "only"})]), Reply.tool_calls([("finish", SAMPLE_PLAN)]))
    model.structured(CallContext("t4", "plan"), MESSAGES, Plan, tools=[tool], max_tool_calls=5)
    answer = fake.requests[1]["messages"][-1]
    assert answer["role"] == "tool" and answer["content"].startswith("Not a valid Plan: ")
    fake.script(*(Reply.tool_calls([("finish", {"title": "only"})]) for _ in range(3)))
    with pytest.raises(ModelOutputInvalid, match="3 times"):
        model.structured(CallContext("t5", "plan"), MESSAGES, Plan, tools=[tool], max_tool_calls=5)


def test_only_calls_without_tools_ask_for_the_format(setup: Setup) -> None:
    fake, model, _, tool = setup
    fake.script(Reply.json(SAMPLE_PLAN), Reply.tool_calls([("echo", {"text": "one"})]), Reply.json(SAMPLE_PLAN))
    model.structured(CallContext("t6", "plan"), MESSAGES, Plan)  # an agent without tools
    model.structured(CallContext("t6", "plan"), MESSAGES, Plan, tools=[tool], max_tool_calls=1)  # then the bound
    assert [(tool_names(r), (r.get("response_format") or {}).get("type")) for r in fake.requests] == [
        ([], "json_schema"), (["echo", "finish", "give_up"], None), ([], "json_schema")]
