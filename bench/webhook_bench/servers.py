"""The servers under test and Redis: start, wait for, stop and measure them; check what they queued.

`issuesmith serve` (the real CLI) and `bench/bare_app.py` each run as one uvicorn worker in
their own session, optionally pinned to their CPUs, with their output in `bench/results/`.
`RedisProbe` flushes and reads the benchmark's Redis database. `Bench` is what a run shares,
`running` keeps both servers up for a block, and the checks make sure the app took in each
relevant delivery exactly once (sanity check, de-dup burst, queue check) and that the worker's
dispatcher turns the inbox into exactly one intake job per delivery (dispatch check).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

from .load import Variant
from .options import BENCH_DIR, HOST, REQUEST_TIMEOUT_SECONDS, RESULTS_DIR, SETTLE_SECONDS, Options

VENV_BIN = Path(sys.executable).parent
QUEUE_KEY = "rq:queue:issuesmith-intake"  # bot.runs.queueing.INTAKE_QUEUE (intake jobs), as RQ stores it
INBOX_KEY = "issuesmith:inbox"  # bot.runs.inbox.INBOX
SEEN_PATTERN = "issuesmith:delivery:*"  # bot.runs.inbox.seen_key
BURST_DELIVERIES = 256


# --------------------------------------------------------------------------- Redis


def redis_db_url(base: str, db: int) -> str:
    """`base` pointed at database `db`."""
    return urlunsplit(urlsplit(base)._replace(path=f"/{db}", query=""))


class RedisProbe:
    """The few Redis reads and writes the benchmark needs."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)

    def flush(self) -> None:
        """Empty the benchmark's database."""
        self._redis.flushdb()

    def queued(self) -> int:
        """Deliveries taken in: entries of the inbox (no dispatcher runs during the benchmark)."""
        return int(cast(int, self._redis.xlen(INBOX_KEY)))

    def jobs(self) -> int:
        """Intake jobs waiting on the intake queue."""
        return int(cast(int, self._redis.llen(QUEUE_KEY)))

    def remembered(self) -> int:
        """Delivery ids remembered (one per delivery taken in)."""
        return sum(1 for _ in self._redis.scan_iter(match=SEEN_PATTERN, count=1000))

    def dispatch(self, redis_url: str) -> int:
        """Empty the inbox as the worker's dispatcher does (`bot.cli.dispatcher`); entries dispatched."""
        from bot.cli import dispatcher
        from bot.config.settings import Settings

        settings = Settings(_env_file=None, webhook_secret="x" * 32, redis_url=redis_url)  # type: ignore[call-arg]
        return dispatcher.build(settings, "bench").drain()

    def intake_jobs(self) -> int:
        """Intake job hashes present (one per queued delivery)."""
        return sum(1 for _ in self._redis.scan_iter(match="rq:job:intake-*", count=1000))

    def other_clients(self) -> int:
        """Connections to our database other than ours (someone else may be using it)."""
        me, db = str(self._redis.client_id()), str(self._redis.connection_pool.connection_kwargs.get("db", 0))
        return sum(1 for c in self._redis.client_list() if str(c.get("db")) == db and str(c.get("id")) != me)

    def cpu_seconds(self) -> float:
        """CPU time the Redis server has used so far (all clients)."""
        info = cast(dict[str, Any], self._redis.info("cpu"))
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


# --------------------------------------------------------------------------- processes


