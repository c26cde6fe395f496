"""Run state in Redis: runs, plan versions, the step log, usage, comment ids, cached permissions.

Every state change is one Lua script, so it is atomic and validated against the state
machine in `bot.runs.model`: an illegal transition is refused and nothing is written. The same
script keeps the figures `/metrics` reads (`bot.runs.tallies`), and a model call's figures go in
the transaction that adds it to the run (`add_usage`), so they cannot drift from the runs.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, cast

import orjson
import redis

from bot.core.errors import InvalidTransition
from bot.runs import figures, runindex, tallies
from bot.runs.answers import DEFAULT_TTL_SECONDS, Answer, answer_key
from bot.runs.model import ACTIVE, Run, State, sources_of

PREFIX = "issuesmith"
RUN_INDEX = runindex.KEY
REPLY_TTL_SECONDS = 7 * 24 * 3600
"""How long a run keeps its model replies for a job that resumes it (`bot.models.memo`)."""

_CREATE = tallies.lua_functions() + """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then return {'exists', current} end
if current then
  local state = redis.call('HGET', ARGV[2] .. current, 'state')
  if state and string.find(ARGV[3], ',' .. state .. ',', 1, true) then return {'busy', current} end
end
local before = false
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then before = redis.call('HGET', KEYS[2], 'state') end
redis.call('HSET', KEYS[2], unpack(ARGV, 6))
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
count(KEYS[4], before, ARGV[5])
return {'created', ARGV[1]}
"""
"""Create a run: the issue's pointer, the run, its place in the index and the runs-by-state count, at once."""

_TRANSITION = tallies.lua_functions() + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'missing', ''} end
if not string.find(ARGV[2], ',' .. state .. ',', 1, true) then return {'refused', state} end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updated_at', ARGV[6], unpack(ARGV, 7))
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4]) end
if redis.call('ZSCORE', KEYS[3], ARGV[5]) then
  count(KEYS[4], state, ARGV[1])
  time_phase(KEYS[1], KEYS[5], ARGV[1], ARGV[6])
