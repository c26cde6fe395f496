"""Counting the figures of `bot.runs.tallies` again from the runs themselves.

A Redis from before the tallies has runs but no counts. `ensure` rebuilds them once, lazily
(the first scrape does it), in one Lua script that reads every indexed run and writes the counts
and `issuesmith:metrics:version` together. Being one script, it is atomic: no state change can
fall between its reads and its writes, so the counts are exact under any concurrency, and a
second caller (another scraper, `issuesmith doctor --recount-metrics`) finds the version set
and does nothing, unless it forces a rebuild. It blocks Redis while it runs (about a second per
million runs), once.

`full_recount` and `model_usage_from_logs` read every run from Python: what the tests compare
the tallies with, and what `/metrics` used to do on every scrape.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import orjson
import redis

from bot.runs import runindex, tallies
from bot.runs.figures import MODEL_FIGURES, Histogram, bucket_of, cumulative
from bot.runs.model import State

VERSION_KEY = "issuesmith:metrics:version"
VERSION = "1"
"""Bumped when the tallies change meaning, so they are rebuilt once."""
RUN_PREFIX = "issuesmith:run:"
_CHUNK = 1000

_REBUILD = tallies.lua_functions() + """
if ARGV[1] ~= '1' and redis.call('GET', KEYS[4]) == ARGV[2] then return -1 end
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local states, phases = {}, {}
local function add(field, amount) phases[field] = (phases[field] or 0) + amount end
for _, id in ipairs(ids) do
  local run = ARGV[3] .. id
  local state = redis.call('HGET', run, 'state')
  if state then states[state] = (states[state] or 0) + 1 end
  for _, phase in pairs(PHASES) do
    local seconds = tonumber(redis.call('HGET', run, phase[2]))
    if seconds then
      add('["' .. phase[1] .. '","' .. bucket(seconds) .. '"]', 1)
      add('["' .. phase[1] .. '","count"]', 1)
      add('["' .. phase[1] .. '","sum"]', seconds)
    end
  end
end
redis.call('DEL', KEYS[2], KEYS[3])
for state, n in pairs(states) do redis.call('HSET', KEYS[2], state, n) end
for field, n in pairs(phases) do redis.call('HSET', KEYS[3], field, string.format('%.17g', n)) end
redis.call('SET', KEYS[4], ARGV[2])
return #ids
"""


def ensure(client: redis.Redis) -> int:
    """Build the tallies unless this version built them already; the runs counted, -1 when nothing was done."""
    if client.get(VERSION_KEY) in (VERSION, VERSION.encode()):
        return -1
    return _rebuild(client, force=False)


def rebuild(client: redis.Redis) -> int:
    """Count the tallies again from every indexed run, whatever is there; returns the runs counted."""
    return _rebuild(client, force=True)


def _rebuild(client: redis.Redis, force: bool) -> int:
    keys = [runindex.KEY, tallies.RUNS_KEY, tallies.PHASES_KEY, VERSION_KEY]
    return int(cast(int, client.eval(_REBUILD, len(keys), *keys, "1" if force else "0", VERSION, RUN_PREFIX)))


def _indexed(client: redis.Redis) -> Iterator[list[str]]:
    """Every indexed run id, in chunks."""
    ids = [i.decode() if isinstance(i, bytes) else str(i) for i in client.zrange(runindex.KEY, 0, -1)]
    for start in range(0, len(ids), _CHUNK):
        yield ids[start:start + _CHUNK]


def full_recount(client: redis.Redis) -> tuple[dict[State, int], dict[str, Histogram]]:
    """Runs by state and phase histograms, counted from every indexed run (reads each one)."""
    states = dict.fromkeys(State, 0)
    observed: dict[str, dict[str, float]] = {phase: {} for phase in tallies.PHASES}
    fields = [field for _, field, _ in tallies.PHASES.values()]
    for chunk in _indexed(client):
        pipe = client.pipeline(transaction=False)
        for run_id in chunk:
            pipe.hmget(f"{RUN_PREFIX}{run_id}", ["state", *fields])
        for state, *durations in pipe.execute():
            if state is not None:
                states[State(_text(state))] += 1
            for phase, seconds in zip(tallies.PHASES, durations, strict=True):
                if seconds is not None:
                    _observe(observed[phase], float(seconds))
    return states, {phase: cumulative(values, tallies.PHASE_BUCKETS) for phase, values in observed.items()}


def _observe(values: dict[str, float], seconds: float) -> None:
    bucket = bucket_of(seconds, tallies.PHASE_BUCKETS)
    values[bucket] = values.get(bucket, 0.0) + 1
    values["count"] = values.get("count", 0.0) + 1
    values["sum"] = values.get("sum", 0.0) + seconds


def model_usage_from_logs(client: redis.Redis) -> dict[tuple[str, str], dict[str, float]]:
    """Calls, tokens and cost by (model, role), added up from the `model_call` entries of every run's log
    (indexed or not: the figures count every call)."""
    totals: dict[tuple[str, str], dict[str, float]] = {}
    keys = list(client.scan_iter(match=f"{RUN_PREFIX}*:log", count=1000))
    for start in range(0, len(keys), _CHUNK):
        pipe = client.pipeline(transaction=False)
        for key in keys[start:start + _CHUNK]:
            pipe.lrange(key, 0, -1)
        for log in pipe.execute():
            for entry in map(orjson.loads, log):
                if entry.get("event") == "model_call":
                    row = totals.setdefault((str(entry.get("model", "")), str(entry.get("step", ""))),
                                            dict.fromkeys(MODEL_FIGURES, 0.0))
                    row["calls"] += 1
                    for key in ("prompt_tokens", "completion_tokens", "cost_usd"):
                        row[key] += float(entry.get(key, 0))
    return totals


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
