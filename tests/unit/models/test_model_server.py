"""`python -m standins.model_server`: the OpenAI stand-in as a process, playing a profile and replaying a transcript."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import openai
import pytest

from bot.cli.demo import TRANSCRIPT

KEY = "sk-unit-model-server-000000"
PLANNER = [{"role": "system", "content": "You are the Planner of issuesmith."},
           {"role": "user", "content": "Plan the fix; answer in json."}]


@contextmanager
def served(*args: str) -> Iterator[tuple[subprocess.Popen[bytes], openai.OpenAI]]:
    """The model server started with `args`; yields it and an SDK client pointed at it. Stopped (SIGTERM) after."""
    proc = subprocess.Popen([sys.executable, "-m", "standins.model_server", "--transcript", str(TRANSCRIPT),
                             "--api-key", KEY, *args], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    first = proc.stdout.readline().decode()
    try:
        assert first.startswith("listening on http://"), first
        yield proc, openai.OpenAI(api_key=KEY, base_url=first.split()[-1] + "/v1", max_retries=0, timeout=20)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_it_replays_the_transcript_under_the_profile_asked_for_and_stops_on_sigterm() -> None:
    with served("--profile", "llamacpp") as (proc, sdk):
        with pytest.raises(openai.InternalServerError, match="Input should be 'text' or 'json_object'"):
            sdk.chat.completions.create(model="gpt-4o-mini", messages=PLANNER,
                                        response_format={"type": "json_schema", "json_schema": {
                                            "name": "p", "schema": {"type": "object"}}})
        answer = sdk.chat.completions.create(model="gpt-4o-mini", messages=PLANNER)
    assert "Count words separated by any whitespace" in (answer.choices[0].message.content or "")
    assert answer.usage is not None and answer.usage.prompt_tokens == 2140  # the transcript's recorded usage
    assert proc.returncode == 0
    assert proc.stdout is not None and b"8 scripted replies were not asked for" in proc.stdout.read()


def test_estimate_usage_reports_the_stand_ins_count_of_the_request() -> None:
    with served("--estimate-usage") as (_, sdk):
        answer = sdk.chat.completions.create(model="gpt-4o-mini", messages=PLANNER)
    text = len("\n".join(m["content"] for m in PLANNER))  # the text of the messages, four characters a token
    assert answer.usage is not None and answer.usage.prompt_tokens == -(-text // 4)
