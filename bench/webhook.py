"""Throughput and latency of issuesmith's `POST /webhook`, beside a bare FastAPI endpoint, in one run.

Run from the repository root:

    .venv/bin/python bench/webhook.py [--seconds 5] [--rounds 3] [--concurrency 64] [--relevant 0.1]

It starts two servers on free loopback ports, each one uvicorn worker (httptools, uvloop,
log level warning, no access log):

- `issuesmith serve` (the real CLI), on a dedicated Redis database (db 13 of `--redis-url`,
  flushed before and after; refused if another client is connected to it);
- `bench/bare_app.py`, whose `POST /webhook` only answers 200.

A load generator in its own process (wrk with a Lua script when `wrk` is installed, else a
small asyncio/uvloop HTTP/1.1 client) keeps `--concurrency` keep-alive connections busy with
~10 KB `issues` deliveries, each signed and with a unique `X-GitHub-Delivery`; a share
`--relevant` of them is the trigger (`labeled` with the `issuesmith` label), the rest is
ignored by the app (`labeled` with `bug`, `opened`). After a warm-up, short batches alternate
between the targets (ABBA order) so machine noise hits both alike.

It prints a Markdown table (req/s, p50, p99, errors, CPU of client, server and Redis), the
req/s ratio issuesmith ÷ bare, checks that the jobs queued in Redis match the relevant
requests (plus a burst of concurrent duplicate deliveries that must queue once each), says
what limited the measurement, and writes everything to `bench/results/webhook.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import os
import resource
import secrets
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import orjson

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
PAYLOADS = ROOT / "tests" / "contracts" / "webhooks" / "issues.json"
VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
QUEUE_KEY = "rq:queue:issuesmith"  # bot.queueing.QUEUE_NAME, as RQ stores it
TRIGGER_LABEL = "issuesmith"
TARGET_BODY_BYTES = 10_000
EXPECTED = {200, 202}
SETTLE_SECONDS = 0.3
CLIENT_GRACE_SECONDS = 30
REQUEST_TIMEOUT_SECONDS = 10
BURST_DELIVERIES = 256
SATURATED = 0.85  # share of the cores a process may use above which we call it the bottleneck
NOISY = 0.25  # cores used by other processes (and softirq) above which the run is called noisy


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Options:
    """The command line, checked and bounded."""

    seconds: int
    rounds: int
    warmup: int
    concurrency: int
    relevant: float
    redis_url: str
    redis_db: int
    client: str
    pin: bool


def parse_args(argv: list[str] | None) -> Options | Path:
    """Options of a benchmark run, or the plan file when started as the internal client."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of one batch (1-60, default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="batches per target (1-10, default 3)")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up seconds per target (0-30, default 2)")
    parser.add_argument("--concurrency", type=int, default=64, help="open connections (1-512, default 64)")
    parser.add_argument("--relevant", type=float, default=0.1, help="share of deliveries that queue a job")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379", help="a loopback Redis server")
    parser.add_argument("--redis-db", type=int, default=13,
                        help="database used and flushed (default 13; the test suite uses 14 and 15)")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto",
                        help="load generator: wrk if installed (auto), or the built-in asyncio client")
    parser.add_argument("--no-pin", dest="pin", action="store_false",
                        help="do not pin the server to CPU 0 and the client to the other CPUs")
    parser.add_argument("--client-plan", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client_plan:
        return cast(Path, args.client_plan)
    _check_bounds(parser, args)
    client = ("wrk" if shutil.which("wrk") else "python") if args.client == "auto" else args.client
    if client == "wrk" and not shutil.which("wrk"):
        parser.error("--client wrk: wrk is not installed (apt-get install wrk)")
    return Options(args.seconds, args.rounds, args.warmup, args.concurrency, args.relevant,
                   args.redis_url, args.redis_db, client, args.pin)


def _check_bounds(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    bounds = {"seconds": (1, 60), "rounds": (1, 10), "warmup": (0, 30), "concurrency": (1, 512),
              "relevant": (0.0, 1.0), "redis_db": (0, 15)}
    for name, (low, high) in bounds.items():
        if not low <= getattr(args, name) <= high:
            parser.error(f"--{name.replace('_', '-')} must be between {low} and {high}")
    if urlsplit(args.redis_url).hostname not in LOOPBACK:
        parser.error("--redis-url must point at a loopback Redis (its database is flushed)")


# --------------------------------------------------------------------------- payloads


@dataclass(frozen=True)
class Variant:
    """One request body the load generator sends, with its signature."""

    name: str
    body: bytes
    signature: str
    relevant: bool


def build_variants(secret: str) -> list[Variant]:
    """The relevant delivery first, then the irrelevant ones, all from one ~10 KB real payload."""
    from bot.webhooks import sign

    base = _base_payload()
    relevant = _variant(base, "labeled", TRIGGER_LABEL)
    bodies = {"labeled-issuesmith": relevant, "unlabeled-bug": _variant(base, "unlabeled", "bug"),
              "opened": _variant(base, "opened", None)}
    return [Variant(name, orjson.dumps(payload), sign(secret.encode(), orjson.dumps(payload)),
                    name == "labeled-issuesmith") for name, payload in bodies.items()]


def _base_payload() -> dict[str, Any]:
    payloads = [p for p in orjson.loads(PAYLOADS.read_bytes()) if isinstance(p, dict) and p.get("label")]
    return min(payloads, key=lambda p: abs(len(orjson.dumps(p)) - TARGET_BODY_BYTES))


def _variant(base: dict[str, Any], action: str, label: str | None) -> dict[str, Any]:
    payload = copy.deepcopy(base)
    payload["action"] = action
    payload["installation"] = {"id": 4242, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDI0Mg=="}
    payload["sender"]["type"] = "User"
    if label is None:
        payload.pop("label", None)
    else:
        payload["label"]["name"] = label
    return payload


def request_head(port: int, signature: str, length: int) -> str:
    """Everything of a delivery's request up to the value of `X-GitHub-Delivery`."""
    return (f"POST /webhook HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: GitHub-Hookshot/bench\r\n"
            f"Content-Type: application/json\r\nX-GitHub-Event: issues\r\n"
            f"X-Hub-Signature-256: {signature}\r\nContent-Length: {length}\r\nX-GitHub-Delivery: ")


def is_relevant(n: int, share: float) -> bool:
    """Whether request number `n` (from 1) is a relevant one: exactly `share` of them, evenly spread."""
    return int(n * share) != int((n - 1) * share)


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
        """Jobs waiting on the issuesmith queue."""
        return int(cast(int, self._redis.llen(QUEUE_KEY)))

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


def children_cpu_seconds() -> float:
    """CPU time of the child processes we have waited for (the load generator runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------- load generators


@dataclass(frozen=True)
class Plan:
    """What one load-generator run does; written to a file for the client process."""

    port: int
    seconds: int
    concurrency: int
    threads: int
    relevant: float
    tag: str
    variants: list[dict[str, Any]]
    out: str

    def to_json(self) -> bytes:
        """The plan, serialized."""
        return orjson.dumps(self.__dict__)


WRK_SCRIPT = string.Template(r"""
-- generated by bench/webhook.py; one Lua state per wrk thread
local share = $share
local prefix = "$tag"
local variants = $variants
local bodies, heads = {}, {}
local threads = {}
local nthreads = 0
n, sent_relevant, duplicates, other = 0, 0, 0, 0
statuses = {}

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
  table.insert(threads, thread)
end

function init(args)
  for i, v in ipairs(variants) do
    local f = assert(io.open(v.path, "rb"))
    bodies[i] = f:read("*a")
    f:close()
    heads[i] = v.head
  end
end

function request()
  n = n + 1
  local i
  if math.floor(n * share) ~= math.floor((n - 1) * share) then
    sent_relevant = sent_relevant + 1
    i = 1
  else
    i = 2 + n % (#variants - 1)
  end
  return heads[i] .. prefix .. "-" .. tid .. "-" .. n .. "\r\n\r\n" .. bodies[i]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 and body and string.find(body, '"duplicate"', 1, true) then
    duplicates = duplicates + 1
  end
end

function done(summary, latency, requests)
  local total_status, relevant, dups = {}, 0, 0
  for _, t in ipairs(threads) do
    relevant = relevant + t:get("sent_relevant")
    dups = dups + t:get("duplicates")
    for code, count in pairs(t:get("statuses")) do
      total_status[code] = (total_status[code] or 0) + count
    end
  end
  local e = summary.errors
  local out = assert(io.open("$out", "w"))
  out:write(string.format('{"requests":%d,"seconds":%f,"sent_relevant":%d,"duplicates":%d,',
    summary.requests, summary.duration / 1e6, relevant, dups))
  out:write(string.format('"socket_errors":%d,"statuses":{', e.connect + e.read + e.write + e.timeout))
  local sep = ""
  for code, count in pairs(total_status) do
    out:write(string.format('%s"%d":%d', sep, code, count))
    sep = ","
  end
  out:write('},"latency_us":[')
  sep = ""
  local function bucket(value, count)
    if count > 0 then
      out:write(string.format("%s[%d,%d]", sep, value, count))
      sep = ","
    end
  end
  if pcall(function() return latency(1) end) then
    -- wrk 4.1: latency(i) is (value, count) of the i-th populated bucket, #latency their number
    for i = 1, #latency do bucket(latency(i)) end
  else
    -- wrk 4.2: latency[i] is the count of value i - 1 microseconds
    for i = 1, math.min(#latency, latency.max + 1) do bucket(i - 1, latency[i]) end
  end
  out:write("]}")
  out:close()
end
""")


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "\\r").replace("\n", "\\n") + '"'


def wrk_command(plan: Plan, workdir: Path) -> list[str]:
    """Write the Lua script for `plan` and return the wrk command that runs it."""
    variants = ", ".join(f"{{path = {_lua_string(v['path'])}, head = {_lua_string(v['head'])}}}"
                         for v in plan.variants)
    script = WRK_SCRIPT.substitute(share=repr(plan.relevant), tag=plan.tag, variants=f"{{{variants}}}",
                                   out=plan.out)
    lua = workdir / f"{plan.tag}.lua"
    lua.write_text(script)
    return ["wrk", "-t", str(plan.threads), "-c", str(plan.concurrency), "-d", f"{plan.seconds}s",
            "--timeout", f"{REQUEST_TIMEOUT_SECONDS}s", "-s", str(lua), f"http://{HOST}:{plan.port}/webhook"]


def python_client_command(plan_file: Path) -> list[str]:
    """The built-in asyncio client, as a separate process."""
    return [sys.executable, str(Path(__file__).resolve()), "--client-plan", str(plan_file)]


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self) -> None:
        import httptools

        self._parser = httptools.HttpResponseParser(self)
        self._parse_error = httptools.HttpParserError
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._body = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except self._parse_error as exc:
            self._fail(ConnectionError(f"bad response: {exc}"))

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result((self._parser.get_status_code(), bytes(self._body)))
        self._body.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionResetError("server closed the connection"))

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def exchange(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        """Send one request; the future resolves to (status, body)."""
        if self._transport is None or self._transport.is_closing():
            raise ConnectionResetError("connection closed")
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(data)
        return self._waiter

    def close(self) -> None:
        """Close the socket."""
        if self._transport is not None:
            self._transport.close()


@dataclass
class Tally:
    """What the built-in client saw."""

    statuses: Counter[int] = field(default_factory=Counter)
    duplicates: int = 0
    socket_errors: int = 0
    sent_relevant: int = 0
    latencies: list[float] = field(default_factory=list)


class Requests:
    """Ready-to-send request bytes, each with the next unique delivery id."""

    def __init__(self, plan: Plan) -> None:
        self._variants = [(v["head"].encode(), Path(v["path"]).read_bytes()) for v in plan.variants]
        self._share = plan.relevant
        self._tag = plan.tag.encode()
        self._n = 0

    def next(self, tally: Tally) -> bytes:
        """The next request (relevant ones counted in `tally`)."""
        self._n += 1
        if is_relevant(self._n, self._share):
            tally.sent_relevant += 1
            head, body = self._variants[0]
        else:
            head, body = self._variants[1 + self._n % (len(self._variants) - 1)]
        return b"".join((head, self._tag, b"-%d\r\n\r\n" % self._n, body))


async def _open(port: int) -> _Connection:
    _, conn = await asyncio.get_running_loop().create_connection(_Connection, HOST, port)
    return conn


async def _client_worker(port: int, requests: Requests, tally: Tally, deadline: float) -> None:
    conn = await _open(port)
    try:
        while time.perf_counter() < deadline:
            data = requests.next(tally)
            start = time.perf_counter()
            try:
                status, body = await conn.exchange(data)
            except OSError:
                tally.socket_errors += 1
                conn.close()
                conn = await _open(port)
                continue
            tally.latencies.append(time.perf_counter() - start)
            tally.statuses[status] += 1
            tally.duplicates += status == 200 and b'"duplicate"' in body
    finally:
        conn.close()


async def _run_client(plan: Plan) -> dict[str, Any]:
    requests, tally = Requests(plan), Tally()
    start = time.perf_counter()
    tasks = [asyncio.create_task(_client_worker(plan.port, requests, tally, start + plan.seconds))
             for _ in range(plan.concurrency)]
    done, pending = await asyncio.wait(tasks, timeout=plan.seconds + REQUEST_TIMEOUT_SECONDS)
    for task in pending:
        task.cancel()
    tally.socket_errors += len(pending) + sum(1 for t in done if t.exception() is not None)
    elapsed = time.perf_counter() - start
    histogram = Counter(int(x * 1e6) for x in tally.latencies)
    return {"requests": len(tally.latencies), "seconds": elapsed, "sent_relevant": tally.sent_relevant,
            "duplicates": tally.duplicates, "socket_errors": tally.socket_errors,
            "statuses": {str(k): v for k, v in tally.statuses.items()}, "latency_us": sorted(histogram.items())}


def client_main(plan_file: Path) -> None:
    """Entry point of the built-in client process: run the plan, write the result file."""
    import uvloop

    plan = Plan(**orjson.loads(plan_file.read_bytes()))
    result = uvloop.run(_run_client(plan))
    Path(plan.out).write_bytes(orjson.dumps(result))


# --------------------------------------------------------------------------- batches


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


def make_plan(bench: Bench, target: Target, seconds: int, label: str) -> Plan:
    """A plan for one batch against `target`, its bodies written to the scratch folder."""
    bench.counter += 1
    tag = f"{bench.secret[:6]}-{bench.counter:03d}-{label}"
    variants = []
    for v in bench.variants:
        path = bench.workdir / f"{v.name}.json"
        if not path.exists():
            path.write_bytes(v.body)
        variants.append({"path": str(path), "head": request_head(target.port, v.signature, len(v.body))})
    threads = max(1, min(len(bench.client_cpus or ()) or (os.cpu_count() or 2) // 2, bench.options.concurrency))
    return Plan(target.port, seconds, bench.options.concurrency, threads, bench.options.relevant, tag,
                variants, str(bench.workdir / f"{tag}.out.json"))


def run_client(bench: Bench, plan: Plan) -> tuple[dict[str, Any], float, float]:
    """Run one load-generator process; its result, CPU seconds and wall seconds."""
    plan_file = bench.workdir / f"{plan.tag}.plan.json"
    plan_file.write_bytes(plan.to_json())
    cmd = wrk_command(plan, bench.workdir) if bench.options.client == "wrk" else python_client_command(plan_file)
    cpu, start = children_cpu_seconds(), time.perf_counter()
    with pinned(bench.client_cpus):
        child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 start_new_session=True)
    try:
        _, stderr = child.communicate(timeout=plan.seconds + CLIENT_GRACE_SECONDS)
    finally:
        stop(child)
    wall, cpu = time.perf_counter() - start, children_cpu_seconds() - cpu
    out = Path(plan.out)
    if child.returncode != 0 or not out.exists():
        raise RuntimeError(f"load generator failed ({child.returncode}): {stderr.decode(errors='replace')}")
    return orjson.loads(out.read_bytes()), cpu, wall


def run_batch(bench: Bench, target: Target, seconds: int, label: str) -> dict[str, Any]:
    """One batch against one target, with the CPU used by client, server and Redis."""
    plan = make_plan(bench, target, seconds, label)
    server_cpu, redis_cpu = process_cpu_seconds(target.process.pid), bench.redis.cpu_seconds()
    jobs, machine = bench.redis.queued(), machine_busy_seconds()
    result, client_cpu, wall = run_client(bench, plan)
    machine = machine_busy_seconds() - machine
    server_cpu = process_cpu_seconds(target.process.pid) - server_cpu
    redis_cpu = bench.redis.cpu_seconds() - redis_cpu
    time.sleep(SETTLE_SECONDS)
    result.update(target=target.name, label=label, wall=wall, client_cpu=client_cpu / wall,
                  server_cpu=server_cpu / wall, redis_cpu=redis_cpu / wall,
                  other_cpu=max(0.0, machine - client_cpu - server_cpu - redis_cpu) / wall,
                  jobs=bench.redis.queued() - jobs)
    return result


def run_rounds(bench: Bench) -> None:
    """Warm both targets up, then alternate measured batches in ABBA order."""
    names = ["bare", "issuesmith"]
    if bench.options.warmup:
        for name in names:
            run_batch(bench, bench.targets[name], bench.options.warmup, "warmup")
        time.sleep(SETTLE_SECONDS)
        bench.redis.flush()
    for round_no in range(1, bench.options.rounds + 1):
        for name in names if round_no % 2 else names[::-1]:
            batch = run_batch(bench, bench.targets[name], bench.options.seconds, f"r{round_no}")
            bench.batches.append(batch)
            print(f"  round {round_no} {name:<10} {batch['requests'] / batch['seconds']:>9.0f} req/s  "
                  f"client CPU {batch['client_cpu']:.0%}  server CPU {batch['server_cpu']:.0%}", flush=True)


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
    async with httpx.AsyncClient(limits=limits, timeout=REQUEST_TIMEOUT_SECONDS) as client:

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
    """Jobs queued during issuesmith's batches against the relevant requests sent and answered 202."""
    mine = summary["issuesmith"]
    bare_jobs = sum(b["jobs"] for b in bench.batches if b["target"] == "bare")
    jobs, queued, sent = mine["jobs"], mine["statuses"].get("202", 0), mine["sent_relevant"]
    # wrk drops the requests in flight when time is up; the server may still queue them.
    length, hashes = bench.redis.queued(), bench.redis.intake_jobs()
    # Nothing else writes to our database: the queue holds exactly the jobs counted batch by batch.
    untouched = length == hashes == jobs + bare_jobs + burst["jobs"] and all(b["jobs"] >= 0 for b in bench.batches)
    ok = queued <= jobs <= sent and mine["duplicates"] == 0 and bare_jobs == 0 and untouched
    if bench.options.client == "python":
        ok = ok and jobs == sent
    return {"jobs": jobs, "answered_202": queued, "sent_relevant": sent, "duplicates": mine["duplicates"],
            "jobs_during_bare": bare_jobs, "queue_length": length, "intake_job_hashes": hashes,
            "database_untouched": untouched, "ok": ok}


# --------------------------------------------------------------------------- report


def percentile(histogram: list[tuple[int, int]], share: float) -> float:
    """The latency (ms) below which `share` of the requests fall."""
    total = sum(count for _, count in histogram)
    if not total:
        return float("nan")
    rank, seen = share * total, 0
    for value, count in sorted(histogram):
        seen += count
        if seen >= rank:
            return value / 1000
    return sorted(histogram)[-1][0] / 1000


def summarize(batches: list[dict[str, Any]]) -> dict[str, Any]:
    """One target's measured batches, merged."""
    histogram: Counter[int] = Counter()
    statuses: Counter[str] = Counter()
    for b in batches:
        histogram.update({int(v): int(c) for v, c in b["latency_us"]})
        statuses.update({str(k): int(v) for k, v in b["statuses"].items()})
    requests, seconds, wall = (sum(b[k] for b in batches) for k in ("requests", "seconds", "wall"))
    pairs = sorted(histogram.items())
    bad = sum(v for k, v in statuses.items() if int(k) not in EXPECTED)
    return {"requests": requests, "rps": requests / seconds, "p50_ms": percentile(pairs, 0.5),
            "p99_ms": percentile(pairs, 0.99), "max_ms": pairs[-1][0] / 1000 if pairs else float("nan"),
            "errors": bad + sum(b["socket_errors"] for b in batches), "statuses": dict(statuses),
            "rounds_rps": [b["requests"] / b["seconds"] for b in batches],
            "sent_relevant": sum(b["sent_relevant"] for b in batches),
            "duplicates": sum(b["duplicates"] for b in batches), "jobs": sum(b["jobs"] for b in batches),
            **{k: sum(b[k] * b["wall"] for b in batches) / wall
               for k in ("client_cpu", "server_cpu", "redis_cpu", "other_cpu")}}


def bottlenecks(options: Options, summary: dict[str, Any], client_cores: int) -> list[str]:
    """Plain-language notes on what limited each target's numbers."""
    notes = []
    for name, s in summary.items():
        client, server = s["client_cpu"] / client_cores, s["server_cpu"]
        if client >= SATURATED:
            notes.append(f"{name}: the load generator ({options.client}) used {client:.0%} of its "
                         f"{client_cores} core(s): it is the bottleneck, the server may do more than measured.")
        if server >= SATURATED:
            notes.append(f"{name}: the server used {server:.0%} of a core: one uvicorn worker is CPU-bound.")
        if client < SATURATED and server < SATURATED:
            notes.append(f"{name}: neither client ({client:.0%}) nor server ({server:.0%}) saturated a core: "
                         "waiting (Redis round-trips, thread hand-offs) or CPU contention limited it.")
    for name, s in summary.items():
        spread = max(s["rounds_rps"]) / min(s["rounds_rps"]) - 1
        if s["other_cpu"] > NOISY or spread > 0.15:
            notes.append(f"{name}: other processes used {s['other_cpu']:.0%} of a core and rounds differ by "
                         f"{spread:.0%}: the machine was noisy, compare the per-round numbers.")
    if (os.cpu_count() or 1) <= 2:
        notes.append(f"only {os.cpu_count()} CPU(s): server, client and Redis share them.")
    if options.client == "python":
        notes.append("the built-in Python client was used; install wrk (apt-get install wrk) for a lighter one.")
    return notes


def markdown(summary: dict[str, Any], ratio: float) -> str:
    """The results table."""
    rows = ["| target | req/s | p50 ms | p99 ms | max ms | errors | requests | client CPU | server CPU | Redis CPU "
            "| other CPU |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in summary.items():
        rows.append(f"| {name} | {s['rps']:.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['max_ms']:.1f} | "
                    f"{s['errors']} | {s['requests']} | {s['client_cpu']:.0%} | {s['server_cpu']:.0%} | "
                    f"{s['redis_cpu']:.0%} | {s['other_cpu']:.0%} |")
    rows.append(f"| **issuesmith ÷ bare** | **{ratio:.2f}** | | | | | | | | | |")
    return "\n".join(rows)


def server_log_findings(target: Target) -> dict[str, Any]:
    """Warnings and errors the server logged during the run."""
    lines = target.log.read_text(errors="replace").splitlines() if target.log.exists() else []
    bad = [line for line in lines if any(w in line.lower() for w in ('"level":"error"', '"level":"warning"',
                                                                    "traceback", "error:", "warning:"))]
    return {"log": str(target.log.relative_to(ROOT)), "lines": len(lines), "problems": len(bad), "first": bad[:5]}


def report(bench: Bench, burst: dict[str, Any]) -> dict[str, Any]:
    """Print the results and return them as one JSON-ready dict."""
    summary = {name: summarize([b for b in bench.batches if b["target"] == name]) for name in ("bare", "issuesmith")}
    ratio = summary["issuesmith"]["rps"] / summary["bare"]["rps"]
    queue = queue_check(bench, summary, burst)
    notes = bottlenecks(bench.options, summary, len(bench.client_cpus or ()) or os.cpu_count() or 1)
    logs = {name: server_log_findings(t) for name, t in bench.targets.items()}
    print("\n" + markdown(summary, ratio) + "\n")
    for name, s in summary.items():
        print(f"- {name} req/s per round: " + ", ".join(f"{r:.0f}" for r in s["rounds_rps"]))
    print(f"- queue: {queue['jobs']} jobs queued for {queue['sent_relevant']} relevant requests sent "
          f"({queue['answered_202']} answered 202, {queue['duplicates']} answered duplicate, "
          f"{queue['jobs_during_bare']} during bare batches): {'OK' if queue['ok'] else 'MISMATCH'}")
    if not queue["database_untouched"]:
        print(f"- the Redis database changed under the benchmark (queue {queue['queue_length']}, "
              f"{queue['intake_job_hashes']} job hashes): another client uses it; pick another --redis-db")
    print(f"- de-dup burst: {burst['deliveries']} deliveries sent twice at once → {burst['outcomes']}, "
          f"{burst['jobs']} jobs: {'OK' if burst['ok'] else 'MISMATCH'}")
    for note in notes:
        print(f"- {note}")
    for name, found in logs.items():
        print(f"- {name} log ({found['log']}): {found['problems']} warning/error lines of {found['lines']}")
        for line in found["first"]:
            print(f"    {line[:200]}")
    return {"summary": summary, "ratio_rps": ratio, "queue_check": queue, "dedup_burst": burst,
            "bottlenecks": notes, "server_logs": logs}


# --------------------------------------------------------------------------- main


def _cpu_split(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, None
    return {cpus[0]}, set(cpus[1:])


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


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


def run(options: Options) -> dict[str, Any]:
    """The whole benchmark; returns what is written to the JSON file."""
    server_cpus, client_cpus = _cpu_split(options.pin)
    secret = secrets.token_hex(32)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    total = 2 * (options.warmup + options.rounds * options.seconds)
    print(f"webhook bench: client={options.client}, {options.concurrency} connections, "
          f"{options.relevant:.0%} relevant, ~{total} s of load; server CPUs {server_cpus or 'any'}, "
          f"client CPUs {client_cpus or 'any'}", flush=True)
    probe = RedisProbe(redis_db_url(options.redis_url, options.redis_db))
    if probe.other_clients():
        raise SystemExit(f"Redis db {options.redis_db} has other clients connected (tests?); it would be "
                         "flushed: pick a free one with --redis-db")
    with tempfile.TemporaryDirectory(prefix="issuesmith-bench-") as tmp:
        bench = Bench(options, secret, build_variants(secret), probe, Path(tmp), client_cpus)
        with running(bench, server_cpus):
            sanity_check(bench)
            run_rounds(bench)
            results = report(bench, dedup_burst(bench))
    batches = [{k: v for k, v in b.items() if k != "latency_us"} for b in bench.batches]
    return {"options": options.__dict__, "cpus": os.cpu_count(), "server_cpus": sorted(server_cpus or ()),
            "client_cpus": sorted(client_cpus or ()),
            "payload_bytes": {v.name: len(v.body) for v in bench.variants}, **results, "batches": batches}


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parsed = parse_args(argv)
    if isinstance(parsed, Path):
        client_main(parsed)
        return 0
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background
    try:
        results = run(parsed)
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped, Redis database flushed", file=sys.stderr)
        return 130
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        print(f"\nbenchmark failed: {exc}\nservers stopped, Redis database flushed", file=sys.stderr)
        return 2
    out = RESULTS_DIR / "webhook.json"
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"\nwritten: {out.relative_to(ROOT)}")
    return 0 if results["queue_check"]["ok"] and results["dedup_burst"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
