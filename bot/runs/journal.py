"""Where a run's pipeline keeps its log and verified step outputs: the run's execution log and a Redis hash."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from bot.runs.store import PREFIX, RunStore


class RedisJournal:
    """The pipeline's journal (`bot.flow.pipeline.Journal`) on Redis.

    The log is the run's execution log; the outputs are a hash of JSON by step.
    """

    def __init__(self, store: RunStore, *, redact: Callable[[str], str] | None = None) -> None:
        self.store = store
        self._redact = redact

    @staticmethod
    def key(run_id: str) -> str:
        """The hash holding the run's verified step outputs."""
        return f"{PREFIX}:run:{run_id}:steps"

    def log(self, run_id: str, step: str, event: str, **detail: Any) -> None:
        """Append to the run's execution log (string values redacted when a redactor is given)."""
        if self._redact is not None:
            detail = {k: self._redact(v) if isinstance(v, str) else v for k, v in detail.items()}
        self.store.log(run_id, step, event, **detail)

    def save_output(self, run_id: str, step: str, output: Mapping[str, Any]) -> None:
        """Store the step's output as JSON."""
        self.store.redis.hset(self.key(run_id), step, json.dumps(output))

    def outputs(self, run_id: str) -> dict[str, dict[str, Any]]:
        """All saved outputs of the run."""
        raw = cast(dict[Any, Any], self.store.redis.hgetall(self.key(run_id)))
        return {_text(k): json.loads(v) for k, v in raw.items()}

    def forget(self, run_id: str, steps: Iterable[str]) -> None:
        """Delete the saved outputs of `steps`."""
        names = list(steps)
        if names:
            self.store.redis.hdel(self.key(run_id), *names)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