@dataclass
class Target:
    """A server under test."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://{HOST}:{self.port}"


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def pinned(cpus: set[int] | None) -> Iterator[None]:
    """Run the block on `cpus`: processes started in it inherit them (no preexec_fn needed)."""
    if not cpus:
        yield
        return
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, mine)


def _server_env(extra: dict[str, str]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("ISSUESMITH_") and k != "WEB_CONCURRENCY"}
    return keep | extra


def spawn(cmd: list[str], env: dict[str, str], log: Path, cwd: Path, cpus: set[int] | None) -> subprocess.Popen[bytes]:
    """Start a server in its own session (Ctrl-C reaches only us), output to `log`."""
    with log.open("wb") as out, pinned(cpus):
        return subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def start_issuesmith(secret: str, redis_url: str, cwd: Path, cpus: set[int] | None) -> Target:
    """`issuesmith serve` (cwd is an empty folder, so no `.env` is read)."""
    port = free_port()
    env = _server_env({"ISSUESMITH_WEBHOOK_SECRET": secret, "ISSUESMITH_REDIS_URL": redis_url})
    log = RESULTS_DIR / "webhook-issuesmith.log"
    cmd = [str(VENV_BIN / "issuesmith"), "serve", "--host", HOST, "--port", str(port)]
    return Target("issuesmith", port, spawn(cmd, env, log, cwd, cpus), log)


def start_bare(cwd: Path, cpus: set[int] | None) -> Target:
    """The bare FastAPI app, with the options `issuesmith serve` gives uvicorn."""
    port = free_port()
    log = RESULTS_DIR / "webhook-bare.log"
    cmd = [str(VENV_BIN / "uvicorn"), "bare_app:app", "--app-dir", str(BENCH_DIR), "--host", HOST,
           "--port", str(port), "--workers", "1", "--http", "httptools", "--loop", "uvloop",
           "--log-level", "warning", "--no-access-log"]
    return Target("bare", port, spawn(cmd, _server_env({}), log, cwd, cpus), log)


def wait_ready(target: Target, method: str, path: str, timeout: float = 20.0) -> None:
    """Block until the target answers `method path` with 200."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if target.process.poll() is not None:
            raise RuntimeError(f"{target.name} exited ({target.process.returncode}):\n{_tail(target.log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.request(method, target.url + path, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{target.name} did not answer {method} {path} within {timeout:.0f} s:\n{_tail(target.log)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate a process we started; kill it if it lingers."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def _tail(log: Path, lines: int = 20) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time of all processes on the machine plus time stolen by the hypervisor, from /proc/stat.

    Interrupt and softirq time (the loopback TCP stack) is left out: it is part of the load.
    """
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = (
        int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + steal) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- the run's shared state


@dataclass
class Bench:
    """Everything a run shares: options, servers, Redis, scratch folder."""

    options: Options
    secret: str
    variants: list[Variant]
    redis: RedisProbe
    workdir: Path
    client_cpus: set[int] | None
    targets: dict[str, Target] = field(default_factory=dict)
    batches: list[dict[str, Any]] = field(default_factory=list)
    counter: int = 0


@contextlib.contextmanager
def running(bench: Bench, server_cpus: set[int] | None) -> Iterator[None]:
    """Both servers up for the duration of the block, stopped (and Redis flushed) afterwards."""
    try:
        bench.redis.flush()
        bench.targets["bare"] = start_bare(bench.workdir, server_cpus)
        bench.targets["issuesmith"] = start_issuesmith(
            bench.secret, redis_db_url(bench.options.redis_url, bench.options.redis_db), bench.workdir, server_cpus)
        wait_ready(bench.targets["bare"], "POST", "/webhook")
        wait_ready(bench.targets["issuesmith"], "GET", "/healthz")
        yield
    finally:
        for target in bench.targets.values():
            stop(target.process)
        with contextlib.suppress(Exception):
            bench.redis.flush()


# --------------------------------------------------------------------------- checks


def _signed(variant: Variant, delivery: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-GitHub-Event": "issues", "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": variant.signature}


def sanity_check(bench: Bench) -> None:
    """Before loading it, check the app answers as documented (secret and payloads are right)."""
    import httpx

    url = bench.targets["issuesmith"].url + "/webhook"
    relevant, ignored = bench.variants[0], bench.variants[1]
    cases = [(relevant, "sanity-1", None, 202), (relevant, "sanity-1", None, 200),
             (ignored, "sanity-2", None, 200), (relevant, "sanity-3", "sha256=" + "0" * 64, 401)]
    with httpx.Client(timeout=5) as client:
        for variant, delivery, bad_signature, expected in cases:
            headers = _signed(variant, delivery)
            if bad_signature:
                headers["X-Hub-Signature-256"] = bad_signature
            got = client.post(url, content=variant.body, headers=headers)
            if got.status_code != expected:
                raise RuntimeError(f"sanity check: {variant.name} {delivery} gave {got.status_code} {got.text}, "
                                   f"expected {expected}")
    bench.redis.flush()


async def _burst(bench: Bench, count: int) -> Counter[str]:
    import httpx

    url = bench.targets["issuesmith"].url + "/webhook"
    variant = bench.variants[0]
    limits = httpx.Limits(max_connections=bench.options.concurrency)
    outcomes: Counter[str] = Counter()
    # No bound on the wait for a free connection: the burst checks de-duplication, not speed, and on a busy
    # machine 512 requests queued behind 64 connections can wait longer than one request's timeout.
    timeout = httpx.Timeout(REQUEST_TIMEOUT_SECONDS, pool=None)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:

        async def send(delivery: str) -> None:
            got = await client.post(url, content=variant.body, headers=_signed(variant, delivery))
            outcomes["duplicate" if got.status_code == 200 and "duplicate" in got.text else str(got.status_code)] += 1

        await asyncio.gather(*(send(f"burst-{i // 2}") for i in range(2 * count)))
    return outcomes


def dedup_burst(bench: Bench, count: int = BURST_DELIVERIES) -> dict[str, Any]:
    """Send `count` relevant deliveries twice each, concurrently: each must be queued once."""
    before = bench.redis.queued()
    outcomes = asyncio.run(_burst(bench, count))
    time.sleep(SETTLE_SECONDS)
    jobs = bench.redis.queued() - before
    ok = outcomes.get("202") == count and outcomes.get("duplicate") == count and jobs == count
    return {"deliveries": count, "requests": 2 * count, "outcomes": dict(outcomes), "jobs": jobs, "ok": ok}


def queue_check(bench: Bench, summary: dict[str, Any], burst: dict[str, Any]) -> dict[str, Any]:
    """Deliveries taken in during issuesmith's batches against the relevant requests sent and answered 202;
    then the inbox dispatched: one intake job per delivery taken in."""
    mine = summary["issuesmith"]
    bare_jobs = sum(b["jobs"] for b in bench.batches if b["target"] == "bare")
    jobs, queued, sent = mine["jobs"], mine["statuses"].get("202", 0), mine["sent_relevant"]
    # wrk drops the requests in flight when time is up; the server may still take them in.
    length, seen = bench.redis.queued(), bench.redis.remembered()
    # Nothing else writes to our database: the inbox holds exactly the deliveries counted batch by batch.
    untouched = length == seen == jobs + bare_jobs + burst["jobs"] and all(b["jobs"] >= 0 for b in bench.batches)
    started = time.perf_counter()
    dispatched = bench.redis.dispatch(redis_db_url(bench.options.redis_url, bench.options.redis_db))
    dispatch_seconds = time.perf_counter() - started
    rq_jobs, hashes = bench.redis.jobs(), bench.redis.intake_jobs()
    dispatch_ok = dispatched == length == rq_jobs == hashes and bench.redis.queued() == 0
    ok = queued <= jobs <= sent and mine["duplicates"] == 0 and bare_jobs == 0 and untouched and dispatch_ok
    if bench.options.client == "python":
        ok = ok and jobs == sent
    return {"jobs": jobs, "answered_202": queued, "sent_relevant": sent, "duplicates": mine["duplicates"],
            "jobs_during_bare": bare_jobs, "inbox_length": length, "delivery_ids_remembered": seen,
            "database_untouched": untouched, "dispatched": dispatched, "dispatch_seconds": round(dispatch_seconds, 2),
            "rq_jobs": rq_jobs, "intake_job_hashes": hashes, "dispatch_ok": dispatch_ok, "ok": ok}
