"""The format a final answer is asked in steps down when a server refuses it, as real servers do."""

from __future__ import annotations

from collections.abc import Mapping

import openai
import pytest
import redis

from bot.config.pricing import Budget, PriceTable
from bot.models.client import CallContext, ModelClient
from bot.runs.plan import Plan
from bot.runs.store import RunStore
from standins.openai import (
    LLAMA_CPP_2024_REFUSAL,
    LLAMA_CPP_PYTHON_REFUSAL,
    LM_STUDIO_REFUSAL,
    FakeOpenAI,
    FormatRefusal,
    Reply,
)
from standins.server import ServerThread
from tests.world import SAMPLE_PLAN

KEY = "sk-unit-test-key-000000"
MESSAGES = [{"role": "system", "content": "Planner"}, {"role": "user", "content": "plan it"}]


@pytest.fixture
def store(redis_url: str) -> RunStore:
    return RunStore(redis.Redis.from_url(redis_url, decode_responses=True))


def make(store: RunStore, refused: Mapping[str, FormatRefusal],
         mode: str = "auto") -> tuple[FakeOpenAI, ServerThread, ModelClient]:
    fake = FakeOpenAI(api_key=KEY, refused_formats=refused)
    server = ServerThread(fake.app).start()
    sdk = openai.OpenAI(api_key=KEY, base_url=f"{server.url}/v1", max_retries=0, timeout=5)
    return fake, server, ModelClient(sdk.chat.completions.create, "gpt-4o-mini", store, PriceTable(),
                                     Budget(5.0, 1_000_000), mode)


def formats_sent(fake: FakeOpenAI) -> list[str]:
    return [(r.get("response_format") or {"type": "none"})["type"] for r in fake.requests]


@pytest.mark.parametrize("refused", [LLAMA_CPP_PYTHON_REFUSAL, LLAMA_CPP_2024_REFUSAL],
                         ids=["llama-cpp-python", "llama.cpp-2024"])
def test_a_500_about_json_schema_steps_down_to_json_mode_for_good(store: RunStore,
                                                                 refused: Mapping[str, FormatRefusal]) -> None:
    fake, server, model = make(store, refused)
    try:
        fake.script(Reply.json(SAMPLE_PLAN), Reply.json(SAMPLE_PLAN))
        model.structured(CallContext("f1", "plan"), MESSAGES, Plan)
        run_copy = model.for_run(lambda step, default: default, Budget(5.0, 1_000_000))
        run_copy.structured(CallContext("f2", "plan"), MESSAGES, Plan)
    finally:
        server.stop()
    assert formats_sent(fake) == ["json_schema", "json_object", "json_object"]
    assert [e.status for e in fake.exchanges] == [500, 200, 200]
    [event] = [e for e in store.entries("f1") if e["event"] == "format_refused"]
    assert (event["refused"], event["now"], event["status"]) == ("json_schema", "json_object", 500)


def test_lm_studio_refusing_json_mode_gets_the_schema_in_the_prompt(store: RunStore) -> None:
    fake, server, model = make(store, LM_STUDIO_REFUSAL, mode="json")
    try:
        fake.script(Reply.json(SAMPLE_PLAN))
        plan = model.structured(CallContext("f3", "plan"), MESSAGES, Plan)
    finally:
        server.stop()
    assert plan.title == SAMPLE_PLAN["title"] and formats_sent(fake) == ["json_object", "none"]
    assert "matching this JSON schema" in fake.requests[1]["messages"][0]["content"]
    assert fake.exchanges[0].response_json == {"error": "'response_format.type' must be 'json_schema' or 'text'"}


def test_a_server_refusing_both_ways_goes_on_to_text(store: RunStore) -> None:
    fake, server, model = make(store, {**LLAMA_CPP_2024_REFUSAL, **LM_STUDIO_REFUSAL})
    try:
        fake.script(Reply.json(SAMPLE_PLAN), Reply.json(SAMPLE_PLAN))
        model.structured(CallContext("f4", "plan"), MESSAGES, Plan)
        model.structured(CallContext("f4", "plan"), MESSAGES, Plan)
    finally:
        server.stop()
    assert formats_sent(fake) == ["json_schema", "json_object", "none", "none"]


def test_lm_studio_accepts_json_schema_so_auto_keeps_it(store: RunStore) -> None:
    fake, server, model = make(store, LM_STUDIO_REFUSAL)
    try:
        fake.script(Reply.json(SAMPLE_PLAN))
        model.structured(CallContext("f5", "plan"), MESSAGES, Plan)
    finally:
        server.stop()
    assert formats_sent(fake) == ["json_schema"]


def test_pinned_json_schema_raises_the_refusal(store: RunStore) -> None:
    fake, server, model = make(store, LLAMA_CPP_PYTHON_REFUSAL, mode="json_schema")
    try:
        with pytest.raises(openai.InternalServerError, match="Input should be 'text' or 'json_object'"):
            model.structured(CallContext("f6", "plan"), MESSAGES, Plan)
    finally:
        server.stop()
    assert formats_sent(fake) == ["json_schema"]


def test_errors_not_about_the_format_are_raised_and_change_nothing(store: RunStore) -> None:
    fake, server, model = make(store, {})
    try:
        fake.script(Reply.error(500), Reply.json(SAMPLE_PLAN))
        with pytest.raises(openai.InternalServerError):
            model.structured(CallContext("f7", "plan"), MESSAGES, Plan)
        model.structured(CallContext("f7", "plan"), MESSAGES, Plan)
    finally:
        server.stop()
    assert formats_sent(fake) == ["json_schema", "json_schema"]
