"""The run index: every run id in a sorted set scored by its `created_at`, and pages read from it.

`RunStore.create` adds a run to it in the script that creates the run. A page is found by a
cursor, the (created_at, run id) of the last run of the page before, not by a position, so a
run created while someone is paging shows up on the first page and never shifts a later one.
Runs created at the same instant are ordered by id, as Redis orders equal scores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

import redis

KEY = "issuesmith:runs"
_CURSOR = re.compile(r"(\d{1,12}(?:\.\d{1,20})?)~([A-Za-z0-9_-]{1,64})")


@dataclass(frozen=True)
class Cursor:
    """Where a page ends: the created_at and id of its last (oldest) run."""

    created_at: float
    run_id: str

    def __str__(self) -> str:
        """As it goes in a URL: `1712345678.1234567~r0123456789a` (the score exactly, as `repr` writes it)."""
        return f"{self.created_at!r}~{self.run_id}"

    @classmethod
    def parse(cls, text: str) -> Cursor | None:
        """The cursor a URL holds, or None if it is not one."""
        match = _CURSOR.fullmatch(text)
        return cls(float(match[1]), match[2]) if match else None


def older(client: redis.Redis, before: Cursor | None, limit: int) -> tuple[list[str], Cursor | None]:
    """Up to `limit` run ids older than `before` (from the newest when None), newest first; and the
    cursor of the next page, None when nothing is older. Reads `limit` + 1 entries and the ties of one score."""
    limit = max(limit, 1)
    if before is None:
        rows = cast(list[tuple[str, float]], client.zrevrange(KEY, 0, limit, withscores=True))
    else:
        rows = _ties(client, before) + cast(list[tuple[str, float]], client.zrevrangebyscore(
            KEY, f"({before.created_at!r}", "-inf", start=0, num=limit + 1, withscores=True))
    page = rows[:limit]
    following = Cursor(page[-1][1], page[-1][0]) if len(rows) > limit else None
    return [run_id for run_id, _ in page], following


def _ties(client: redis.Redis, before: Cursor) -> list[tuple[str, float]]:
    """Runs with the cursor's score whose id sorts before the cursor's (they come after it, newest first)."""
    same = cast(list[tuple[str, float]], client.zrevrangebyscore(
        KEY, repr(before.created_at), repr(before.created_at), withscores=True))
    return [(run_id, score) for run_id, score in same if run_id < before.run_id]
