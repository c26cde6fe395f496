"""The cache of base runs in real Redis: found again by key, expiring, bounded in number and size."""

from __future__ import annotations

import pytest
import redis

from bot.runs import baselines
from bot.runs.baselines import INDEX, BaselineCache, baseline_key


@pytest.fixture
def cache(redis_url: str) -> BaselineCache:
    return BaselineCache(redis.Redis.from_url(redis_url, decode_responses=True))


def test_a_base_run_is_found_by_its_commit_and_commands_only(cache: BaselineCache) -> None:
    key = baseline_key("o/r", "abc", "pytest", "")
    assert cache.put(key, {"what": "3 passed"})
    assert cache.get(baseline_key("o/r", "abc", "pytest", "")) == {"what": "3 passed"}
    for other in (("o/r", "abd", "pytest", ""), ("o/r", "abc", "pytest -x", ""), ("o/s", "abc", "pytest", ""),
                  ("o/r", "abc", "pytest", "pip install .")):
        assert cache.get(baseline_key(*other)) is None
    assert 0 < cache.redis.ttl(key) <= baselines.TTL_SECONDS  # type: ignore[operator]


def test_what_is_not_an_object_or_too_large_is_not_kept(cache: BaselineCache) -> None:
    cache.redis.set(baseline_key("x"), "[1, 2]")
    cache.redis.set(baseline_key("y"), "not json")
    assert cache.get(baseline_key("x")) is None and cache.get(baseline_key("y")) is None
    assert not cache.put(baseline_key("z"), {"failing": ["t" * 1000] * 600})
    assert cache.get(baseline_key("z")) is None


def test_past_the_bound_the_oldest_entries_go(cache: BaselineCache, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(baselines, "MAX_ENTRIES", 3)
    keys = [baseline_key(str(i)) for i in range(5)]
    for key in keys:
        cache.put(key, {"n": key})
    assert [cache.get(key) is not None for key in keys] == [False, False, True, True, True]
    assert cache.redis.zcard(INDEX) == 3
