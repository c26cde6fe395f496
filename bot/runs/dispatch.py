"""The dispatcher: turns inbox entries (`bot.runs.inbox`) into the RQ intake jobs the web process used to queue.

At least once, never twice: an entry is acknowledged only after its job exists, and the job id is the
delivery id (`enqueue_intake` refuses a second one). So a dispatcher that dies between reading an entry
and queueing its job loses nothing (the entry stays pending and is claimed again), and one that dies
between queueing and acknowledging doubles nothing. `issuesmith worker` runs one in a thread
(`Dispatcher.serve`); `--burst` and the tests empty the inbox with `Dispatcher.drain`.
"""

from __future__ import annotations

import logging
import threading

import redis
from rq import Queue

from bot.core.logs import bound
from bot.runs.inbox import Entry, InboxReader
from bot.runs.queueing import RetryPolicy, enqueue_intake

log = logging.getLogger("issuesmith.dispatch")
BATCH = 100
"""Entries taken per read."""
BLOCK_MS = 1000
"""How long one read waits for a new entry (so a stop request is seen within about a second)."""
FIRST_WAIT, MAX_WAIT = 0.5, 10.0
"""Backoff while Redis is unreachable (seconds)."""


class Dispatcher:
    """Queues the intake job of each inbox entry, then acknowledges the entry."""

    def __init__(self, reader: InboxReader, queue: Queue, policy: RetryPolicy, keep_seconds: int,
                 reclaim_seconds: float) -> None:
        self._reader = reader
        self._queue = queue
        self._policy = policy
        self._keep = keep_seconds
        self._reclaim_ms = max(0, int(reclaim_seconds * 1000))

    def step(self, block_ms: int | None = None) -> int:
        """Claim stale entries, read new ones (waiting up to `block_ms`), queue their jobs; how many entries."""
        entries = self._reader.claim_stale(self._reclaim_ms, BATCH)
        entries += self._reader.read(BATCH, None if entries else block_ms)
        self.dispatch(entries)
        return len(entries)

    def dispatch(self, entries: list[Entry]) -> None:
        """Queue the intake job of each entry (idempotent), then acknowledge them all."""
        for entry in entries:
            self._queue_one(entry)
        self._reader.done([entry.id for entry in entries])

    def drain(self) -> int:
        """Dispatch until no entry is left that this dispatcher may take; how many entries it dispatched."""
        self._reader.ensure_group()
        total = 0
        while taken := self.step():
            total += taken
        return total

    def serve(self, stop: threading.Event) -> None:
        """Dispatch until `stop` is set, riding out Redis outages with backoff (one log line each way).

        Any other error is logged and retried the same way: the thread must outlive whatever one entry does.
        """
        wait, down = FIRST_WAIT, False
        while not stop.is_set():
            try:
                self.step(BLOCK_MS)
            except Exception as exc:
                if not down:
                    _log_failure(exc)
                down = True
                stop.wait(wait)
                wait = min(wait * 2, MAX_WAIT)
                continue
            if down:
                log.warning("inbox reachable again: dispatching resumed")
            wait, down = FIRST_WAIT, False

    def _queue_one(self, entry: Entry) -> None:
        with bound(delivery=entry.delivery):
            if entry.intent is None:
                log.error("inbox entry without a readable intent: dropped", extra={"entry": entry.id.decode()})
                return
            fresh = enqueue_intake(self._queue, entry.intent, self._policy, self._keep)
            log.info("delivery dispatched" if fresh else "delivery already dispatched",
                     extra={"kind": entry.intent.kind, "repo": entry.intent.repo,
                            "issue": entry.intent.issue_number})


def _log_failure(exc: Exception) -> None:
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        log.error("inbox unreachable: dispatching paused, retrying with backoff", extra={"error": repr(exc)})
    else:
        log.exception("dispatching failed: retrying with backoff")
