"""The OpenAI stand-in (standins.openai) driven by the real ``openai`` SDK over loopback HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from pydantic import BaseModel

from standins.openai import FakeOpenAI, Reply
from standins.server import ServerThread

MODEL = "gpt-4o-mini"


@pytest.fixture(scope="module")
def fake_and_url() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with ServerThread(fake.app) as server:
        yield fake, server.url


@pytest.fixture
def fake(fake_and_url: tuple[FakeOpenAI, str]) -> FakeOpenAI:
    fake_and_url[0].reset()
    return fake_and_url[0]


@pytest.fixture
def url(fake_and_url: tuple[FakeOpenAI, str]) -> str:
    return fake_and_url[1]


def client(url: str, api_key: str = "sk-test-standin", **kwargs: Any) -> openai.OpenAI:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 10.0)
    return openai.OpenAI(api_key=api_key, base_url=f"{url}/v1", **kwargs)


def user(text: str) -> Any:  # the SDK wants its TypedDicts; plain dicts are what it sends
    return [{"role": "user", "content": text}]


class Plan(BaseModel):
    steps: list[str]
    risky: bool


PLAN_FORMAT: Any = {
    "type": "json_schema",
    "json_schema": {
        "name": "plan",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "steps": {"type": "array", "items": {"type": "string"}},
                "risky": {"type": "boolean"},
            },
            "required": ["steps", "risky"],
            "additionalProperties": False,
        },
    },
}


def test_structured_output_with_json_schema(fake: FakeOpenAI, url: str) -> None:
    fake.script(Reply.json({"steps": ["edit", "test"], "risky": False}))
    completion = client(url).chat.completions.create(
        model=MODEL,
        messages=user("plan it"),
        response_format=PLAN_FORMAT,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert json.loads(choice.message.content or "") == {"steps": ["edit", "test"], "risky": False}
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert completion.model == MODEL
    assert fake.requests[-1]["response_format"] == PLAN_FORMAT
    assert fake.pending() == 0


def test_sdk_parse_helper_with_pydantic_model(fake: FakeOpenAI, url: str) -> None:
    fake.script(Reply.json({"steps": ["a"], "risky": True}))
    completion = client(url).chat.completions.parse(model=MODEL, messages=user("plan"), response_format=Plan)
    assert completion.choices[0].message.parsed == Plan(steps=["a"], risky=True)
    sent = fake.requests[-1]["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["name"] == "Plan"


def test_tool_call_round_trip(fake: FakeOpenAI, url: str) -> None:
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "parameters": {
                    "type": "object",
                    "properties": {"path": {"type": "string"}},
                    "required": ["path"],
                },
            },
        }
    ]
    fake.script(Reply.tool_calls([("read_file", {"path": "README.md"})]), Reply.text("It is a readme."))
    api = client(url)
    messages: list[Any] = user("what is in README.md?")
    first = api.chat.completions.create(model=MODEL, messages=messages, tools=tools)
    assert first.choices[0].finish_reason == "tool_calls"
    assistant = first.choices[0].message
    assert assistant.content is None
    calls = assistant.tool_calls or []
    assert len(calls) == 1 and calls[0].id.startswith("call_") and calls[0].type == "function"
    assert calls[0].function.name == "read_file"
    assert json.loads(calls[0].function.arguments) == {"path": "README.md"}

    messages.append(assistant.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": calls[0].id, "content": "# hello"})
    second = api.chat.completions.create(model=MODEL, messages=messages, tools=tools)
    assert second.choices[0].message.content == "It is a readme."
    assert second.choices[0].finish_reason == "stop"
    assert [m["role"] for m in fake.requests[-1]["messages"]] == ["user", "assistant", "tool"]


def test_tool_message_must_answer_an_issued_call(fake: FakeOpenAI, url: str) -> None:
    fake.script(Reply.text("never sent"))
    orphan: Any = [*user("hi"), {"role": "tool", "tool_call_id": "call_nope", "content": "x"}]
    with pytest.raises(openai.BadRequestError, match="role 'tool' must be a response"):
        client(url).chat.completions.create(model=MODEL, messages=orphan)
    call: Any = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    unanswered: Any = [*user("hi"), {"role": "assistant", "tool_calls": [call]}, *user("and?")]
    with pytest.raises(openai.BadRequestError, match="did not have response messages: call_1"):
        client(url).chat.completions.create(model=MODEL, messages=unanswered)
    assert fake.pending() == 1  # rejected requests consume no scripted reply


def test_invalid_requests_are_rejected(fake: FakeOpenAI, url: str) -> None:
    api = client(url)
    with pytest.raises(openai.BadRequestError) as empty:
        api.chat.completions.create(model=MODEL, messages=[])
    assert empty.value.code == "empty_array"
    robot: Any = [{"role": "robot", "content": "x"}]
    with pytest.raises(openai.BadRequestError, match="Supported values are"):
        api.chat.completions.create(model=MODEL, messages=robot)
    nameless: Any = {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}
    with pytest.raises(openai.BadRequestError, match=r"json_schema\.name"):
        api.chat.completions.create(model=MODEL, messages=user("x"), response_format=nameless)
    schemaless: Any = {"type": "json_schema", "json_schema": {"name": "x"}}
    with pytest.raises(openai.BadRequestError, match=r"json_schema\.schema"):
        api.chat.completions.create(model=MODEL, messages=user("x"), response_format=schemaless)
    loose = json.loads(json.dumps(PLAN_FORMAT))
    del loose["json_schema"]["schema"]["additionalProperties"]
    with pytest.raises(openai.BadRequestError, match="additionalProperties"):
        api.chat.completions.create(model=MODEL, messages=user("x"), response_format=loose)
    with pytest.raises(openai.BadRequestError, match="stream"):
        api.chat.completions.create(model=MODEL, messages=user("x"), stream=True)
    with pytest.raises(openai.BadRequestError, match="word 'json'"):
        api.chat.completions.create(model=MODEL, messages=user("x"), response_format={"type": "json_object"})
    assert len(fake.requests) == 7
    assert all(
        e.status == 400 and set(e.response_json["error"]) == {"message", "type", "param", "code"}
        for e in fake.exchanges
    )


def test_rate_limit_with_retry_after_ms_is_retried(fake: FakeOpenAI, url: str) -> None:
    fake.script(Reply.error(429, headers={"retry-after-ms": "10"}), Reply.text("ok"))
    started = time.monotonic()
    completion = client(url, max_retries=2).chat.completions.create(model=MODEL, messages=user("hi"))
    assert completion.choices[0].message.content == "ok"
    assert time.monotonic() - started < 0.4  # the 10 ms hint was honoured, not the 0.5 s default backoff
    assert [e.status for e in fake.exchanges] == [429, 200]
    assert fake.exchanges[0].response_headers["retry-after-ms"] == "10"
    assert fake.exchanges[0].response_json["error"]["code"] == "rate_limit_exceeded"


def test_server_error_then_success(fake: FakeOpenAI, url: str) -> None:
    fake.script(Reply.error(500, headers={"retry-after-ms": "10"}), Reply.text("recovered"))
    completion = client(url, max_retries=1).chat.completions.create(model=MODEL, messages=user("hi"))
    assert completion.choices[0].message.content == "recovered"
    assert [e.status for e in fake.exchanges] == [500, 200]
    assert fake.exchanges[0].response_json["error"]["type"] == "server_error"


def test_scripted_error_without_retries_surfaces(fake: FakeOpenAI, url: str) -> None:
    fake.script(Reply.error(429, "slow down", headers={"retry-after-ms": "10"}))
    with pytest.raises(openai.RateLimitError, match="slow down"):
        client(url, max_retries=0).chat.completions.create(model=MODEL, messages=user("hi"))


def test_json_schema_unsupported_server(url: str) -> None:
    fake = FakeOpenAI(supports_json_schema=False)
    with ServerThread(fake.app) as server:
        api = client(server.url)
        with pytest.raises(openai.BadRequestError) as raised:
            api.chat.completions.create(model=MODEL, messages=user("plan"), response_format=PLAN_FORMAT)
        assert raised.value.status_code == 400
        assert "json_schema" in raised.value.message and "not supported" in raised.value.message
        fake.script(Reply.json({"steps": [], "risky": False}))
        completion = api.chat.completions.create(
            model=MODEL, messages=user("answer in JSON"), response_format={"type": "json_object"}
        )
        assert json.loads(completion.choices[0].message.content or "") == {"steps": [], "risky": False}


def test_missing_scripted_reply_surfaces_as_500(fake: FakeOpenAI, url: str) -> None:
    started = time.monotonic()
    with pytest.raises(openai.InternalServerError, match="no scripted reply") as raised:
        client(url, max_retries=2).chat.completions.create(model=MODEL, messages=user("hello there"))
    assert raised.value.status_code == 500
    assert time.monotonic() - started < 0.4  # x-should-retry: false, so no retries
    assert [e.status for e in fake.exchanges] == [500]
    assert "hello there" in fake.exchanges[0].response_json["error"]["message"]


def test_wrong_api_key(fake: FakeOpenAI, url: str) -> None:
    fake.script(Reply.text("never sent"))
    with pytest.raises(openai.AuthenticationError) as raised:
        client(url, api_key="sk-wrong-key-123456").chat.completions.create(model=MODEL, messages=user("hi"))
    assert raised.value.code == "invalid_api_key"
    assert fake.pending() == 1
    response = httpx.get(f"{url}/v1/models")
    assert response.status_code == 401 and "error" in response.json()


def test_unknown_model(fake: FakeOpenAI, url: str) -> None:
    with pytest.raises(openai.NotFoundError) as raised:
        client(url).chat.completions.create(model="gpt-nope", messages=user("hi"))
    assert raised.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client(url).models.retrieve("gpt-nope")


def test_usage_scripted_and_computed(fake: FakeOpenAI, url: str) -> None:
    fake.script(
        Reply.text("one", usage=(100, 7)), Reply.json({"k": 1}, usage=(50, 3)), Reply.text("abcdefgh")
    )
    api = client(url)
    first = api.chat.completions.create(model=MODEL, messages=user("hi"))
    second = api.chat.completions.create(model=MODEL, messages=user("hi"))
    assert first.usage is not None and second.usage is not None
    assert (first.usage.prompt_tokens, first.usage.completion_tokens, first.usage.total_tokens) == (
        100,
        7,
        107,
    )
    assert (second.usage.prompt_tokens, second.usage.completion_tokens) == (50, 3)
    assert fake.usage_total == (150, 10)
    third = api.chat.completions.create(model=MODEL, messages=user("12345678"))
    assert third.usage is not None
    assert (third.usage.prompt_tokens, third.usage.completion_tokens) == (2, 2)  # ceil(chars / 4)
    assert fake.usage_total == (152, 12)


def test_match_routes_replies_by_message_text(fake: FakeOpenAI, url: str) -> None:
    fake.script(Reply.text("for the reviewer"), match="REVIEW")
    fake.script(Reply.text("for anyone"))
    api = client(url)
    assert (
        api.chat.completions.create(model=MODEL, messages=user("plan")).choices[0].message.content
        == "for anyone"
    )
    assert fake.pending() == 1
    reviewed = api.chat.completions.create(model=MODEL, messages=user("please REVIEW this"))
    assert reviewed.choices[0].message.content == "for the reviewer"
    assert fake.pending() == 0


def test_hang_triggers_client_timeout(fake: FakeOpenAI, url: str) -> None:
    fake.script(Reply.hang(5.0), Reply.text("after the hang"))
    api = client(url, timeout=0.2, max_retries=0)
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        api.chat.completions.create(model=MODEL, messages=user("hi"))
    assert time.monotonic() - started < 2.0
    # The server is not blocked by the hang: the next request is answered at once.
    assert (
        api.chat.completions.create(model=MODEL, messages=user("hi")).choices[0].message.content
        == "after the hang"
    )
    deadline = time.monotonic() + 2.0
    while len(fake.exchanges) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(e.status for e in fake.exchanges) == [200, 504]


def test_models_list_and_retrieve(url: str) -> None:
    fake = FakeOpenAI(models=("gpt-4o-mini", "gpt-4o"))
    with ServerThread(fake.app) as server:
        api = client(server.url)
        assert [m.id for m in api.models.list()] == ["gpt-4o-mini", "gpt-4o"]
        model = api.models.retrieve("gpt-4o")
        assert (model.id, model.object, model.owned_by) == ("gpt-4o", "model", "system")
    assert [(e.method, e.path, e.status) for e in fake.exchanges] == [
        ("GET", "/models", 200),
        ("GET", "/models/gpt-4o", 200),
    ]


def test_unknown_path_is_an_openai_style_404(fake: FakeOpenAI, url: str) -> None:
    response = httpx.post(
        f"{url}/v1/embeddings", headers={"Authorization": "Bearer sk-test-standin"}, json={}
    )
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (POST /v1/embeddings)"


def test_a_reply_matched_on_several_substrings_goes_only_to_a_request_holding_all_of_them(
        fake: FakeOpenAI, url: str) -> None:
    """Two runs of one agent at once, each given its own replies (the pipeline bench scripts runs like this)."""
    fake.script(Reply.text("coder of run one"), match=("You are the Coder", "[run-1]"))
    fake.script(Reply.text("coder of run two"), match=("You are the Coder", "[run-2]"))
    fake.script(Reply.text("anyone"))

    def ask(text: str) -> str:
        done = client(url).chat.completions.create(model="gpt-4o-mini", messages=user(text))
        return str(done.choices[0].message.content)

    assert ask("You are the Reviewer [run-2]") == "anyone"  # holds one of the substrings only
    assert ask("You are the Coder [run-2]") == "coder of run two"
    assert ask("You are the Coder [run-1]") == "coder of run one"
    assert fake.pending() == 0
