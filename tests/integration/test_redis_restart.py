"""Redis restarted in the middle of a run: with persistence nothing is lost; without, people are told."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.runs.model import State
from tests.world import SAMPLE_PLAN, World, make_world, script_implementation

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs the redis-server binary")


class PrivateRedis:
    """A redis-server of this test's own, which it can stop and start again."""

    def __init__(self, root: Path, persistent: bool) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.root = root
        self.persistent = persistent
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = (["--appendonly", "yes", "--appendfsync", "always"] if self.persistent
                       else ["--appendonly", "no", "--save", ""])
        subprocess.run(["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(self.port),
                        "--dir", str(self.root), "--logfile", str(self.root / "redis.log"), *persistence], check=True)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        with contextlib.suppress(redis.ConnectionError):  # shutting down closes the connection
            redis.Redis.from_url(self.url).shutdown(nosave=not self.persistent)


@pytest.fixture(params=[True, False], ids=["persistent", "volatile"])
def restartable(request: pytest.FixtureRequest, tmp_path: Path,
                app_keys: tuple[str, str]) -> Iterator[tuple[World, PrivateRedis]]:
    server = PrivateRedis(tmp_path / "redis", persistent=request.param)
    server.root.mkdir()
    server.start()
    world = make_world(tmp_path / "world", server.url, app_keys)
    try:
        yield world, server
    finally:
        world.close()
        server.stop()


def test_redis_restart_between_plan_and_approve(restartable: tuple[World, PrivateRedis]) -> None:
    world, server = restartable
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    assert world.run().state == State.AWAITING_APPROVAL  # type: ignore[union-attr]

    server.stop()
    server.start()
    script_implementation(world.openai)
    world.say("/approve", by="carol")
    world.drain()

    if server.persistent:  # the run, its plan and its comments survived: the PR is opened
        assert world.run().state == State.PR_OPEN  # type: ignore[union-attr]
        assert len(world.github.pulls("acme/textstats")) == 1
    else:  # everything was lost: the approver is told, nothing happens silently
        assert world.run() is None and world.github.pulls("acme/textstats") == []
        assert "no issuesmith run on this issue yet" in world.bot_comments()[-1].body
