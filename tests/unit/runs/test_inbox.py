"""The webhook inbox and its dispatcher, on a real Redis: once per delivery id, at least once, never twice."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from pathlib import Path

import orjson
import pytest
import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue
from rq.job import Job

from bot.cli import dispatcher as dispatcher_cli
from bot.config.settings import Settings
from bot.core.logs import JsonFormatter
from bot.core.redact import Redactor
from bot.runs import dispatch
from bot.runs.dispatch import Dispatcher
from bot.runs.inbox import GROUP, INBOX, AsyncInbox, InboxReader, seen_key
from bot.runs.intents import Intent
from bot.runs.queueing import INTAKE_QUEUE, RetryPolicy, enqueue_intake, intake_job_id
from tests.conftest import REDIS_URL
from tests.world import wait_until

KEEP = 3600
SECRET = "inbox-test-secret-0123456789"


def intent(delivery: str, kind: str = "label") -> Intent:
    return Intent(kind, delivery, 7, "acme/widgets", 12, "alice", label="issuesmith", issue_title="A bug")


def append(*intents: Intent) -> list[bool]:
    """Append through the web process's async client, as `/webhook` does."""
    async def go() -> list[bool]:
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        try:
            inbox = AsyncInbox(client, KEEP)
            return [await inbox.append(i) for i in intents]
        finally:
            await client.aclose()
    return asyncio.run(go())


def make_dispatcher(connection: redis.Redis, consumer: str, reclaim_seconds: float = 30.0) -> Dispatcher:
    return Dispatcher(InboxReader(connection, consumer), Queue(INTAKE_QUEUE, connection=connection),
                      RetryPolicy(2, (1, 2)), KEEP, reclaim_seconds)


def queued(connection: redis.Redis) -> list[str]:
    return [job_id.decode() for job_id in connection.lrange(f"rq:queue:{INTAKE_QUEUE}", 0, -1)]


def test_a_delivery_is_taken_in_once_and_remembered(connection: redis.Redis) -> None:
    assert append(intent("d-1"), intent("d-1"), intent("d-2")) == [True, False, True]
    assert connection.xlen(INBOX) == 2
    assert 0 < connection.ttl(seen_key("d-1")) <= KEEP


def test_concurrent_appends_share_round_trips_and_each_caller_gets_its_own_answer(connection: redis.Redis) -> None:
    async def go() -> tuple[list[bool], int]:
        client = redis.asyncio.Redis.from_url(REDIS_URL)
        sent = 0
        original = client.evalsha

        def counting(*args: object) -> object:
            nonlocal sent
            sent += 1
            return original(*args)  # type: ignore[arg-type]

        client.evalsha = counting  # type: ignore[method-assign]
        inbox = AsyncInbox(client, KEEP)
        deliveries = [f"d-{i % 150}" for i in range(400)]  # each at least twice, at the same moment
        try:
            return list(await asyncio.gather(*(inbox.append(intent(d)) for d in deliveries))), sent
        finally:
            await client.aclose()

    answers, round_trips = asyncio.run(go())
    assert answers[:150] == [True] * 150 and answers[150:] == [False] * 250
    assert connection.xlen(INBOX) == 150
    assert 4 <= round_trips < 10  # the first alone, then what waited meanwhile, by at most 128 (MAX_BATCH)


def test_every_caller_of_a_batch_is_told_when_redis_cannot_store_it() -> None:
    async def go() -> list[BaseException | bool]:
        client = redis.asyncio.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5,
                                     retry=AsyncRetry(NoBackoff(), 1))
        inbox = AsyncInbox(client, KEEP)
        try:
            return list(await asyncio.gather(*(inbox.append(intent(f"d-{i}")) for i in range(5)),
                                             return_exceptions=True))
        finally:
            await client.aclose()

    answers = asyncio.run(go())
    assert len(answers) == 5 and all(isinstance(a, redis.ConnectionError) for a in answers)


def test_the_dispatcher_queues_the_same_intake_job_the_web_app_used_to(connection: redis.Redis) -> None:
    append(intent("d-1"), intent("d-2", kind="review"))
    assert make_dispatcher(connection, "a").drain() == 2
    assert queued(connection) == ["intake-d-1", "intake-d-2"] and connection.xlen(INBOX) == 0
    job = Job.fetch("intake-d-1", connection=connection)
    assert job.func_name == "jobs.intake.handle" and job.args == (intent("d-1").to_record(),)
    assert job.retries_left == 2 and job.result_ttl == KEEP
    assert Job.fetch("intake-d-2", connection=connection).func_name == "jobs.pulls.handle"
    assert connection.xpending(INBOX, GROUP)["pending"] == 0


def test_entries_read_by_a_dispatcher_that_died_are_taken_over_once_stale(connection: redis.Redis) -> None:
    append(intent("d-1"), intent("d-2"))
    dead = InboxReader(connection, "dead")
    dead.ensure_group()
    assert len(dead.read(10, None)) == 2  # read, then the process died before queueing anything
    assert make_dispatcher(connection, "alive", reclaim_seconds=3600).drain() == 0  # not stale yet: left alone
    assert queued(connection) == []
    assert make_dispatcher(connection, "alive", reclaim_seconds=0).drain() == 2
    assert queued(connection) == ["intake-d-1", "intake-d-2"] and connection.xlen(INBOX) == 0


