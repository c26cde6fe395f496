"""The inbox of relevant webhook deliveries: the web process appends, the worker's dispatcher takes.

The web path must answer 2xx only once a delivery is stored, and a redelivery must not be queued
twice. Both are one Redis round trip here: a Lua script (`APPEND`) sets the delivery's *seen* key
(`issuesmith:delivery:<id>`, kept `ISSUESMITH_DELIVERY_TTL_SECONDS`) only if it is absent and, in
the same atomic step, appends the intent to a Redis stream (`issuesmith:inbox`). The web process
sends it with `redis.asyncio` (`AsyncInbox`): no thread, no RQ; the appends of concurrent requests
share one script call.

The worker reads the stream through a consumer group (`InboxReader`): an entry stays *pending*
until it is acknowledged, which `bot.runs.dispatch` does only after the RQ job exists. A dispatcher
that dies holding entries leaves them pending; another one claims them once they have been idle
for `ISSUESMITH_INBOX_RECLAIM_SECONDS`. Turning an entry into a job twice is harmless: the job id
is the delivery id and RQ refuses a second one (`bot.runs.queueing.enqueue_intake`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
import redis
import redis.asyncio

from bot.runs.intents import Intent

INBOX = "issuesmith:inbox"
GROUP = "dispatch"
SEEN_PREFIX = "issuesmith:delivery:"
APPEND = """
local taken = {}
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1]) then
    redis.call('XADD', KEYS[1], '*', 'delivery', ARGV[2 * i - 2], 'intent', ARGV[2 * i - 1])
    taken[i - 1] = 1
  else
    taken[i - 1] = 0
  end
end
return taken
"""
"""KEYS: the inbox, then each delivery's seen key; ARGV: seconds to remember a delivery, then each delivery's id
and intent (JSON). Returns, per delivery, 1 if appended, 0 if its id was taken in before."""
MAX_BATCH = 128
"""Deliveries one `APPEND` takes at most (Redis runs a script alone: keep each one short)."""


def seen_key(delivery: str) -> str:
    """The key that remembers a delivery id was taken in."""
    return SEEN_PREFIX + delivery


class AsyncInbox:
    """The web process's side: append a delivery's intent, once per delivery id.

    Appends requested while an `APPEND` is on its way to Redis wait for it, then go together in the
    next one (at once when none is on its way): a quiet server pays one round trip per delivery, a
    busy one shares the round trip and the client's per-command work among all the deliveries of the
    moment. Each delivery's check and append stay one atomic step, and each caller gets its own
    answer; if Redis fails in the middle of a batch, every caller of the batch gets the error (503) and
    a delivery already stored is answered "taken in before" when GitHub sends it again.
    """

    def __init__(self, client: redis.asyncio.Redis, keep_seconds: int) -> None:
        self._append = client.register_script(APPEND)
        self._keep = keep_seconds
        self._waiting: list[tuple[Intent, asyncio.Future[Any]]] = []
        self._sending: asyncio.Task[None] | None = None

    async def append(self, intent: Intent) -> bool:
        """Store `intent` in the inbox; False when its delivery id was taken in before.

        Raises `redis.RedisError` when Redis cannot store it: the caller answers 503. (The client should
        retry at most once, without backoff: a pooled connection Redis closed is replaced, an outage is
        answered at once.)
        """
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((intent, future))
        if self._sending is None:  # else the sending task takes it after the round trip on its way
            self._sending = asyncio.get_running_loop().create_task(self._send_all())
        return bool(await future)

    async def _send_all(self) -> None:
        """Send what is waiting, one `APPEND` at a time, until nothing is."""
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                await self._send(batch)
        finally:
            self._sending = None

    async def _send(self, batch: list[tuple[Intent, asyncio.Future[Any]]]) -> None:
        keys: list[Any] = [INBOX]
        args: list[Any] = [self._keep]
        for intent, _ in batch:
            keys.append(seen_key(intent.delivery))
            args += (intent.delivery, orjson.dumps(intent))
        try:
            replies: list[Any] = list(await self._append(keys=keys, args=args))
        except Exception as exc:  # every caller of the batch answers it (a RedisError: 503)
            replies = [exc] * len(batch)
        for (_, future), reply in zip(batch, replies, strict=True):
            if future.done():  # the request was cancelled: what was stored stays, a redelivery is a duplicate
                continue
            if isinstance(reply, BaseException):
                future.set_exception(reply)
            else:
                future.set_result(reply)


@dataclass(frozen=True)
class Entry:
    """One inbox entry: its stream id, its delivery id and the intent (None when it cannot be read)."""

    id: bytes
    delivery: str
    intent: Intent | None


def parse_entry(entry_id: bytes, fields: dict[bytes, bytes]) -> Entry:
    """An `Entry` from a stream entry's fields; `intent` is None when they do not hold an intent."""
    delivery = fields.get(b"delivery", b"").decode("utf-8", "replace")
    try:
        intent: Intent | None = Intent.from_record(orjson.loads(fields[b"intent"]))
    except (KeyError, TypeError, orjson.JSONDecodeError):
        intent = None
    return Entry(entry_id, delivery, intent)


class InboxReader:
    """The worker's side: read, claim and acknowledge inbox entries as one consumer of the group."""

    def __init__(self, client: redis.Redis, consumer: str) -> None:
        self._client = client
        self.consumer = consumer
        self._cursor: bytes | str = "0-0"

    def ensure_group(self) -> None:
        """Create the stream and its consumer group if missing (a fresh Redis, or one restarted empty).

        The group starts at the beginning of the stream, so entries appended before it existed are read.
        """
        try:
            self._client.xgroup_create(INBOX, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, count: int, block_ms: int | None) -> list[Entry]:
        """Entries no consumer has read yet (up to `count`), waiting up to `block_ms` for one (None: no wait)."""
        try:
            reply: Any = self._client.xreadgroup(GROUP, self.consumer, {INBOX: ">"}, count=count, block=block_ms)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_group()
            return []
        return [parse_entry(entry_id, fields) for _, entries in reply or [] for entry_id, fields in entries]

    def claim_stale(self, min_idle_ms: int, count: int) -> list[Entry]:
        """Entries read by a consumer but not acknowledged for `min_idle_ms`, now this consumer's.

        Each call scans the next `count` pending entries (`XAUTOCLAIM`), going round the list over calls.
        """
        try:
            reply: Any = self._client.xautoclaim(INBOX, GROUP, self.consumer, min_idle_ms, self._cursor,
                                                 count=count)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_group()
            return []
        self._cursor = reply[0]  # where the next call goes on scanning the pending entries ("0-0": from the start)
        return [parse_entry(entry_id, fields) for entry_id, fields in reply[1] if fields is not None]

    def done(self, entry_ids: list[bytes]) -> None:
        """Acknowledge and delete entries whose jobs exist (one transaction)."""
        if not entry_ids:
            return
        with self._client.pipeline(transaction=True) as pipe:
            pipe.xack(INBOX, GROUP, *entry_ids)
            pipe.xdel(INBOX, *entry_ids)
            pipe.execute()

    def waiting(self) -> int:
        """Entries in the inbox, read or not (acknowledged entries are deleted)."""
        return int(self._client.xlen(INBOX))
