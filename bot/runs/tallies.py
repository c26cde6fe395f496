"""Run figures kept by the state-change scripts themselves: runs by state, and how long phases took.

`RunStore`'s create and transition scripts (`bot.runs.store`) add to these inside the same Lua
script as the state change they count, so they can never disagree with the runs, and a scrape
reads two small hashes whatever the number of runs:

* `issuesmith:metrics:runs_by_state` — state → how many indexed runs (`issuesmith:runs`) are in it;
* `issuesmith:metrics:phase_seconds` — histograms by phase, in the format of `bot.runs.figures`:
  `plan` (the run created, i.e. the label → its first plan ready for approval) and `pull_request`
  (the approval → the run's pull request first open).

Each phase is observed once per run: the script writes the duration into the run's hash
(`plan_seconds`, `pr_seconds`), and a run that already has it is not observed again, so a retried
job or a revision round does not count twice, and a recount (`bot.runs.recount`) rebuilds exactly
the same histograms from the runs. Only names and numbers are kept.
"""

from __future__ import annotations

from typing import cast

import redis

from bot.runs.figures import Histogram, bucket_label, cumulative, histograms
from bot.runs.model import State

RUNS_KEY = "issuesmith:metrics:runs_by_state"
PHASES_KEY = "issuesmith:metrics:phase_seconds"
PHASE_BUCKETS: tuple[float, ...] = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600, 86400, 604800)
"""Upper bounds (seconds) of the phase buckets, from a second to a week; `+Inf` is added after them."""

PHASES = {"plan": ("AWAITING_APPROVAL", "plan_seconds", "created_at"),
          "pull_request": ("PR_OPEN", "pr_seconds", "approved_at")}
"""Phase → (the state that ends it, the run field holding its duration, the run field it starts at)."""


def lua_functions() -> str:
    """Lua source of the scripts' shared functions: `count(key, old, new)` moves a run between states,
    `time_phase(run_key, phases_key, target, now)` observes the phase `target` ends, once per run;
    `bucket(seconds)`, `observe(key, phase, seconds)` and `PHASES` (target → phase, run field, start field)."""
    bounds = ", ".join(repr(float(b)) for b in PHASE_BUCKETS)
    names = ", ".join(f"'{bucket_label(b)}'" for b in PHASE_BUCKETS)
    phases = "".join(f"  ['{end}'] = {{'{phase}', '{field}', '{start}'}},\n"
                     for phase, (end, field, start) in PHASES.items())
    return _LUA.replace("@BOUNDS@", bounds).replace("@NAMES@", names).replace("@PHASES@", phases)


_LUA = """
local BOUNDS = {@BOUNDS@}
local NAMES = {@NAMES@}
local PHASES = {
@PHASES@}
local function count(key, old, new)
  if old then redis.call('HINCRBY', key, old, -1) end
  if new then redis.call('HINCRBY', key, new, 1) end
end
local function bucket(seconds)
  for i, bound in ipairs(BOUNDS) do
    if seconds <= bound then return NAMES[i] end
  end
  return '+Inf'
end
local function observe(key, phase, seconds)
  redis.call('HINCRBY', key, '["' .. phase .. '","' .. bucket(seconds) .. '"]', 1)
  redis.call('HINCRBY', key, '["' .. phase .. '","count"]', 1)
  redis.call('HINCRBYFLOAT', key, '["' .. phase .. '","sum"]', string.format('%.17g', seconds))
end
local function time_phase(run_key, phases_key, target, now)
  local phase = PHASES[target]
  if not phase then return end
  local got = redis.call('HMGET', run_key, phase[2], phase[3])
  local start = tonumber(got[2]) or 0
  if got[1] or start <= 0 then return end
  local seconds = math.max(0, tonumber(now) - start)
  redis.call('HSET', run_key, phase[2], string.format('%.17g', seconds))
  observe(phases_key, phase[1], seconds)
end
"""


def runs_by_state(client: redis.Redis) -> dict[State, int]:
    """Indexed runs in each state, every state present (0 when none)."""
    raw = cast(dict[str, str], client.hgetall(RUNS_KEY))
    return {state: int(raw.get(state.value, 0)) for state in State}


def phase_durations(client: redis.Redis) -> dict[str, Histogram]:
    """The phase histograms by phase, every phase present."""
    found = histograms(client, PHASES_KEY, PHASE_BUCKETS)
    return {phase: found.get(phase) or cumulative({}, PHASE_BUCKETS) for phase in PHASES}
