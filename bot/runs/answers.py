"""The answer a delivery got: decided once, replayed by any retry of the same delivery.

An intake job decides what a command does (a state transition, or a refusal) and then answers on
the issue (a reaction, a reply). GitHub may fail between the two: the job runs again, and a job
that decided afresh would see its own transition and contradict itself ("`/approve` does not apply
now: the run is approved"). So the answer is written to Redis at the moment of the decision (for a
transition, in the same Lua script that changes the run's state, `RunStore.transition`), keyed by
the delivery; a retry that finds it finishes the remaining side effects and decides nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import orjson

ANSWER_PREFIX = "issuesmith:answer:"
DEFAULT_TTL_SECONDS = 7 * 24 * 3600


def answer_key(delivery: str) -> str:
    """The Redis key holding the answer to a delivery."""
    return ANSWER_PREFIX + delivery


@dataclass(frozen=True)
class FollowUp:
    """The step job a decision queued (queued again on a replay: enqueueing is idempotent)."""

    step: str
    version: int
    attempt: int


@dataclass(frozen=True)
class Answer:
    """What a delivery was answered: the job's result, the reply's text, a reaction to the comment.

    `run_id` names the run whose status comment a replay brings up to date ("" when none);
    `per_comment` says the reply is one per commented comment rather than one per delivery.
    """

    result: str
    body: str
    reaction: str = ""
    per_comment: bool = False
    run_id: str = ""
    follow_up: FollowUp | None = None

    def dumps(self) -> str:
        """The answer as stored."""
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def loads(cls, raw: str | bytes) -> Answer:
        """An answer read back from Redis."""
        data = orjson.loads(raw)
        follow = data.pop("follow_up", None)
        return cls(**data, follow_up=FollowUp(**follow) if follow else None)
