"""The cache of base runs (what the tests did on a base commit), in Redis, bounded in time, number and size.

A base run costs one run of a repository's test command; runs of the same repository from the
same base commit with the same commands reuse it (`bot.flow.baseline` makes the key). Entries
live `TTL_SECONDS`, at most `MAX_ENTRIES` are kept (the oldest written go first), and an entry
of over `MAX_ENTRY_BYTES` is not stored.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import orjson
import redis

from bot.runs.store import PREFIX

TTL_SECONDS = 7 * 24 * 3600
MAX_ENTRIES = 2000
MAX_ENTRY_BYTES = 512_000
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