end
return {'ok', state}
"""
"""Move a run: its state, the answer it owes, the runs-by-state count and the phase it ends (`bot.runs.tallies`)."""


def run_id_for(delivery: str) -> str:
    """A run id derived from the delivery that started it, so a re-run intake finds its run."""
    return "r" + hashlib.sha256(delivery.encode()).hexdigest()[:11]


@dataclass(frozen=True)
class PlanRecord:
    """One plan version of a run."""

    version: int
    plan: dict[str, Any]
    hash: str
    comment_id: int = 0
    posted_at: str = ""


class RunStore:
    """Reads and writes run state; takes a Redis client created with `decode_responses=True`."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._create = client.register_script(_CREATE)
        self._transition = client.register_script(_TRANSITION)

    # keys
    @staticmethod
    def _run_key(run_id: str) -> str:
        return f"{PREFIX}:run:{run_id}"

    @staticmethod
    def _issue_key(repo: str, issue: int) -> str:
        return f"{PREFIX}:issue:{repo}#{issue}"

    # runs
    def create(self, run: Run) -> tuple[str, str]:
        """Create `run` as the issue's run unless another active run holds the issue.

        Returns ("created" | "exists" | "busy", run id now holding the issue).
        """
        now = time.time()
        run.created_at = run.created_at or now
        run.updated_at = now
        flat = [item for pair in run.to_hash().items() for item in pair]
        active = "," + ",".join(ACTIVE) + ","
        keys = [self._issue_key(run.repo, run.issue), self._run_key(run.id), RUN_INDEX, tallies.RUNS_KEY]
        args = [run.id, f"{PREFIX}:run:", active, repr(run.created_at), run.state.value, *flat]
        outcome, holder = self._create(keys=keys, args=args)
        return str(outcome), str(holder)

    def get(self, run_id: str) -> Run | None:
        """The run with this id, or None."""
        raw = cast(dict[str, str], self.redis.hgetall(self._run_key(run_id)))
        return Run.from_hash(raw) if raw else None

    def require(self, run_id: str) -> Run:
        """The run with this id; raises if it does not exist."""
        run = self.get(run_id)
        if run is None:
            raise InvalidTransition(f"run {run_id} does not exist")
        return run

    def page(self, before: runindex.Cursor | None = None, limit: int = 50) -> tuple[list[Run], runindex.Cursor | None]:
        """Up to `limit` runs created before `before` (from the newest when None), newest first, read from
        the index; and the cursor of the next (older) page, None on the last one."""
        ids, following = runindex.older(self.redis, before, limit)
        pipe = self.redis.pipeline(transaction=False)
        for run_id in ids:
            pipe.hgetall(self._run_key(run_id))
        return [Run.from_hash(raw) for raw in pipe.execute() if raw], following

    def for_issue(self, repo: str, issue: int) -> Run | None:
        """The issue's current (latest) run, active or not."""
        run_id = cast(str | None, self.redis.get(self._issue_key(repo, issue)))
        return self.get(run_id) if run_id else None

    def transition(self, run_id: str, target: State, *, only_from: set[State] | None = None,
                   answer: tuple[str, Answer] | None = None, answer_ttl: int = DEFAULT_TTL_SECONDS,
                   **changes: Any) -> State:
        """Move the run to `target` atomically if the state machine allows it; returns the old state.

        `only_from` narrows the allowed source states further (compare-and-set). `answer`, a
        (delivery, answer) pair, is stored in the same script (`bot.runs.answers`): the transition
        and the answer it owes are written together or not at all.
        Raises `InvalidTransition` when refused; nothing is written then.
        """
        sources = [s for s in sources_of(target) if only_from is None or s in only_from]
        flat = [str(x) for k, v in changes.items() for x in (k, _flatten(v))]
        run_key = self._run_key(run_id)
        keys = [run_key, answer_key(answer[0]) if answer else run_key, RUN_INDEX, tallies.RUNS_KEY, tallies.PHASES_KEY]
        owed = answer[1].dumps() if answer else ""
        outcome, previous = self._transition(
            keys=keys, args=[target.value, "," + ",".join(sources) + ",", owed, str(answer_ttl), run_id,
                             repr(time.time()), *flat])
        if outcome == "missing":
            raise InvalidTransition(f"run {run_id} does not exist")
        if outcome == "refused":
            raise InvalidTransition(f"a run in state {previous} cannot move to {target}")
        return State(previous)

    def update(self, run_id: str, **changes: Any) -> None:
        """Set fields that are not the state (e.g. the plan version) on an existing run."""
        if "state" in changes:
            raise ValueError("use transition() to change a run's state")
        flat = {k: _flatten(v) for k, v in {**changes, "updated_at": time.time()}.items()}
        self.redis.hset(self._run_key(run_id), mapping=cast(dict[Any, Any], flat))

    # plans
    def add_plan(self, run_id: str, version: int, plan: dict[str, Any], plan_hash: str) -> None:
        """Store plan `version` (written once; a re-run job overwrites it with the same content)."""
        record = {"version": version, "plan": plan, "hash": plan_hash}
        self.redis.hset(f"{self._run_key(run_id)}:plans", str(version), orjson.dumps(record))

    def mark_plan_posted(self, run_id: str, version: int, comment_id: int, posted_at: str) -> None:
        """Remember which comment shows plan `version` and when GitHub says it was created."""
        record = self.plan(run_id, version)
        if record is None:
            raise InvalidTransition(f"run {run_id} has no plan v{version}")
        data = {"version": version, "plan": record.plan, "hash": record.hash,
                "comment_id": comment_id, "posted_at": posted_at}
        self.redis.hset(f"{self._run_key(run_id)}:plans", str(version), orjson.dumps(data))

    def plan(self, run_id: str, version: int) -> PlanRecord | None:
        """Plan `version` of the run, or None."""
        raw = self.redis.hget(f"{self._run_key(run_id)}:plans", str(version))
        return PlanRecord(**orjson.loads(raw)) if raw else None

    # step log
    def log(self, run_id: str, step: str, event: str, **detail: Any) -> None:
        """Append one structured entry to the run's execution log (and add its figures, `bot.runs.figures`)."""
        pipe = self.redis.pipeline()
        self._append(pipe, run_id, step, event, detail)
        pipe.execute()

    def _append(self, pipe: redis.client.Pipeline, run_id: str, step: str, event: str, detail: dict[str, Any]) -> None:
        """Queue one log entry and the figures it stands for on `pipe`."""
        entry = {"ts": round(time.time(), 3), "step": step, "event": event, **detail}
        pipe.rpush(f"{self._run_key(run_id)}:log", orjson.dumps(entry, default=str))
        figures.record(pipe, step, event, detail)

    def entries(self, run_id: str) -> list[dict[str, Any]]:
        """The run's execution log, oldest first."""
        return [orjson.loads(raw) for raw in self.redis.lrange(f"{self._run_key(run_id)}:log", 0, -1)]

    # usage
    def add_usage(self, run_id: str, step: str, model: str, prompt_tokens: int, completion_tokens: int,
                  cost_usd: float, **detail: Any) -> None:
        """Add one model call, in one transaction: to the run's totals, to the figures by model and role
        (`bot.runs.figures`), and to the run's log as a `model_call` entry (with `detail`)."""
        key = f"{self._run_key(run_id)}:usage"
        pipe = self.redis.pipeline()
        pipe.hincrby(key, "prompt_tokens", prompt_tokens)
        pipe.hincrby(key, "completion_tokens", completion_tokens)
        pipe.hincrby(key, "calls", 1)
        pipe.hincrbyfloat(key, "cost_usd", cost_usd)
        figures.record_call(pipe, model, step, prompt_tokens, completion_tokens, cost_usd)
        self._append(pipe, run_id, step, "model_call", {
            "model": model, "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "cost_usd": round(cost_usd, 6), **detail})
        pipe.execute()

    def usage(self, run_id: str) -> dict[str, float]:
        """The run's totals: prompt_tokens, completion_tokens, calls, cost_usd."""
        raw = cast(dict[str, str], self.redis.hgetall(f"{self._run_key(run_id)}:usage"))
        totals = {"prompt_tokens": 0.0, "completion_tokens": 0.0, "calls": 0.0, "cost_usd": 0.0}
        totals.update({k: float(v) for k, v in raw.items()})
        return totals

    # comments we posted, by marker
    def comment_id(self, run_id: str, marker: str) -> int | None:
        """The id of the comment carrying `marker`, if we stored it."""
        raw = self.redis.hget(f"{self._run_key(run_id)}:comments", marker)
        return int(raw) if raw else None

    def remember_comment(self, run_id: str, marker: str, comment_id: int) -> None:
        """Store the id of the comment carrying `marker`."""
        self.redis.hset(f"{self._run_key(run_id)}:comments", marker, str(comment_id))

    # notices GitHub refused (posted later by `jobs.notices`)
    def keep_pending_notice(self, run_id: str, key: str, body: str) -> None:
        """Keep notice `key` of a run, which could not be posted, until it is."""
        self.redis.hset(f"{self._run_key(run_id)}:pending_notices", key, body)

    def pending_notices(self, run_id: str) -> dict[str, str]:
        """The run's notices still to post, by key."""
        return dict(cast(dict[str, str], self.redis.hgetall(f"{self._run_key(run_id)}:pending_notices")))

    def drop_pending_notice(self, run_id: str, key: str) -> None:
        """Notice `key` has been posted."""
        self.redis.hdel(f"{self._run_key(run_id)}:pending_notices", key)

    # the job working on a run now (bot.flow.interrupts)
    def begin_execution(self, run_id: str, record: dict[str, Any]) -> dict[str, Any] | None:
        """Note that a job works on the run now (`record`: job, step, host, pid); the record of a job that
        began and never ended (it died mid-way), if there is one."""
        previous = self.redis.getset(f"{self._run_key(run_id)}:executing", orjson.dumps(record).decode())
        return cast(dict[str, Any], orjson.loads(previous)) if previous else None

    def current_execution(self, run_id: str) -> dict[str, Any] | None:
        """The record of the job working on the run now (or of one that died mid-way), if any."""
        raw = self.redis.get(f"{self._run_key(run_id)}:executing")
        return cast(dict[str, Any], orjson.loads(raw)) if raw else None

    def end_execution(self, run_id: str) -> None:
        """The job working on the run ended (however it ended)."""
        self.redis.delete(f"{self._run_key(run_id)}:executing")

    def count_interruption(self, run_id: str, key: str) -> int:
        """Count one interruption of `key` (a step in an attempt); how many there have been."""
        return int(cast(int, self.redis.hincrby(f"{self._run_key(run_id)}:interruptions", key, 1)))

    # replies a resumed job is given again (bot.models.memo)
    def kept_reply(self, run_id: str, memo: str, digest: str) -> str | None:
        """The model reply kept for the request with `digest` in the run's scope `memo`, if any."""
        value = self.redis.hget(f"{self._run_key(run_id)}:replies:{memo}", digest)
        return value.decode() if isinstance(value, bytes) else cast(str | None, value)

    def keep_reply(self, run_id: str, memo: str, digest: str, reply: str) -> None:
        """Keep a model reply of the run for `REPLY_TTL_SECONDS` after the run's last one."""
        key = f"{self._run_key(run_id)}:replies:{memo}"
        with self.redis.pipeline() as pipe:
            pipe.hset(key, digest, reply)
            pipe.expire(key, REPLY_TTL_SECONDS)
            pipe.execute()

    # answers to deliveries (bot.runs.answers)
    def answer(self, delivery: str) -> Answer | None:
        """The answer recorded for a delivery, if it was decided before."""
        raw = self.redis.get(answer_key(delivery))
        return Answer.loads(raw) if raw else None

    def keep_answer(self, delivery: str, answer: Answer, ttl: int = DEFAULT_TTL_SECONDS) -> Answer:
        """Record `answer` for a delivery unless one is recorded already; returns the one that stands."""
        if self.redis.set(answer_key(delivery), answer.dumps(), ex=ttl, nx=True):
            return answer
        return self.answer(delivery) or answer

    # permissions
    def cached_permission(self, repo: str, login: str) -> str | None:
        """A recently looked-up permission of `login` on `repo`, if still cached."""
        return cast(str | None, self.redis.get(f"{PREFIX}:perm:{repo}:{login.lower()}"))

    def cache_permission(self, repo: str, login: str, permission: str, ttl: int) -> None:
        """Cache `login`'s permission on `repo` for `ttl` seconds."""
        if ttl > 0:
            self.redis.set(f"{PREFIX}:perm:{repo}:{login.lower()}", permission, ex=ttl)

    # the run's pull request and its revision rounds (bot.flow.revise)
    @staticmethod
    def _pull_key(repo: str, number: int) -> str:
        return f"{PREFIX}:pull:{repo}#{number}"

    def link_pull(self, run_id: str, repo: str, number: int, branch: str) -> None:
        """Remember that pull request `number` of `repo` (from `branch`) belongs to the run."""
        self.redis.set(self._pull_key(repo, number), run_id)
        self.update(run_id, pr_number=number, branch=branch)

    def for_pull(self, repo: str, number: int) -> Run | None:
        """The run that opened pull request `number` of `repo`, if one of ours did."""
        run_id = cast(str | None, self.redis.get(self._pull_key(repo, number)))
        return self.get(run_id) if run_id else None

    def claim_round(self, run_id: str, request: str, round_no: int) -> int:
        """Bind a revision request (e.g. `review-<id>`) to `round_no` unless it is bound already.

        Returns the round the request belongs to: `round_no` when this call bound it, else the
        round an earlier delivery (or an earlier run of the same job) bound it to.
        """
        key = f"{self._run_key(run_id)}:revision-requests"
        if self.redis.hsetnx(key, request, str(round_no)):
            return round_no
        return int(cast(str, self.redis.hget(key, request)))

    def release_round(self, run_id: str, request: str) -> None:
        """Forget a request's round (it was refused before its round started)."""
        self.redis.hdel(f"{self._run_key(run_id)}:revision-requests", request)

    def save_round(self, run_id: str, round_no: int, record: dict[str, Any]) -> None:
        """Store (or replace) what revision round `round_no` was asked and what it did."""
        self.redis.hset(f"{self._run_key(run_id)}:rounds", str(round_no), orjson.dumps(record))

    def round_record(self, run_id: str, round_no: int) -> dict[str, Any] | None:
        """Revision round `round_no` of the run, or None."""
        raw = self.redis.hget(f"{self._run_key(run_id)}:rounds", str(round_no))
        return cast(dict[str, Any], orjson.loads(raw)) if raw else None


def _flatten(value: Any) -> str:
    if isinstance(value, list):
        return "\x1f".join(str(v) for v in value)
    if isinstance(value, State):
        return value.value
    return str(value)

