"""`issuesmith doctor --recount-metrics`: count runs by state and the phase histograms again from the runs.

The scripts that create and move runs keep these counts (`bot.runs.tallies`), and the first scrape
after an upgrade builds them once; this rebuilds them on demand, e.g. after restoring a backup
taken by another version. One atomic Lua script (`bot.runs.recount.rebuild`): exact while runs change.
"""

from __future__ import annotations

import time

import redis

from bot.cli.doctor.result import Check, fail, ok
from bot.runs import recount


def recount_metrics(client: redis.Redis) -> Check:
    """Rebuild the tallies; the check says how many runs were counted and how long Redis was held."""
    started = time.perf_counter()
    try:
        runs = recount.rebuild(client)
    except redis.RedisError as exc:
        return fail("metrics recount", f"Redis refused it: {exc}",
                    "check that the Redis user may run scripts (EVAL), then run it again")
    return ok("metrics recount", f"runs by state and phase histograms counted again from {runs:,} runs "
                                 f"in {time.perf_counter() - started:.2f} s")
