"""Waiting out a Redis outage: backoff up to a cap, one line when it starts and one when it ends."""

from __future__ import annotations

import logging

import pytest
import redis

from bot.cli.outage import OncePerOutage, RedisOutage


class FlakyRedis:
    """A client whose PING fails `down` times, then answers."""

    def __init__(self, down: int) -> None:
        self.down = down

    def ping(self) -> bool:
        if self.down:
            self.down -= 1
            raise redis.ConnectionError("Connection refused")
        return True


def test_waits_with_backoff_and_logs_once_per_outage(caplog: pytest.LogCaptureFixture) -> None:
    slept: list[float] = []
    watch = RedisOutage(FlakyRedis(down=7), "redis://x:6379/0", first_wait=0.5, max_wait=4, sleep=slept.append)
    with caplog.at_level(logging.INFO, logger="issuesmith.worker"):
        assert watch.wait_until_back()
    assert slept == [0.5, 1, 2, 4, 4, 4, 4]
    assert [r.getMessage() for r in caplog.records] == ["Redis is unreachable: waiting for it, retrying with backoff",
                                                        "Redis is back: resuming work"]


def test_a_stop_request_ends_the_wait() -> None:
    watch = RedisOutage(FlakyRedis(down=100), "redis://x:6379/0", sleep=lambda s: None)
    assert watch.wait_until_back(stop=lambda: True) is False


def test_rq_retry_lines_pass_once_until_redis_answers() -> None:
    quiet = OncePerOutage()
    line = logging.LogRecord("rq.worker", logging.ERROR, "", 0, "Worker %s: could not connect to Redis instance",
                             None, None)
    other = logging.LogRecord("rq.worker", logging.INFO, "", 0, "Listening", None, None)
    assert [quiet.filter(line), quiet.filter(line), quiet.filter(other), quiet.filter(line)] == [True, False, True,
                                                                                                 False]
    quiet.reset()
    assert quiet.filter(line)