def test_a_dispatcher_that_died_after_queueing_but_before_acknowledging_doubles_nothing(
        connection: redis.Redis) -> None:
    append(intent("d-1"))
    dead = InboxReader(connection, "dead")
    dead.ensure_group()
    [entry] = dead.read(10, None)
    assert entry.intent is not None
    enqueue_intake(Queue(INTAKE_QUEUE, connection=connection), entry.intent, RetryPolicy(), KEEP)  # then it died
    assert make_dispatcher(connection, "alive", reclaim_seconds=0).drain() == 1
    assert queued(connection) == ["intake-d-1"] and connection.xlen(INBOX) == 0


def test_the_group_is_made_again_when_redis_lost_everything(connection: redis.Redis) -> None:
    append(intent("d-1"))
    first = make_dispatcher(connection, "a")
    assert first.drain() == 1
    connection.flushdb()  # a Redis restarted without persistence
    append(intent("d-2"))  # the web app appends before the dispatcher made the group again
    assert first.drain() == 1
    assert queued(connection) == ["intake-d-2"]


def test_an_unreadable_entry_is_logged_with_its_delivery_and_dropped(connection: redis.Redis) -> None:
    connection.xgroup_create(INBOX, GROUP, id="0", mkstream=True)
    connection.xadd(INBOX, {"delivery": "d-9", "intent": b"{not json"})
    append(intent("d-1"))
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter(Redactor()))
    logger = logging.getLogger("issuesmith.dispatch")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        assert make_dispatcher(connection, "a").drain() == 2
    finally:
        logger.removeHandler(handler)
    records = [orjson.loads(line) for line in lines.getvalue().splitlines()]
    assert [(r["delivery"], r["level"]) for r in records] == [("d-9", "error"), ("d-1", "info")]
    assert records[1]["msg"] == "delivery dispatched" and records[1]["kind"] == "label"
    assert queued(connection) == ["intake-d-1"] and connection.xlen(INBOX) == 0


def test_the_worker_s_dispatcher_follows_the_settings(connection: redis.Redis, tmp_path: Path) -> None:
    settings = Settings(_env_file=None, webhook_secret=SECRET, redis_url=REDIS_URL,  # type: ignore[call-arg]
                        work_dir=tmp_path, job_retries=5, job_retry_intervals=[3], delivery_ttl_seconds=120,
                        inbox_reclaim_seconds=0.001)
    append(intent("d-1"))
    dead = InboxReader(connection, "dead")
    dead.ensure_group()
    assert len(dead.read(10, None)) == 1  # a dead dispatcher's entry, stale after 1 ms
    # stale once idle past the 1 ms setting (Redis counts idle time in whole milliseconds: wait for 2)
    wait_until(lambda: [p["time_since_delivered"] for p in connection.xpending_range(INBOX, GROUP, "-", "+", 10)]
               >= [2], what="the dead dispatcher's entry idle for 2 ms")
    assert dispatcher_cli.build(settings, "worker-1").drain() == 1
    job = Job.fetch(intake_job_id("d-1"), connection=connection)
    assert job.retries_left == 5 and job.retry_intervals == [3] and job.result_ttl == 120


def test_the_thread_dispatches_as_deliveries_come_and_stops_when_told(connection: redis.Redis,
                                                                      tmp_path: Path) -> None:
    settings = Settings(_env_file=None, webhook_secret=SECRET, redis_url=REDIS_URL,  # type: ignore[call-arg]
                        work_dir=tmp_path)
    thread = dispatcher_cli.DispatcherThread(dispatcher_cli.build(settings, "w"), "w").start()
    try:
        append(intent("d-1"))
        wait_until(lambda: queued(connection) == ["intake-d-1"], what="the job queued by the thread")
        append(intent("d-2"))
        wait_until(lambda: queued(connection) == ["intake-d-1", "intake-d-2"], what="the second job")
    finally:
        thread.stop()
    assert not thread._thread.is_alive()


class CountingReader(InboxReader):
    """An inbox reader that counts its attempts (on an unreachable Redis, each one fails)."""

    attempts = 0

    def claim_stale(self, min_idle_ms: int, count: int) -> list:  # type: ignore[type-arg]
        self.attempts += 1
        return super().claim_stale(min_idle_ms, count)


def test_an_unreachable_redis_pauses_the_dispatcher_with_one_log_line(caplog: pytest.LogCaptureFixture,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatch, "FIRST_WAIT", 0.01)
    monkeypatch.setattr(dispatch, "MAX_WAIT", 0.02)
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    reader = CountingReader(dead, "w")
    stop = threading.Event()
    thread = threading.Thread(target=Dispatcher(reader, Queue(INTAKE_QUEUE, connection=dead), RetryPolicy(), KEEP,
                                                30).serve, args=(stop,))
    with caplog.at_level(logging.INFO, logger="issuesmith.dispatch"):
        thread.start()
        wait_until(lambda: reader.attempts >= 4, what="four failed attempts")
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert [r.getMessage() for r in caplog.records if r.name == "issuesmith.dispatch"] == [
        "inbox unreachable: dispatching paused, retrying with backoff"]
