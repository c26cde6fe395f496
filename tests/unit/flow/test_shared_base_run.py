"""Runs that need the same base run at the same time make it once (`bot.flow.baseline`, real Redis).

`bench/pipeline.py` at 4 workers showed 4 base runs for 2 base commits: implement jobs of one
repository that reached their base run together each ran the whole test suite on the same commit.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest
import redis

from bot.config.repo import RepoConfig
from bot.config.settings import Settings
from bot.flow.baseline import base_run
from bot.flow.pipeline import Cancelled
from bot.runs.baselines import BaselineCache, baseline_key
from bot.sandboxes.testresults import TestReport
from tests.world import wait_until


class Runs:
    """The test runs the base runs asked for; each holds until `go` is set (a suite taking its time)."""

    def __init__(self, counted: bool = True) -> None:
        self.started: list[str] = []
        self.go = threading.Event()
        self.counted = counted

    def __call__(self, ctx: Any, touched: list[str], on: str = "") -> tuple[TestReport, None]:
        self.started.append(on)
        assert self.go.wait(20)
        report = TestReport("pytest", 3, 1, 0, 0, "junit" if self.counted else "exit_code", 1, False, "",
                            failing=("tests/test_a.py::test_old",))
        return report, None


def _impl(client: redis.Redis, runs: Runs) -> Any:
    settings = Settings(_env_file=None, webhook_secret="s" * 32)  # type: ignore[call-arg]
    services = SimpleNamespace(settings=settings, redis_text=client)
    brief = SimpleNamespace(test_command="pytest -q", branch="main")
    return SimpleNamespace(services=services, brief=brief, run=SimpleNamespace(repo="acme/tool"),
                           config=RepoConfig(), baseline_commit=lambda ctx: "c0ffee", status=lambda *a: None,
                           run_tests=runs)


class Ctx:
    """What a step gives `base_run`: its log and its check."""

    step = "test"

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.cancelled = False

    def log(self, event: str, **detail: Any) -> None:
        self.entries.append({"event": event, **detail})

    def check(self) -> None:
        if self.cancelled:
            raise Cancelled("the run was cancelled")


def _together(impl: Any, ctxs: list[Ctx]) -> tuple[list[threading.Thread], list[Any]]:
    found: list[Any] = [None] * len(ctxs)

    def one(n: int) -> None:
        found[n] = base_run(impl, ctxs[n], [])  # type: ignore[arg-type]

    threads = [threading.Thread(target=one, args=(n,)) for n in range(len(ctxs))]
    for thread in threads:
        thread.start()
    return threads, found


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, decode_responses=True)


def _waiting(client: redis.Redis, count: int) -> bool:
    return int(client.info("clients")["blocked_clients"]) >= count


def test_runs_needing_one_base_run_at_once_make_it_once(client: redis.Redis) -> None:
    runs = Runs()
    impl = _impl(client, runs)
    ctxs = [Ctx() for _ in range(4)]
    threads, found = _together(impl, ctxs)
    wait_until(lambda: len(runs.started) == 1 and _waiting(client, 3), what="one base run, three waiting")
    runs.go.set()
    for thread in threads:
        thread.join(20)
    assert runs.started == ["c0ffee"]
    assert all(base is not None and base.failures == found[0].failures for base in found)
    events = sorted(bool(c.entries[-1]["cached"]) for c in ctxs)
    assert events == [False, True, True, True]


def test_when_the_shared_base_run_cannot_be_kept_each_waiting_run_makes_its_own(client: redis.Redis) -> None:
    runs = Runs(counted=False)  # counts from the exit code alone: not cached
    impl = _impl(client, runs)
    threads, _ = _together(impl, [Ctx() for _ in range(3)])
    wait_until(lambda: len(runs.started) == 1 and _waiting(client, 2), what="one base run, two waiting")
    runs.go.set()
    for thread in threads:
        thread.join(20)
    assert len(runs.started) == 3


def test_a_waiting_run_that_is_cancelled_stops_waiting(client: redis.Redis) -> None:
    runs = Runs()
    impl = _impl(client, runs)
    first, second = Ctx(), Ctx()
    threads, _ = _together(impl, [first])
    wait_until(lambda: len(runs.started) == 1, what="the base run")
    errors: list[BaseException] = []

    def waiter() -> None:
        try:
            base_run(impl, second, [])
        except Cancelled as exc:
            errors.append(exc)

    other = threading.Thread(target=waiter)
    other.start()
    wait_until(lambda: _waiting(client, 1), what="a run waiting")
    second.cancelled = True
    other.join(10)
    assert not other.is_alive() and errors
    runs.go.set()
    threads[0].join(20)


def test_a_lapsed_claim_lets_the_waiter_make_the_base_run(client: redis.Redis) -> None:
    cache = BaselineCache(client)
    key = baseline_key("acme/tool", "c0ffee")
    assert cache.claim(key, lease=60) and not cache.claim(key, lease=60)
    client.delete(f"{key}:claim")  # its holder died and the lease ran out
    assert cache.wait(key, 5, lambda: None) is None
    assert cache.claim(key, lease=60)


def test_a_claim_ends_with_its_lease(client: redis.Redis) -> None:
    cache = BaselineCache(client)
    key = baseline_key("acme/tool", "beef")
    assert cache.claim(key, lease=30)
    assert 0 < int(client.ttl(f"{key}:claim")) <= 30  # type: ignore[arg-type]
