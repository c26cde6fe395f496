"""One benchmark run: servers up, warm-up, measured batches in ABBA order, checks, report.

Each batch is one load-generator process against one target, measured with the CPU used by
the client, the server, Redis and everything else on the machine.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from .load import Plan, build_variants, children_cpu_seconds, python_client_command, request_head, wrk_command
from .options import RESULTS_DIR, SETTLE_SECONDS, Options
from .report import report
from .servers import (
    Bench,
    RedisProbe,
    Target,
    dedup_burst,
    machine_busy_seconds,
    pinned,
    process_cpu_seconds,
    redis_db_url,
    running,
    sanity_check,
    stop,
)

CLIENT_GRACE_SECONDS = 30


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


def _cpu_split(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, None
    return {cpus[0]}, set(cpus[1:])


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
