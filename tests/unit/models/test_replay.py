"""The replay and recording model providers: transcripts in, the SDK's ChatCompletion out, and back."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from bot.cli.demo import TRANSCRIPT
from bot.core.errors import ConfigError
from bot.models.replay import Recorder, ReplayModel, agent_of, load
from standins.openai import FakeOpenAI, Reply
from standins.server import ServerThread


def request(agent: str, text: str = "hi") -> dict:
    system = f"You are the {agent} of issuesmith. Be good."
    return {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": system},
                                                 {"role": "user", "content": text}]}


def test_agent_is_read_from_the_system_prompt() -> None:
    assert agent_of(request("Coder")) == "coder"
    assert agent_of({"messages": [{"role": "user", "content": "You are the Coder of issuesmith"}]}) == "unknown"
    assert agent_of({"messages": [{"role": "system", "content": "You are helpful."}]}) == "unknown"


def test_each_agent_gets_its_own_replies_in_order(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in [
        {"agent": "coder", "message": {"tool_calls": [{"name": "view_file", "arguments": '{"path": "a.py"}'}]},
         "usage": {"prompt_tokens": 10, "completion_tokens": 2}},
        {"agent": "reviewer", "message": {"content": {"verdict": "approve"}}},
        {"agent": "coder", "message": {"content": "done"}}]) + "\n")
    replay = ReplayModel.from_file(path)
    review = replay.create(**request("Reviewer"))
    assert json.loads(review.choices[0].message.content or "") == {"verdict": "approve"}
    first = replay.create(**request("Coder"))
    [call] = first.choices[0].message.tool_calls or []
    assert (call.function.name, call.function.arguments) == ("view_file", '{"path": "a.py"}')
    assert first.choices[0].finish_reason == "tool_calls" and first.usage is not None
    assert (first.usage.prompt_tokens, first.usage.completion_tokens) == (10, 2)
    assert replay.create(**request("Coder")).choices[0].message.content == "done"
    assert replay.remaining() == {}
    with pytest.raises(ConfigError, match="no reply left for the coder"):
        replay.create(**request("Coder"))


def test_malformed_transcripts_say_where(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"agent": "coder", "message": {}}\n\n{"agent": 3}\n')
    with pytest.raises(ConfigError, match="malformed at line 3"):
        load(path)
    with pytest.raises(ConfigError, match="cannot read the model transcript"):
        load(tmp_path / "missing.jsonl")


def test_the_demo_transcript_loads() -> None:
    assert ReplayModel.from_file(TRANSCRIPT).remaining() == {"planner": 1, "coder": 4, "reviewer": 1, "tester": 3}


def test_a_recorded_live_exchange_replays_the_same(tmp_path: Path) -> None:
    model = FakeOpenAI(api_key="sk-replay-test-0000000000")
    model.script(Reply.tool_calls([("view_file", {"path": "x.py"})], usage=(50, 5)), Reply.json({"ok": True}),
                 Reply.text('{"ok": tr', finish_reason="length"), match="Coder of issuesmith")
    with ServerThread(model.app) as server:
        client = openai.OpenAI(api_key="sk-replay-test-0000000000", base_url=f"{server.url}/v1", max_retries=0)
        recorder = Recorder(client.chat.completions.create, tmp_path / "rec" / "run.jsonl")
        live = [recorder.create(**request("Coder", str(n))) for n in range(3)]
    replay = ReplayModel.from_file(tmp_path / "rec" / "run.jsonl")
    again = [replay.create(**request("Coder")) for _ in range(3)]
    for was, now in zip(live, again, strict=True):
        assert was.choices[0].message.content == now.choices[0].message.content
        assert was.choices[0].finish_reason == now.choices[0].finish_reason  # a cut-off reply replays cut off
        assert [c.function.model_dump() for c in was.choices[0].message.tool_calls or []] == \
               [c.function.model_dump() for c in now.choices[0].message.tool_calls or []]
        assert was.usage is not None and now.usage is not None
        assert (was.usage.prompt_tokens, was.usage.completion_tokens) == \
               (now.usage.prompt_tokens, now.usage.completion_tokens)
