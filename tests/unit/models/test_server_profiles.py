"""The OpenAI stand-in's server profiles, seen through the real SDK, and the model client against them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
import redis
from pydantic import BaseModel

from bot.config.pricing import Budget, PriceTable
from bot.core.errors import ContextOverflow, PromptTruncated
from bot.models.client import CallContext, ModelClient, Tool
from bot.models.parsing import parse_answer
from bot.models.sampling import Sampling
from bot.models.textcalls import calls_in_text
from bot.runs.store import RunStore
from standins.openai import FakeOpenAI, Reply
from standins.profiles import PROFILES, profile
from standins.server import ServerThread

KEY = "sk-unit-test-key-000000"
ASK = [{"role": "user", "content": "answer in json"}]
TOOL = [{"type": "function", "function": {"name": "echo", "parameters": {"type": "object", "properties": {}}}}]


class Echo(BaseModel):
    """Arguments of a test tool, and a test answer."""

    text: str


@pytest.fixture
def serve() -> Iterator[Any]:
    """Serve a stand-in playing a profile; yields a function giving (fake, SDK client)."""
    servers: list[ServerThread] = []

    def start(name: str) -> tuple[FakeOpenAI, openai.OpenAI]:
        fake = FakeOpenAI(api_key=KEY, profile=name)
        servers.append(ServerThread(fake.app).start())
        return fake, openai.OpenAI(api_key=KEY, base_url=f"{servers[-1].url}/v1", max_retries=0, timeout=5)

    yield start
    for server in servers:
        server.stop()


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="ollama"):
        profile("tgi")
    assert {"openai", "ollama", "vllm", "llamacpp", "lmstudio"} <= set(PROFILES)


def test_ollama_loses_tool_calls_under_a_format_and_reads_only_max_tokens(serve: Any) -> None:
    fake, sdk = serve("ollama")
    fake.script(Reply.tool_calls([("echo", {"text": "hi"})]), Reply.text("x" * 400), Reply.text("y" * 400))
    lost = sdk.chat.completions.create(model="gpt-4o-mini", messages=ASK, tools=TOOL,
                                       response_format={"type": "json_object"})
    assert lost.choices[0].message.tool_calls is None and lost.choices[0].message.content == '{"text": "hi"}'
    uncapped = sdk.chat.completions.create(model="gpt-4o-mini", messages=ASK, max_completion_tokens=10)
    assert uncapped.choices[0].finish_reason == "stop" and len(uncapped.choices[0].message.content or "") == 400
    capped = sdk.chat.completions.create(model="gpt-4o-mini", messages=ASK, max_tokens=10)
    assert capped.choices[0].finish_reason == "length" and capped.choices[0].message.content == "y" * 40


def test_openai_keeps_tool_calls_beside_a_format_and_honours_max_completion_tokens(serve: Any) -> None:
    fake, sdk = serve("openai")
    fake.script(Reply.tool_calls([("echo", {"text": "hi"})]), Reply.text("x" * 400))
    kept = sdk.chat.completions.create(model="gpt-4o-mini", messages=ASK, tools=TOOL,
                                       response_format={"type": "json_object"})
    assert kept.choices[0].message.tool_calls is not None
    capped = sdk.chat.completions.create(model="gpt-4o-mini", messages=ASK, max_completion_tokens=10)
    assert capped.choices[0].finish_reason == "length"


def test_ollama_reports_at_most_num_ctx_prompt_tokens(serve: Any) -> None:
    fake, sdk = serve("ollama-small-ctx")
    fake.script(Reply.text("{}"), Reply.text("{}"))
    small = sdk.chat.completions.create(model="gpt-4o-mini", messages=ASK)
    big = sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "w " * 20_000}])
    assert small.usage is not None and big.usage is not None
    assert small.usage.prompt_tokens < 2048 and big.usage.prompt_tokens == 2048


def test_vllm_refuses_prompt_and_cap_over_max_model_len_in_its_words(serve: Any) -> None:
    fake, sdk = serve("vllm-short")
    fake.script(Reply.text("{}"))
    with pytest.raises(openai.BadRequestError, match="maximum context length is 4096 tokens") as caught:
        sdk.chat.completions.create(model="gpt-4o-mini", messages=ASK, max_tokens=4096)
    assert "4096 in the completion" in caught.value.message
    assert sdk.chat.completions.create(model="gpt-4o-mini", messages=ASK, max_tokens=100).choices


def test_text_tools_and_no_usage_profiles(serve: Any) -> None:
    fake, sdk = serve("ollama-text-tools")
    fake.script(Reply.tool_calls([("echo", {"text": "hi"})]))
    said = sdk.chat.completions.create(model="gpt-4o-mini", messages=ASK, tools=TOOL).choices[0].message
    assert said.tool_calls is None and calls_in_text(said.content, {"echo"}) == [("echo", '{"text": "hi"}')]
    bare, sdk = serve("no-usage")
    bare.script(Reply.text("{}"))
    assert sdk.chat.completions.create(model="gpt-4o-mini", messages=ASK).usage is None


def test_calls_in_text_take_only_offered_tools_and_leave_answers_alone() -> None:
    tagged = '<tool_call>{"name": "echo", "arguments": {"text": "a"}}</tool_call>\n{"name": "echo", "parameters": "{}"}'
    assert calls_in_text(tagged, {"echo"}) == [("echo", '{"text": "a"}'), ("echo", "{}")]
    assert calls_in_text('{"name": "rm", "arguments": {}}', {"echo"}) == []
    assert calls_in_text('{"text": "an answer"}', {"echo"}) == []
    assert calls_in_text('{"name": "echo", "arguments": {}, "extra": 1}', {"echo"}) == []


def test_an_answer_encoded_twice_is_read() -> None:
    assert parse_answer(Echo, '"{\\"text\\": \\"hi\\"}"')[0] == Echo(text="hi")
    assert parse_answer(Echo, '"just words"')[0] is None


@pytest.fixture
def store(redis_url: str) -> RunStore:
    return RunStore(redis.Redis.from_url(redis_url, decode_responses=True))


def _client(fake: FakeOpenAI, url: str, store: RunStore) -> ModelClient:
    sdk = openai.OpenAI(api_key=KEY, base_url=f"{url}/v1", max_retries=0, timeout=5)
    return ModelClient(sdk.chat.completions.create, "gpt-4o-mini", store, PriceTable(), Budget(5.0, 10_000_000),
                       sampling=Sampling.for_endpoint(url))


def test_client_runs_tool_calls_a_server_returned_as_text(store: RunStore) -> None:
    fake = FakeOpenAI(api_key=KEY, profile="ollama-text-tools")
    fake.script(Reply.tool_calls([("echo", {"text": "hi"})]), Reply.tool_calls([("finish", {"text": "done"})]))
    seen: list[str] = []
    tool = Tool("echo", "echo", Echo, lambda a: seen.append(a.text) or "echoed")
    with ServerThread(fake.app) as server:
        answer = _client(fake, server.url, store).structured(CallContext("r1", "code"), ASK, Echo, [tool], 5)
    assert answer == Echo(text="done") and seen == ["hi"]
    assert [e["event"] for e in store.entries("r1") if e["event"] == "text_tool_calls"] == ["text_tool_calls"] * 2


def test_client_names_a_server_context_refusal_and_a_silently_cut_prompt(store: RunStore) -> None:
    short = FakeOpenAI(api_key=KEY, profile="vllm-short")
    with ServerThread(short.app) as server, pytest.raises(ContextOverflow, match="context window") as caught:
        _client(short, server.url, store).structured(CallContext("r2", "plan"), ASK, Echo)
    assert "--max-model-len" in caught.value.hint
    cut = FakeOpenAI(api_key=KEY, profile="ollama-small-ctx")
    cut.script(Reply.json({"text": "x"}))
    long = [{"role": "user", "content": "json " + "word " * 4000}]
    with ServerThread(cut.app) as server, pytest.raises(PromptTruncated):
        _client(cut, server.url, store).structured(CallContext("r3", "plan"), long, Echo)
