"""The cache of base runs (what the tests did on a base commit), in Redis, bounded in time, number and size.

A base run costs one run of a repository's test command; runs of the same repository from the
same base commit with the same commands reuse it (`bot.flow.baseline` makes the key). Entries
live `TTL_SECONDS`, at most `MAX_ENTRIES` are kept (the oldest written go first), and an entry
of over `MAX_ENTRY_BYTES` is not stored.

Runs that miss the cache at once (several jobs from one base commit) make one base run, not one each: the
first `claim`s the key, the others `wait` for its `release` (woken by it, not polling) and read what it
stored; a claim lapses after its lease, and a waiter whose holder stored nothing makes its own base run.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

import orjson
import redis

from bot.runs.store import PREFIX

TTL_SECONDS = 7 * 24 * 3600
MAX_ENTRIES = 2000
MAX_ENTRY_BYTES = 512_000
DONE_SECONDS = 60
"""How long a finished claim's wake-up signal is kept (waiters pass it on to each other)."""
INDEX = f"{PREFIX}:baselines"
"""The cached keys scored by when they were written (a sorted set), to drop the oldest past MAX_ENTRIES."""


def baseline_key(*parts: str) -> str:
    """The cache key of a base run: a hash of what decides its outcome (repository, commit, commands)."""
    digest = hashlib.sha256(orjson.dumps(list(parts))).hexdigest()[:32]
    return f"{PREFIX}:baseline:{digest}"


class BaselineCache:
    """Base runs as JSON objects by key (see `baseline_key`)."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored object, or None when there is none (or it is not an object)."""
        raw = self.redis.get(key)
        if raw is None:
            return None
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    def put(self, key: str, value: dict[str, Any]) -> bool:
        """Store `value` for TTL_SECONDS (False when it is too large), dropping the oldest past MAX_ENTRIES."""
        data = orjson.dumps(value)
        if len(data) > MAX_ENTRY_BYTES:
            return False
        now = time.time()
        pipe = self.redis.pipeline()
        pipe.set(key, data, ex=TTL_SECONDS)
        pipe.zadd(INDEX, {key: now})
        pipe.zremrangebyscore(INDEX, "-inf", now - TTL_SECONDS)
        pipe.execute()
        self._evict()
        return True

    def claim(self, key: str, lease: float) -> bool:
        """Whether the caller is to make the base run of `key` now: True for the first to ask, who holds the claim
        until `release` or for `lease` seconds at most; False while another holds it (then `wait`)."""
        return bool(self.redis.set(f"{key}:claim", "1", nx=True, ex=max(1, int(lease))))

    def release(self, key: str) -> None:
        """End the claim on `key` (after storing its base run, or not) and wake whoever waits for it."""
        pipe = self.redis.pipeline()
        pipe.delete(f"{key}:claim")
        pipe.rpush(f"{key}:done", "1")
        pipe.expire(f"{key}:done", DONE_SECONDS)
        pipe.execute()

    def wait(self, key: str, lease: float, check: Callable[[], None]) -> dict[str, Any] | None:
        """Wait for the claim on `key` to end, at most `lease` seconds; then what was stored for it (None: nothing,
        make the base run yourself). `check` runs every second of the wait (it raises to stop waiting)."""
        deadline = time.monotonic() + lease
        done = f"{key}:done"
        while time.monotonic() < deadline:
            check()
            if self.redis.blpop([done], timeout=1):
                self.release_waiter(done)
                return self.get(key)
            if not self.redis.exists(f"{key}:claim"):  # ended before we waited, or its holder died
                return self.get(key)
        return self.get(key)

    def release_waiter(self, done: str) -> None:
        """Pass the wake-up signal on to the next waiter (each takes it with BLPOP)."""
        pipe = self.redis.pipeline()
        pipe.rpush(done, "1")
        pipe.expire(done, DONE_SECONDS)
        pipe.execute()

    def _evict(self) -> None:
        """Delete the oldest entries past MAX_ENTRIES."""
        extra = int(self.redis.zcard(INDEX)) - MAX_ENTRIES
        if extra <= 0:
            return
        oldest = [k.decode() if isinstance(k, bytes) else str(k)
                  for k in self.redis.zrange(INDEX, 0, extra - 1)]
        if oldest:
            self.redis.delete(*oldest)
            self.redis.zrem(INDEX, *oldest)
