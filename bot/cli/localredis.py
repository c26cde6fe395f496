"""A Redis for trying issuesmith out: the configured one if it answers, else a private `redis-server`.

The private server listens on a free port of 127.0.0.1, keeps nothing on disk, lives in a
directory of the caller's, and is stopped when the block ends.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis

from bot.cli.tryout import TryoutError, free_port

INSTALL_HINT = ("install Redis (apt-get install redis-server, brew install redis, dnf install redis) "
                "or set ISSUESMITH_REDIS_URL to a Redis that answers")


def answers(url: str) -> bool:
    """Whether a Redis answers PING at `url` within a second."""
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except (redis.RedisError, ValueError):
        return False


@contextlib.contextmanager
def redis_for_tryout(url: str, workdir: Path) -> Iterator[tuple[str, str]]:
    """Yield (url, how it was found): `url` if it answers, else a private server started for the block."""
    if answers(url):
        yield url, f"Redis at {_without_password(url)}"
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise TryoutError(f"no Redis answers at {_without_password(url)} and there is no redis-server to start: "
                          f"{INSTALL_HINT}")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(workdir), "--logfile", str(workdir / "redis.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    private = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while not answers(private):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise TryoutError(f"redis-server did not start (see {workdir / 'redis.log'})")
            time.sleep(0.05)
        yield private, f"a private redis-server on port {port} (none answered at {_without_password(url)})"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _without_password(url: str) -> str:
    """`url` with its credentials, if any, replaced by `***`."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}***@{rest.split('@', 1)[1]}" if "@" in rest else url
