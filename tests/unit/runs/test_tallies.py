"""The figures the state-change scripts keep equal a full recount, whatever happened to the runs.

Seeded random sequences of run creations, transitions, model calls, retries (the same call again)
and crashes (a call that never reached Redis, or whose answer was lost after it did) are played
against the real Redis; afterwards runs by state, the phase histograms and the per-model usage
must equal what reading every run gives (`bot.runs.recount`).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from bot.core.errors import InvalidTransition
from bot.runs import figures, recount, runindex, tallies
from bot.runs.model import TRANSITIONS, Run, State
from bot.runs.store import RunStore

FORWARD = {State.PLANNING: State.AWAITING_APPROVAL, State.AWAITING_APPROVAL: State.APPROVED,
           State.APPROVED: State.IMPLEMENTING, State.IMPLEMENTING: State.TESTING, State.TESTING: State.PR_OPEN,
           State.PR_OPEN: State.IMPLEMENTING, State.FAILED: State.IMPLEMENTING}
"""The way to a pull request (and its revision rounds), taken more often than the other moves."""
MODELS = ("gpt-4o-mini", "local", 'odd "model"')
ROLES = ("plan", "code", "review", "test", "fix")


class Crash(Exception):
    """The worker died around a Redis call."""


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, decode_responses=True)


def assert_tallies_match_a_recount(client: redis.Redis) -> None:
    states, phases = recount.full_recount(client)
    assert tallies.runs_by_state(client) == states
    kept = tallies.phase_durations(client)
    for phase, histogram in phases.items():
        assert kept[phase].buckets == histogram.buckets
        assert kept[phase].count == histogram.count
        assert kept[phase].sum == pytest.approx(histogram.sum)
    usage, logged = figures.model_usage(client), recount.model_usage_from_logs(client)
    assert set(usage) == set(logged)
    for labels, row in logged.items():
        assert usage[labels] == pytest.approx(row, abs=1e-5)


class Player:
    """Plays random operations on a store, crashing some of them."""

    def __init__(self, store: RunStore, rng: random.Random, name: str = "r") -> None:
        self.store, self.rng, self.name = store, rng, name
        self.ids: list[str] = []
        self.last: Callable[[], Any] | None = None

    def step(self) -> None:
        """One random operation; a retry repeats the previous one, a crash interrupts this one."""
        roll = self.rng.random()
        if roll < 0.1 and self.last is not None:
            operation = self.last  # a retry: the same call again
        elif roll < 0.2 or not self.ids:
            operation = self._create()
        elif roll < 0.8:
            operation = self._transition()
        else:
            operation = self._usage()
        self.last = operation
        self._run(operation, self.rng.random())

    def _run(self, operation: Callable[[], Any], fate: float) -> None:
        try:
            if fate < 0.1:
                self._before_redis(operation)
            elif fate < 0.2:
                self._after_redis(operation)
            else:
                operation()
        except (InvalidTransition, Crash):
            pass

    def _before_redis(self, operation: Callable[[], Any]) -> None:
        """The process dies before its script or transaction reaches Redis: nothing is written."""
        real_pipeline, real_create, real_transition = self.store.redis.pipeline, self.store._create, \
            self.store._transition

        def unsent(*args: Any, **kwargs: Any) -> Any:
            pipe = real_pipeline(*args, **kwargs)
            pipe.execute = lambda *a, **k: (pipe.reset(), _raise())[1]  # type: ignore[method-assign]
            return pipe

        self.store.redis.pipeline = unsent  # type: ignore[method-assign]
        self.store._create = self.store._transition = lambda *a, **k: _raise()  # type: ignore[assignment]
        try:
            operation()
        finally:
            self.store.redis.pipeline = real_pipeline  # type: ignore[method-assign]
            self.store._create, self.store._transition = real_create, real_transition

    def _after_redis(self, operation: Callable[[], Any]) -> None:
        """Redis did the work but the answer was lost with the process."""
        operation()
        raise Crash

    def _create(self) -> Callable[[], Any]:
        run_id = f"{self.name}{len(self.ids)}"
        self.ids.append(run_id)
        run = Run(id=run_id, repo="o/r", issue=self.rng.randrange(40), installation_id=1,
                  created_at=time.time() - self.rng.choice((0.5, 20, 400, 5000, 90_000, 10**6)))
        return lambda: self.store.create(run)

    def _transition(self) -> Callable[[], Any]:
        run_id = self.rng.choice(self.ids)
        run = self.store.get(run_id)
        legal, roll = sorted(TRANSITIONS[run.state]) if run else [], self.rng.random()
        if run and run.state in FORWARD and roll < 0.6:
            target = FORWARD[run.state]
        else:
            target = self.rng.choice(legal) if legal and roll < 0.9 else self.rng.choice(list(State))
        changes: dict[str, Any] = {}
        if target == State.APPROVED:
            changes = {"approved_at": time.time() - self.rng.choice((0.2, 40, 700, 20_000)), "approved_by": "carol"}
        return lambda: self.store.transition(run_id, target, **changes)

    def _usage(self) -> Callable[[], Any]:
        run_id = self.rng.choice(self.ids)
        model, role = self.rng.choice(MODELS), self.rng.choice(ROLES)
        prompt, completion = self.rng.randrange(5000), self.rng.randrange(500)
        cost = round(self.rng.random() / 100, 6)
        return lambda: self.store.add_usage(run_id, role, model, prompt, completion, cost)


def _raise() -> Any:
    raise Crash


@pytest.mark.parametrize("seed", range(12))
def test_tallies_equal_a_full_recount_after_random_transitions_retries_and_crashes(
        client: redis.Redis, seed: int) -> None:
    player = Player(RunStore(client), random.Random(seed))
    for _ in range(500):
        player.step()
    states, phases = recount.full_recount(client)
    assert sum(states.values()) > 20 and sum(1 for count in states.values() if count) >= 6  # it went places
    assert phases["plan"].count > 5 and phases["pull_request"].count > 0
    assert_tallies_match_a_recount(client)


def test_phases_are_timed_once_per_run_from_the_label_and_from_the_approval(client: redis.Redis) -> None:
    store = RunStore(client)
    store.create(Run(id="r1", repo="o/r", issue=1, installation_id=1, created_at=1.0))
    for target in (State.AWAITING_APPROVAL, State.PLANNING, State.AWAITING_APPROVAL):  # /revise: timed once
        store.transition("r1", target)
    store.transition("r1", State.APPROVED, approved_at=2.0)
    for target in (State.IMPLEMENTING, State.TESTING, State.PR_OPEN, State.IMPLEMENTING, State.TESTING,
                   State.PR_OPEN):  # a revision round: timed once
        store.transition("r1", target)
    phases = tallies.phase_durations(client)
    assert (phases["plan"].count, phases["pull_request"].count) == (1, 1)
    raw = client.hmget("issuesmith:run:r1", ["plan_seconds", "pr_seconds", "created_at", "approved_at"])
    assert phases["plan"].sum == pytest.approx(float(raw[0])) == pytest.approx(float(raw[1]) + 1.0)
    assert dict(phases["plan"].buckets)["+Inf"] == 1 and dict(phases["plan"].buckets)["604800.0"] == 0
    assert_tallies_match_a_recount(client)


def test_runs_outside_the_index_are_not_counted(client: redis.Redis) -> None:
    store = RunStore(client)
    client.hset("issuesmith:run:old", mapping=Run(id="old", repo="o/r", issue=1, installation_id=1).to_hash())
    store.transition("old", State.AWAITING_APPROVAL)  # a run from before the index: no count to move
    assert sum(tallies.runs_by_state(client).values()) == 0
    assert_tallies_match_a_recount(client)


def test_the_first_scrape_after_the_upgrade_counts_what_was_there(client: redis.Redis) -> None:
    player = Player(RunStore(client), random.Random(99))
    for _ in range(200):
        player.step()
    client.delete(tallies.RUNS_KEY, tallies.PHASES_KEY, recount.VERSION_KEY)  # as on a Redis from before
    client.hset(tallies.RUNS_KEY, "PLANNING", 7)  # and a count that is wrong
    assert recount.ensure(client) == client.zcard(runindex.KEY) > 10 and client.get(recount.VERSION_KEY)
    assert_tallies_match_a_recount(client)
    client.hset(tallies.RUNS_KEY, "PLANNING", 7)
    assert recount.ensure(client) == -1  # built already: nothing done
    assert recount.rebuild(client) > 0
    assert_tallies_match_a_recount(client)


def test_the_recount_is_exact_while_runs_keep_changing(client: redis.Redis, redis_url: str) -> None:
    done = threading.Event()

    def play(name: str, seed: int) -> None:
        player = Player(RunStore(redis.Redis.from_url(redis_url, decode_responses=True)), random.Random(seed), name)
        while not done.is_set():
            player.step()

    threads = [threading.Thread(target=play, args=(f"t{n}-", n)) for n in range(3)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(30):
            client.delete(recount.VERSION_KEY)
            client.hset(tallies.RUNS_KEY, "FAILED", 1000)  # garbage the recount must replace
            recount.ensure(client)
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert_tallies_match_a_recount(client)
