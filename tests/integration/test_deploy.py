"""Deployment: the structure of `docker-compose.yml` an operator relies on, the worker health check,
and a GitHub Enterprise Server style API address used end to end.

Compose cannot run here (no Docker engine), so the file is parsed and checked: append-only Redis
on a named volume, the web app on port 8000, two workers from the same image with work dirs of
their own, `.env` everywhere, health checks everywhere, start order on healthy Redis, restart
policies, and every `issuesmith` command it runs accepted by our own argument parsers.
"""

from __future__ import annotations

import importlib
import io
import socket
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from rq import Queue, Worker

from bot.cli import main as cli
from bot.cli.health import main as health_main
from bot.config.settings import Settings
from bot.core.redact import Redactor
from bot.github.client import GitHubApp
from bot.runs.queueing import QueueNames
from standins.github import FakeGitHub, generate_app_key
from standins.server import ServerThread

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
APP_SERVICES = {name: s for name, s in SERVICES.items() if name != "redis"}
WORKERS = {name: s for name, s in APP_SERVICES.items() if s["command"][0] == "worker"}


def parse_issuesmith(argv: list[str]) -> None:
    """Parse `issuesmith ARGV` as the console script would (SystemExit if it is not a real command)."""
    if argv[0] in cli.TOOLS:
        importlib.import_module(cli.TOOLS[argv[0]]).build_parser().parse_args(argv[1:])
    else:
        cli.build_parser().parse_args(argv)


def test_redis_is_append_only_on_a_named_volume_and_checked() -> None:
    r = SERVICES["redis"]
    command = r["command"]
    assert command[0] == "redis-server" and command[command.index("--appendonly") + 1] == "yes"
    password = command[command.index("--requirepass") + 1]  # required: compose refuses to start without it
    assert password.startswith("${ISSUESMITH_REDIS_PASSWORD:?set ISSUESMITH_REDIS_PASSWORD in .env")
    assert r["environment"]["REDISCLI_AUTH"] == "${ISSUESMITH_REDIS_PASSWORD}"  # the health check authenticates
    [volume] = r["volumes"]
    name, target = volume.split(":")
    assert target == "/data" and name in COMPOSE["volumes"]
    assert r["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert r["restart"] == "unless-stopped"


def test_web_and_two_workers_share_one_image_the_env_file_and_wait_for_redis() -> None:
    assert set(APP_SERVICES) == {"web", *WORKERS} and len(WORKERS) == 2
    assert {s["image"] for s in APP_SERVICES.values()} == {"issuesmith:latest"}
    assert {s["build"] for s in APP_SERVICES.values()} == {"."}
    for service in APP_SERVICES.values():
        assert service["env_file"] == ".env"
        assert service["depends_on"] == {"redis": {"condition": "service_healthy"}}
        assert service["restart"] == "unless-stopped"
        assert service["environment"]["ISSUESMITH_REDIS_URL"] == "redis://:${ISSUESMITH_REDIS_PASSWORD}@redis:6379/0"
    web = SERVICES["web"]
    assert web["command"] == ["serve", "--host", "0.0.0.0", "--port", "8000"]
    assert web["ports"] == ["8000:8000"]
    assert "user" not in web  # the image's unprivileged user


def test_workers_have_what_the_sandbox_needs_and_work_dirs_of_their_own() -> None:
    work_volumes, sandbox_uids = set(), set()
    for worker in WORKERS.values():
        env = worker["environment"]
        assert worker["user"] == "0:0"  # bubblewrap needs a root worker, which drops every command
        assert {"seccomp=unconfined", "apparmor=unconfined"} <= set(worker["security_opt"])
        mounts = dict(volume.split(":", 1) for volume in worker["volumes"])
        work = next(name for name, target in mounts.items() if target == env["ISSUESMITH_WORK_DIR"])
        assert work in COMPOSE["volumes"]
        assert mounts["./issuesmith.private-key.pem"] == f"{env['ISSUESMITH_PRIVATE_KEY_PATH']}:ro"
        work_volumes.add(work)
        sandbox_uids.add(env["ISSUESMITH_SANDBOX_UID"])
    assert len(work_volumes) == len(sandbox_uids) == len(WORKERS)
    assert "0" not in sandbox_uids


def test_every_service_has_a_health_check_and_every_command_is_a_real_subcommand() -> None:
    for name, service in APP_SERVICES.items():
        parse_issuesmith(service["command"])
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD", name
        if test[1] == "issuesmith":
            parse_issuesmith(test[2:])
    assert SERVICES["web"]["healthcheck"]["test"][1:3] == ["python", "-c"]
    assert "http://127.0.0.1:8000/healthz" in SERVICES["web"]["healthcheck"]["test"][3]
    for worker in WORKERS.values():
        assert worker["healthcheck"]["test"] == ["CMD", "issuesmith", "health", "worker"]
    with pytest.raises(SystemExit):
        parse_issuesmith(["health", "webapp"])  # the check above does refuse what is not a command


def test_worker_health_check_needs_redis_and_a_registered_worker_of_this_host(redis_url: str) -> None:
    def check(url: str) -> tuple[int, str]:
        out = io.StringIO()
        return health_main(["worker", "--redis-url", url], out=out), out.getvalue()

    rc, line = check(redis_url)
    assert rc == 1 and f"no worker of host {socket.gethostname()}" in line
    connection = redis.Redis.from_url(redis_url)
    names = QueueNames()
    only_work = Worker([Queue(names.work, connection=connection)], connection=connection, name="health-old")
    only_work.register_birth()  # a worker that never takes intake or plan jobs (one from before those queues)
    try:
        rc, line = check(redis_url)
        assert rc == 1 and f"registered on the {names.intake} and {names.plan} queues" in line
    finally:
        only_work.register_death()
    worker = Worker([Queue(name, connection=connection) for name in names.served], connection=connection,
                    name="health-test")
    worker.register_birth()
    try:
        rc, line = check(redis_url)
        assert rc == 0 and "health-test" in line and "health-old" not in line
    finally:
        worker.register_death()
    assert check(redis_url)[0] == 1
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    rc, line = check(f"redis://127.0.0.1:{closed}/0")
    assert rc == 1 and line.startswith("Redis does not answer: ConnectionError")


def test_an_enterprise_server_api_address_is_used_for_every_call_and_the_clone_url(tmp_path: Path) -> None:
    """A GHES-style `https://HOST/api/v3/` (here the stand-in's): normalized, and nothing goes to api.github.com."""
    private, public = generate_app_key()
    gh = FakeGitHub(tmp_path / "github")
    server = ServerThread(gh.app).start()
    try:
        gh.bind(server.url)
        gh.add_app(31, public)
        gh.add_installation(32, "acme")
        gh.add_repo("acme/widgets", 32)
        settings = Settings(webhook_secret="a-strong-webhook-secret", app_id=31,  # type: ignore[call-arg]
                            github_api_url=f"{server.url}/api/v3/", _env_file=None)
        assert settings.github_api_url == f"{server.url}/api/v3"
        app = GitHubApp(31, private, settings.github_api_url, Redactor([]))
        repo = app.repo(32, "acme/widgets")
        assert repo.default_branch() == "main"
        assert repo.clone_url() == f"{server.url}/acme/widgets.git"
        assert [(ex.method, ex.path) for ex in gh.exchanges] == [
            ("POST", "/app/installations/32/access_tokens"), ("GET", "/app"), ("GET", "/repos/acme/widgets")]
    finally:
        server.stop()
        gh.close()
