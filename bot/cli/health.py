"""`issuesmith health worker`: the container health check of a worker (exit 0 healthy, 1 not).

Healthy means: Redis answers, and a worker of this host (same hostname, so in a container:
this container) is registered on every issuesmith queue: intake, plan and work (`ISSUESMITH_INTAKE_QUEUE`,
`ISSUESMITH_PLAN_QUEUE`, `ISSUESMITH_WORK_QUEUE`; `issuesmith worker` serves them all). RQ keeps a
worker's registration alive with its heartbeat and lets it expire `worker_ttl` + 60 s after the last one, so a
hung or dead worker turns unhealthy on its own. One line on stdout says why.
"""

from __future__ import annotations

import argparse
import socket
import sys
from typing import TextIO

import redis
from rq import Queue, Worker

from bot.runs.queueing import QueueNames


def build_parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    parser = argparse.ArgumentParser(prog="issuesmith health", description=__doc__.splitlines()[0])
    parser.add_argument("process", choices=["worker"], help="what to check")
    parser.add_argument("--redis-url", default=None, help="default: ISSUESMITH_REDIS_URL (environment or .env); "
                                                         "given, the queues checked are the default ones")
    parser.add_argument("--hostname", default=None, help="the worker's host (default: this one)")
    return parser


def worker_status(redis_url: str, hostname: str, names: QueueNames | None = None) -> tuple[bool, str]:
    """Whether a worker of `hostname` is registered on every queue of the deployment (intake, plan, work), and a
    line that says so."""
    required = (names or QueueNames()).configured
    connection = redis.Redis.from_url(redis_url, socket_timeout=3, socket_connect_timeout=3)
    try:
        connection.ping()
        found = {name: {w.name: w for w in Worker.all(connection=connection, queue=Queue(name, connection=connection))
                        if w.hostname == hostname} for name in required}
    except redis.RedisError as exc:
        return False, f"Redis does not answer: {type(exc).__name__}"
    finally:
        connection.close()
    ours = [w for name, w in found[required[0]].items() if all(name in found[q] for q in required)]
    if not ours:
        missing = [name for name, workers in found.items() if not workers]
        where = (f"the {' and '.join(missing)} queue{'s' if len(missing) > 1 else ''}" if missing
                 else f"every one of the {', '.join(required)} queues")
        return False, f"no worker of host {hostname} is registered on {where}"
    return True, f"{len(ours)} worker(s) of host {hostname} registered: " + ", ".join(
        f"{w.name} ({w.get_state()})" for w in ours)


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run the check; the exit code is the verdict."""
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    redis_url, names = args.redis_url, None
    if redis_url is None:
        from bot.cli.main import load_settings

        settings = load_settings()
        redis_url = settings.redis_url
        names = QueueNames(settings.intake_queue, settings.work_queue, settings.plan_queue)
    healthy, line = worker_status(redis_url, args.hostname or socket.gethostname(), names)
    print(line, file=out)
    return 0 if healthy else 1
