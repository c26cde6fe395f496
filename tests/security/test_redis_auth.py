"""Redis with a password: the worker pieces connect through a URL that carries it, a wrong or missing
password stops the worker with a sentence that says what to fix, and the password never reaches
the sandbox, GitHub or the model.

A private `redis-server --requirepass` is started on a free loopback port for the module.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.cli.doctor.local import check_redis
from bot.config.settings import Settings
from bot.flow.services import build_services
from bot.runs.model import State
from bot.sandboxes import choose_backend
from bot.sandboxes.base import Limits
from bot.web.app import _decoding
from tests.world import SAMPLE_PLAN, WEBHOOK_SECRET, make_world

ISSUESMITH = Path(sys.executable).parent / "issuesmith"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def locked_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """(port, password) of a Redis that refuses every command until AUTH."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    port, password = free_port(), secrets.token_hex(24)
    workdir = tmp_path_factory.mktemp("locked-redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--requirepass", password,
                             "--save", "", "--appendonly", "no", "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port, password=password)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port, password
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def worker_once(tmp_path: Path, url: str, private_key: str) -> subprocess.CompletedProcess[str]:
    """`issuesmith worker --burst` with only the settings it needs, from a directory without a .env."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "ISSUESMITH_WEBHOOK_SECRET": WEBHOOK_SECRET,
           "ISSUESMITH_REDIS_URL": url, "ISSUESMITH_PRIVATE_KEY": private_key, "ISSUESMITH_APP_ID": "101",
           "ISSUESMITH_WORK_DIR": str(tmp_path / "work")}
    return subprocess.run([str(ISSUESMITH), "worker", "--burst"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=60, check=False)


def test_the_worker_pieces_run_a_plan_through_a_url_with_the_password(
        tmp_path: Path, locked_redis: tuple[int, str], app_keys: tuple[str, str]) -> None:
    port, password = locked_redis
    url = f"redis://:{password}@127.0.0.1:{port}/3"
    redis.Redis.from_url(url).flushdb()
    world = make_world(tmp_path, url, app_keys)  # web app, RQ queue and run store all on the locked Redis
    try:
        world.new_issue()
        world.script_plan(SAMPLE_PLAN)
        world.label()
        world.drain()
        run = world.run()
        assert run is not None and run.state == State.AWAITING_APPROVAL
        assert any("issuesmith:plan" in c.body for c in world.bot_comments())
        sent = "\n".join([*(str(ex.request_json) for ex in world.github.exchanges),
                          *(str(r) for r in world.openai.requests)])
        assert password not in sent
        assert not world.contract_problems()
    finally:
        world.close()


def test_the_sandbox_never_sees_the_redis_password(
        tmp_path: Path, locked_redis: tuple[int, str], monkeypatch: pytest.MonkeyPatch) -> None:
    port, password = locked_redis
    url = f"redis://:{password}@127.0.0.1:{port}/3"
    monkeypatch.setenv("ISSUESMITH_REDIS_URL", url)  # as in production: the worker's environment holds it
    backend = choose_backend("auto", allow_unsandboxed=True)  # bubblewrap where it works (root + bwrap)
    tree = tmp_path / "tree"
    tree.mkdir()
    result = backend.run("env; cat /proc/self/environ | tr '\\0' '\\n'; echo done", tree, Limits(timeout=30))
    assert "done" in result.output and password not in result.output
    assert "ISSUESMITH_REDIS_URL" not in result.output


def test_a_wrong_or_missing_password_stops_the_worker_with_what_to_fix(
        tmp_path: Path, locked_redis: tuple[int, str], app_keys: tuple[str, str]) -> None:
    port, password = locked_redis
    wrong = worker_once(tmp_path, f"redis://:not-{password[:8]}-it@127.0.0.1:{port}/3", app_keys[0])
    assert wrong.returncode != 0
    assert f"Redis at redis://:***@127.0.0.1:{port}/3 refused the password in ISSUESMITH_REDIS_URL" in wrong.stderr
    assert "redis://:PASSWORD@HOST:6379/DB (rediss:// for TLS)" in wrong.stderr
    assert "Traceback" not in wrong.stderr and f"not-{password[:8]}-it" not in wrong.stderr + wrong.stdout

    missing = worker_once(tmp_path, f"redis://127.0.0.1:{port}/3", app_keys[0])
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert f"Redis at redis://127.0.0.1:{port}/3 requires a password" in missing.stderr

    right = worker_once(tmp_path, f"redis://:{password}@127.0.0.1:{port}/3", app_keys[0])
    assert right.returncode == 0, right.stderr[-2000:]
    assert password not in right.stderr + right.stdout


def test_doctor_says_the_password_was_refused_without_showing_it(
        locked_redis: tuple[int, str]) -> None:
    port, password = locked_redis
    settings = Settings(_env_file=None, webhook_secret=WEBHOOK_SECRET,  # type: ignore[call-arg]
                        redis_url=f"redis://:wrong-{password[:6]}@127.0.0.1:{port}/3")
    check, client = check_redis(settings, 2.0)
    assert client is None and check.status == "fail"
    assert "refused the credentials" in check.detail and f"wrong-{password[:6]}" not in check.detail


def test_a_tls_url_reaches_redis_py_as_tls_with_its_password(app_keys: tuple[str, str], tmp_path: Path) -> None:
    """rediss:// is passed to redis-py's `from_url` unchanged: an SSL connection class, the password, the CA policy."""
    url = "rediss://:tls-pass-0123456789@redis.internal.example:6380/2?ssl_cert_reqs=required"
    settings = Settings(_env_file=None, webhook_secret=WEBHOOK_SECRET, redis_url=url,  # type: ignore[call-arg]
                        private_key=app_keys[0], app_id=101, work_dir=tmp_path / "work")
    services = build_services(settings)  # builds clients; connects only on first use
    for client in (services.redis_bytes, services.redis_text, _decoding(services.redis_bytes)):
        pool = client.connection_pool
        assert pool.connection_class is redis.SSLConnection
        assert pool.connection_kwargs["password"] == "tls-pass-0123456789"
        assert pool.connection_kwargs["ssl_cert_reqs"] == "required"
    assert "tls-pass-0123456789" not in services.redactor(f"could not connect to {url}")
