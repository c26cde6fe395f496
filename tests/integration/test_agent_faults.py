"""The mistake catalogue (`standins/mistakes.py`) through the whole demo flow: every typical small-model
mistake either recovers (the same pull request as the good trajectory's, in a bounded number of extra
model calls) or ends in the failure it names; never a crash, a hang or an empty pull request.

And every server profile (`standins/profiles.py`) through the same flow: a pull request, or a named
failure where the server's setting cannot work (a context window shorter than the output cap)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.cli.demo import TRANSCRIPT
from standins import trajectory
from standins.mistakes import CATALOGUE, Mistake, mistake
from standins.profiles import PROFILES
from tests.flows import Outcome, demo_flow
from tests.world import World, make_world

GOOD_CALLS = 9  # the demo transcript's replies: plan, two Tester turns (the reproduction), four Coder turns (the
# last after its run of the reproduction test), one Tester turn after the change, review
EXTRA_CALLS = 2  # at most this many more for a recovered mistake
FAILS_IN = {"vllm-short": "longer than the server's context window"}
"""Profiles whose setting cannot work, and a phrase of the failure they must end in."""


@pytest.fixture
def world_for(tmp_path: Path, redis_url: str, app_keys: tuple[str, str]) -> Iterator[Callable[[str], World]]:
    """Makes the test's world, its model server playing a profile; contracts are checked for OpenAI's."""
    made: dict[str, World] = {}

    def world(profile: str) -> World:
        made[profile] = make_world(tmp_path / profile, redis_url, app_keys, profile=profile,
                                   reproduce=True)  # the demo's flow as deployed: the reproduction first
        return made[profile]

    try:
        yield world
        if "openai" in made:
            problems = made["openai"].contract_problems()
            assert not problems, "exchanges break the published API descriptions:\n" + "\n".join(problems[:20])
    finally:
        for made_world in made.values():
            made_world.close()


@pytest.mark.parametrize("mistake", CATALOGUE, ids=lambda m: m.name)
def test_each_mistake_recovers_or_fails_as_named(mistake: Mistake, world_for: Callable[[str], World]) -> None:
    outcome = demo_flow(world_for("openai"), mistake.apply(trajectory.load(TRANSCRIPT)))
    _no_empty_pull_request(outcome)
    if mistake.fails_as:
        assert outcome.state == "FAILED" and outcome.named_failure, outcome
        assert mistake.fails_as in outcome.failure, outcome.failure
        return
    assert outcome.pull_request, f"{mistake.name} did not recover: {outcome.state} {outcome.failure[:500]}"
    assert outcome.correct_patch, f"{mistake.name} landed another patch:\n{outcome.diff}"
    assert GOOD_CALLS <= outcome.calls <= GOOD_CALLS + EXTRA_CALLS, outcome


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_server_profile_runs_the_demo_to_a_pull_request_or_a_named_failure(
        profile: str, world_for: Callable[[str], World]) -> None:
    outcome = demo_flow(world_for(profile), trajectory.load(TRANSCRIPT))
    _no_empty_pull_request(outcome)
    if profile in FAILS_IN:
        assert outcome.state == "FAILED" and outcome.named_failure, outcome
        assert FAILS_IN[profile] in outcome.failure and "`/retry`" in outcome.failure, outcome.failure
        assert outcome.calls == 0  # refused before any answer, and not retried
        return
    assert outcome.pull_request, f"{profile}: {outcome.state} {outcome.failure[:500]}"
    assert outcome.correct_patch, outcome.diff
    assert outcome.calls == GOOD_CALLS
    assert outcome.refused <= (3 if PROFILES[profile].refused_formats else 0)  # one refusal, retried by the SDK


@pytest.mark.parametrize("profile", ["ollama", "llamacpp", "lmstudio"])
@pytest.mark.parametrize("name", ["tool_call_as_text", "fenced_json", "double_encoded_answer", "empty_reply"])
def test_mistakes_that_meet_a_server_quirk_still_recover(profile: str, name: str,
                                                         world_for: Callable[[str], World]) -> None:
    outcome = demo_flow(world_for(profile), mistake(name).apply(trajectory.load(TRANSCRIPT)))
    assert outcome.pull_request and outcome.correct_patch, f"{profile} × {name}: {outcome.failure[:500]}"


def _no_empty_pull_request(outcome: Outcome) -> None:
    assert outcome.state != "PR_OPEN" or outcome.diff.strip(), "a pull request without a change"
    assert outcome.state in ("PR_OPEN", "FAILED"), f"the run did not end: {outcome.state}"
