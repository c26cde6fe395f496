"""What a real server answered, fed through the model layer: each reply is recovered or ends in a named error.

Recorded by the smoke test (tests/smoke, issue 15) from llama-cpp-python 0.3.36's server
(`--chat_format chatml-function-calling`) serving Gemma 3 270M: `real_replies/llama_cpp_python_gemma3_270m.jsonl`
is the Planner's side of one `issuesmith run` (an empty reply, `finish` arguments cut off by a stop word
inside a string, then the same `read_file` call eight times), and `real_replies/llama_cpp_python_errors.json`
holds the server's answers to a strict `json_schema` request, to JSON mode (the model echoing the schema until
the cap), to an assistant message with `content: null`, and to a prompt longer than `--n_ctx`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import redis

from bot.agents.planner import ReadFileArgs
from bot.config.pricing import Budget, PriceTable
from bot.core.errors import AgentStuck, ModelContextExceeded
from bot.models.client import CallContext, ModelClient, Tool
from bot.models.formats import refuses_format
from bot.models.overflow import context_overflow
from bot.models.parsing import parse_answer
from bot.models.replay import ReplayModel, load
from bot.runs.plan import Plan
from bot.runs.store import RunStore
from standins.openai import FakeOpenAI, Reply
from standins.server import ServerThread
from tests.world import SAMPLE_PLAN

HERE = Path(__file__).parent / "real_replies"
RECORDED = load(HERE / "llama_cpp_python_gemma3_270m.jsonl")
ERRORS: dict[str, Any] = json.loads((HERE / "llama_cpp_python_errors.json").read_text())
MESSAGES = [{"role": "system", "content": "You are the Planner of issuesmith."},
            {"role": "user", "content": "word_count is wrong with double spaces"}]
KEY = "sk-unit-test-key-000000"
FORCED = {"type": "function", "function": {"name": "finish"}}


def error_message(name: str) -> str:
    """The message of a recorded error answer."""
    return str(ERRORS[name]["body"]["error"]["message"])


def json_mode_reply() -> dict[str, Any]:
    """The recorded JSON-mode reply (the schema echoed, cut off at the cap) as a transcript line of the Planner."""
    body = ERRORS["json_object_reply"]["body"]
    choice = body["choices"][0]
    return {"agent": "planner", "message": {"content": choice["message"]["content"]},
            "finish_reason": choice["finish_reason"], "usage": body["usage"]}


@pytest.fixture
def store(redis_url: str) -> RunStore:
    return RunStore(redis.Redis.from_url(redis_url, decode_responses=True))


def test_each_recorded_reply_reads_as_a_named_problem_or_valid_arguments() -> None:
    empty, finish, *reads = RECORDED
    assert parse_answer(Plan, empty["message"]["content"]) == (None, "the reply was empty")
    [call] = finish["message"]["tool_calls"]
    plan, problem = parse_answer(Plan, call["arguments"])
    assert plan is None and problem.startswith("the reply holds no complete JSON object (it looks cut off: "
                                               "Unterminated string"), problem  # not a nested object's errors
    assert finish["finish_reason"] == "tool_calls"  # cut by a stop word, yet reported as a whole call
    for entry in reads:
        [read] = entry["message"]["tool_calls"]
        assert ReadFileArgs.model_validate_json(read["arguments"]).path == "test.txt"  # spaces around are fine
    content = json_mode_reply()["message"]["content"]
    assert parse_answer(Plan, content)[1].startswith("the reply holds no complete JSON object (it looks cut off")


def test_the_recorded_planner_conversation_ends_in_a_named_error(store: RunStore) -> None:
    """Replayed in order, with the Planner's read tool and its bound of 8 calls: the real model read the same
    file eight times; the loop tells it after the third identical call and ends at the fourth, by name."""
    replay = ReplayModel([*RECORDED, json_mode_reply(), json_mode_reply()])
    sent: list[dict[str, Any]] = []

    def create(**request: Any) -> Any:
        sent.append(request)
        return replay.create(**request)

    read = Tool("read_file", "Read lines of a file.", ReadFileArgs, lambda args: f"{args.path}: no such file")
    model = ModelClient(create, "gemma-3-270m", store, PriceTable({"gemma-3-270m": (0, 0)}), Budget(1.0, 10**6))
    stuck = r"the Planner made the same call \(read_file with the same arguments\) 4 times"
    with pytest.raises(AgentStuck, match=stuck):
        model.structured(CallContext("real", "plan"), MESSAGES, Plan, tools=[read], max_tool_calls=8)

    assert [r.get("tool_choice") for r in sent] == ["auto", FORCED, *["auto"] * 4]
    told = sent[2]["messages"][-1]
    assert told["role"] == "tool" and "(it looks cut off: Unterminated string" in told["content"]
    assert "same call" in sent[-1]["messages"][-1]["content"]  # the model was told before the loop ended
    assert all(m.get("content") is not None for r in sent for m in r["messages"])  # never null: a 500 there


@pytest.fixture
def server() -> Iterator[tuple[FakeOpenAI, ModelClient]]:
    """The stand-in answering with the recorded error bodies, and a client without SDK retries."""
    fake = FakeOpenAI(api_key=KEY)
    with ServerThread(fake.app) as running:
        sdk = openai.OpenAI(api_key=KEY, base_url=f"{running.url}/v1", max_retries=0, timeout=10)
        yield fake, sdk


def test_the_recorded_json_schema_refusal_steps_down_to_json_mode(server: Any, store: RunStore) -> None:
    fake, sdk = server
    fake.script(Reply.error(500, error_message("json_schema_refused"), type="internal_server_error"),
                Reply.json(SAMPLE_PLAN))
    model = ModelClient(sdk.chat.completions.create, "gpt-4o-mini", store, PriceTable(), Budget(1.0, 10**6))
    plan = model.structured(CallContext("fmt", "plan"), MESSAGES, Plan)
    assert plan.title == SAMPLE_PLAN["title"]
    assert [r["response_format"]["type"] for r in fake.requests] == ["json_schema", "json_object"]


def test_the_recorded_context_overflow_is_a_named_final_error(server: Any, store: RunStore) -> None:
    fake, sdk = server
    fake.script(Reply.error(400, error_message("context_exceeded"), type="invalid_request_error",
                            code="context_length_exceeded", param="messages"))
    model = ModelClient(sdk.chat.completions.create, "gpt-4o-mini", store, PriceTable(), Budget(1.0, 10**6))
    with pytest.raises(ModelContextExceeded, match="maximum context length is 512 tokens") as caught:
        model.structured(CallContext("ctx", "plan"), MESSAGES, Plan)
    assert "--n_ctx" in caught.value.hint and "ISSUESMITH_MODEL_MAX_INPUT_TOKENS" in caught.value.hint
    assert not caught.value.retryable


def test_the_recorded_null_content_refusal_is_neither_a_format_nor_a_context_problem(server: Any) -> None:
    """It is avoided (tool turns carry "" instead), so it must not be taken for something to step down from."""
    fake, sdk = server
    assert ERRORS["null_assistant_content"]["status"] == 500
    fake.script(Reply.error(400, error_message("null_assistant_content")))  # 400: the SDK would retry a 500
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert not refuses_format(caught.value) and context_overflow(caught.value) is None
