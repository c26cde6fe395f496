"""Prices, budgets and the model client's structured output, against the model stand-in."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
import redis
from pydantic import BaseModel

from bot.config.pricing import Budget, PriceTable, Share, UnpricedModel
from bot.core.errors import BudgetExceeded, ModelOutputInvalid
from bot.models.client import CallContext, ModelClient
from bot.models.sampling import Sampling, is_openai
from bot.models.schema import strict_schema
from bot.runs.plan import Plan
from bot.runs.store import RunStore
from standins.openai import FakeOpenAI, Reply
from standins.server import ServerThread
from tests.world import SAMPLE_PLAN


def test_prices_know_dated_snapshots_and_overrides() -> None:
    table = PriceTable({"local": (1.0, 2.0)})
    assert table.cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert table.cost("gpt-4o-2024-08-06", 1_000_000, 0) == pytest.approx(2.5)
    assert table.cost("local", 500_000, 500_000) == pytest.approx(1.5)
    assert not table.known("unknown-model") and table.price("unknown-model") is None
    with pytest.raises(UnpricedModel) as caught:  # $0 would let the dollar budget never bind
        table.cost("unknown-model", 10**6, 10**6)
    assert "ISSUESMITH_PRICES='{\"unknown-model\": [0, 0]}'" in caught.value.hint


def test_budget_refuses_the_call_that_would_exceed_it() -> None:
    budget = Budget(max_usd=1.0, max_tokens=10_000)
    budget.check(spent_usd=0.5, spent_tokens=5_000, next_usd=0.4, next_tokens=4_000)
    with pytest.raises(BudgetExceeded, match="token budget"):
        budget.check(spent_usd=0.0, spent_tokens=9_000, next_usd=0.0, next_tokens=2_000)
    with pytest.raises(BudgetExceeded, match=r"\$0\.9000 of \$1\.00"):
        budget.check(spent_usd=0.9, spent_tokens=0, next_usd=0.2, next_tokens=1)


def test_strict_schema_closes_every_object() -> None:
    schema = strict_schema(Plan)
    file_change = schema["$defs"]["FileChange"]
    assert schema["additionalProperties"] is False and file_change["additionalProperties"] is False
    assert set(schema["required"]) == set(schema["properties"])


@pytest.fixture
def model_server() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI(api_key="sk-unit-test-key-000000")
    with ServerThread(fake.app) as server:
        yield fake, f"{server.url}/v1"


@pytest.fixture
def store(redis_url: str) -> RunStore:
    return RunStore(redis.Redis.from_url(redis_url, decode_responses=True))


def client(base_url: str, store: RunStore, mode: str = "auto", budget: Budget | None = None,
           sampling: Sampling | None = None) -> ModelClient:
    sdk = openai.OpenAI(api_key="sk-unit-test-key-000000", base_url=base_url, max_retries=1, timeout=5)
    return ModelClient(sdk.chat.completions.create, "gpt-4o-mini", store, PriceTable(),
                       budget or Budget(5.0, 1_000_000), mode, sampling)


MESSAGES = [{"role": "system", "content": "Planner"}, {"role": "user", "content": "plan it"}]


def test_structured_output_uses_strict_json_schema_and_records_usage(model_server, store: RunStore) -> None:
    fake, url = model_server
    fake.script(Reply.json(SAMPLE_PLAN, usage=(1000, 200)))
    plan = client(url, store).structured(CallContext("r1", "plan"), MESSAGES, Plan)
    assert plan.title == SAMPLE_PLAN["title"]
    sent = fake.requests[0]["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["strict"] is True
    usage = store.usage("r1")
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["calls"]) == (1000, 200, 1)
    assert usage["cost_usd"] == pytest.approx((1000 * 0.15 + 200 * 0.6) / 1e6)
    [entry] = [e for e in store.entries("r1") if e["event"] == "model_call"]
    assert entry["prompt_tokens"] == 1000 and entry["step"] == "plan"


def test_endpoint_without_json_schema_falls_back_to_validated_json(redis_url: str, store: RunStore) -> None:
    fake = FakeOpenAI(api_key="sk-unit-test-key-000000", supports_json_schema=False)
    with ServerThread(fake.app) as server:
        fake.script(Reply.json(SAMPLE_PLAN))
        plan = client(f"{server.url}/v1", store).structured(CallContext("r2", "plan"), MESSAGES, Plan)
    assert plan.steps == SAMPLE_PLAN["steps"]
    assert [e.status for e in fake.exchanges] == [400, 200]
    assert fake.requests[1]["response_format"] == {"type": "json_object"}


def test_invalid_output_is_sent_back_with_the_error(model_server, store: RunStore) -> None:
    fake, url = model_server
    fake.script(Reply.text("not json at all"), Reply.json(SAMPLE_PLAN))
    client(url, store).structured(CallContext("r3", "plan"), MESSAGES, Plan)
    retry_message = fake.requests[1]["messages"][-1]["content"]
    assert "was not a valid Plan" in retry_message


def test_three_invalid_outputs_raise(model_server, store: RunStore) -> None:
    fake, url = model_server
    fake.script(*(Reply.json({"title": "only"}) for _ in range(3)))
    with pytest.raises(ModelOutputInvalid, match="3 times"):
        client(url, store).structured(CallContext("r4", "plan"), MESSAGES, Plan)


def test_budget_is_checked_before_the_call(model_server, store: RunStore) -> None:
    fake, url = model_server
    fake.script(Reply.json(SAMPLE_PLAN))
    with pytest.raises(BudgetExceeded):
        client(url, store, budget=Budget(5.0, 1000)).structured(CallContext("r5", "plan"), MESSAGES, Plan)
    assert fake.requests == [] and fake.pending() == 1


def test_an_attempt_held_to_its_share_stops_at_it_while_the_run_budget_has_room(model_server, store: RunStore) -> None:
    fake, url = model_server
    fake.script(Reply.json(SAMPLE_PLAN), Reply.json(SAMPLE_PLAN))
    share = Share(max_usd=5.0, max_tokens=20_000)
    held = client(url, store, budget=Budget(5.0, 10**6)).within(share)
    held.structured(CallContext("r5s", "plan"), MESSAGES, Plan)
    assert share.spent_tokens == sum(store.usage("r5s")[k] for k in ("prompt_tokens", "completion_tokens")) > 0
    share.add(0.0, 20_000 - share.spent_tokens)  # as if its earlier calls had used it all
    with pytest.raises(BudgetExceeded, match="this attempt's share of the run's budget") as caught:
        held.structured(CallContext("r5s", "plan"), MESSAGES, Plan)
    assert "fewer `candidates`" in caught.value.hint
    assert len(fake.requests) == 1 and fake.pending() == 1  # refused before the call, like the run's own budget


class Echo(BaseModel):
    """Arguments of a test tool."""

    text: str


def test_tool_calls_are_bounded(model_server, store: RunStore) -> None:
    from bot.models.client import Tool

    fake, url = model_server
    calls = []
    tool = Tool("echo", "echo text", Echo, lambda a: calls.append(a.text) or a.text)
    fake.script(Reply.tool_calls([("echo", {"text": "one"}), ("echo", {"text": "two"})]),
                Reply.json(SAMPLE_PLAN))
    client(url, store).structured(CallContext("r6", "plan"), MESSAGES, Plan, tools=[tool], max_tool_calls=1)
    assert calls == ["one"]
    tool_messages = [m for m in fake.requests[1]["messages"] if m["role"] == "tool"]
    assert "Tool budget used up" in tool_messages[1]["content"]
    assert "tools" not in fake.requests[1]


def test_a_reply_cut_off_at_the_cap_is_told_so_not_re_asked_blindly(model_server, store: RunStore) -> None:
    fake, url = model_server
    truncated = '{"title": "Count words", "summary": "word_count spl'
    fake.script(Reply.text(truncated, finish_reason="length"), Reply.json(SAMPLE_PLAN))
    plan = client(url, store).structured(CallContext("r7", "plan"), MESSAGES, Plan)
    told = fake.requests[1]["messages"][-1]["content"]
    assert plan.title == SAMPLE_PLAN["title"]
    assert "cut off" in told and "output limit of 4096 tokens" in told and "smaller tool calls" in told
    assert fake.requests[1]["messages"][-2] == {"role": "assistant", "content": truncated}
    [event] = [e for e in store.entries("r7") if e["event"] == "output_cut_off"]
    assert event["max_output_tokens"] == 4096


def test_a_tool_call_cut_off_at_the_cap_is_not_run(model_server, store: RunStore) -> None:
    from bot.models.client import Tool

    fake, url = model_server
    calls: list[str] = []
    tool = Tool("echo", "echo text", Echo, lambda a: calls.append(a.text) or a.text)
    fake.script(Reply.tool_calls([("echo", '{"text": "a very long te')], finish_reason="length"),
                Reply.json(SAMPLE_PLAN))
    client(url, store).structured(CallContext("r9", "plan"), MESSAGES, Plan, tools=[tool], max_tool_calls=3)
    assert calls == []
    assistant, note = fake.requests[1]["messages"][-2:]
    assert assistant == {"role": "assistant", "content": "(my reply was cut off while calling echo)"}
    assert "a cut-off tool call was not run" in note["content"]


def test_cut_offs_are_bounded(model_server, store: RunStore) -> None:
    fake, url = model_server
    fake.script(*(Reply.text('{"title": "', finish_reason="length") for _ in range(2)))
    with pytest.raises(ModelOutputInvalid, match="cut off at the output cap of 4096 tokens 2 times") as caught:
        client(url, store).structured(CallContext("r10", "plan"), MESSAGES, Plan)
    assert "ISSUESMITH_MODEL_MAX_OUTPUT_TOKENS" in caught.value.hint and fake.pending() == 0


def test_a_whole_answer_that_reached_the_cap_is_taken(model_server, store: RunStore) -> None:
    fake, url = model_server
    fake.script(Reply.json(SAMPLE_PLAN, finish_reason="length"))
    assert client(url, store).structured(CallContext("r11", "plan"), MESSAGES, Plan).title == SAMPLE_PLAN["title"]
    assert len(fake.requests) == 1


def test_the_output_cap_goes_under_both_names_except_to_openai(model_server, store: RunStore) -> None:
    fake, url = model_server
    fake.script(Reply.json(SAMPLE_PLAN), Reply.json(SAMPLE_PLAN))
    client(url, store).structured(CallContext("r12", "plan"), MESSAGES, Plan)
    local = client(url, store, sampling=Sampling.for_endpoint(url, max_output_tokens=512))
    local.structured(CallContext("r12", "plan"), MESSAGES, Plan)
    assert fake.requests[0]["max_completion_tokens"] == 4096 and "max_tokens" not in fake.requests[0]
    assert fake.requests[1]["max_completion_tokens"] == fake.requests[1]["max_tokens"] == 512


def test_the_temperature_is_sent_unless_unset(model_server, store: RunStore) -> None:
    fake, url = model_server
    fake.script(Reply.json(SAMPLE_PLAN), Reply.json(SAMPLE_PLAN), Reply.json(SAMPLE_PLAN))
    for sampling in (None, Sampling(temperature=0.7), Sampling(temperature=None)):
        client(url, store, sampling=sampling).structured(CallContext("r13", "plan"), MESSAGES, Plan)
    assert [r.get("temperature", "unset") for r in fake.requests] == [0.0, 0.7, "unset"]


@pytest.mark.parametrize(("base_url", "openai_s"), [
    (None, True), ("https://api.openai.com/v1", True), ("https://acme.openai.azure.com/openai/v1", True),
    ("http://127.0.0.1:11434/v1", False), ("http://localhost:8080/v1", False),
    ("https://api.openai.com.example.net/v1", False)])
def test_which_endpoints_are_openais(base_url: str | None, openai_s: bool) -> None:
    assert is_openai(base_url) is openai_s


def test_model_timeouts_are_bounded_and_reported(model_server, store: RunStore) -> None:
    from bot.core.errors import describe, is_retryable

    fake, url = model_server
    fake.script(Reply.hang(5), Reply.hang(5))
    sdk = openai.OpenAI(api_key="sk-unit-test-key-000000", base_url=url, max_retries=1, timeout=0.3)
    model = ModelClient(sdk.chat.completions.create, "gpt-4o-mini", store, PriceTable(), Budget(5.0, 1_000_000))
    with pytest.raises(openai.APITimeoutError) as caught:
        model.structured(CallContext("r8", "plan"), MESSAGES, Plan)
    assert is_retryable(caught.value) and "could not be reached" in describe(caught.value)
    assert store.usage("r8")["calls"] == 0  # nothing was charged for calls that never answered
