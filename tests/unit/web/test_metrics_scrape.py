"""`/metrics`' Redis figures at 0 and N runs, and a scrape's Redis work not growing with the runs."""

from __future__ import annotations

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.runs import recount, tallies
from bot.runs.model import Run, State
from bot.runs.store import RunStore
from bot.web.metrics import RedisFigures

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def text(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, decode_responses=True)


def scrape(redis_url: str, text: redis.Redis) -> Samples:
    registry = CollectorRegistry()
    registry.register(RedisFigures(redis.Redis.from_url(redis_url), text, {"m1"}))
    exposition = generate_latest(registry).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(exposition) for s in family.samples}


def commands_of_a_scrape(redis_url: str, text: redis.Redis) -> int:
    """Commands Redis processed for one scrape (this test is the only client of its database)."""
    before = int(text.info("stats")["total_commands_processed"])
    scrape(redis_url, text)
    return int(text.info("stats")["total_commands_processed"]) - before - 1  # the INFO itself


def make_runs(store: RunStore, count: int) -> None:
    for n in range(count):
        store.create(Run(id=f"r{n}", repo="o/r", issue=n, installation_id=1, created_at=1_700_000_000.0 + n))
        if n % 3:
            store.transition(f"r{n}", State.AWAITING_APPROVAL)
        if n % 3 == 2:
            store.transition(f"r{n}", State.APPROVED, approved_at=1_700_000_000.0 + n)


def test_no_runs_every_state_and_phase_at_zero(redis_url: str, text: redis.Redis) -> None:
    samples = scrape(redis_url, text)
    assert {dict(k)["state"]: v for (n, k), v in samples.items() if n == "issuesmith_runs"} == dict.fromkeys(
        (s.value for s in State), 0.0)
    for phase in tallies.PHASES:
        assert samples[("issuesmith_run_phase_seconds_count", frozenset({("phase", phase)}))] == 0
        assert samples[("issuesmith_run_phase_seconds_bucket", frozenset({("phase", phase), ("le", "+Inf")}))] == 0
    assert samples[("issuesmith_redis_up", frozenset())] == 1
    assert text.get(recount.VERSION_KEY) == recount.VERSION  # the first scrape built the (empty) tallies


def test_runs_by_state_and_phases_at_n_runs(redis_url: str, text: redis.Redis) -> None:
    make_runs(RunStore(text), 30)
    samples = scrape(redis_url, text)
    runs = {dict(k)["state"]: v for (n, k), v in samples.items() if n == "issuesmith_runs"}
    assert (runs["PLANNING"], runs["AWAITING_APPROVAL"], runs["APPROVED"], sum(runs.values())) == (10, 10, 10, 30)
    assert samples[("issuesmith_run_phase_seconds_count", frozenset({("phase", "plan")}))] == 20
    assert samples[("issuesmith_run_phase_seconds_count", frozenset({("phase", "pull_request")}))] == 0


def test_a_scrape_sends_redis_as_many_commands_at_300_runs_as_at_none(redis_url: str, text: redis.Redis) -> None:
    scrape(redis_url, text)  # builds the tallies once
    empty = commands_of_a_scrape(redis_url, text)
    make_runs(RunStore(text), 300)
    assert commands_of_a_scrape(redis_url, text) == empty < 40


def test_the_first_scrape_counts_runs_from_before_the_tallies(redis_url: str, text: redis.Redis) -> None:
    make_runs(RunStore(text), 12)
    text.delete(tallies.RUNS_KEY, tallies.PHASES_KEY, recount.VERSION_KEY)  # as a Redis from before the upgrade
    samples = scrape(redis_url, text)
    assert sum(v for (n, _), v in samples.items() if n == "issuesmith_runs") == 12
    assert samples[("issuesmith_runs", frozenset({("state", "AWAITING_APPROVAL")}))] == 4
