"""The report: per-target figures, the issuesmith ÷ bare ratio, bottleneck notes, server-log findings.

`report` prints the Markdown table and the notes, and returns them as the JSON-ready dict that
`bench/webhook.py` writes to `bench/results/webhook.json`.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from .options import ROOT, Options
from .servers import Bench, Target, queue_check

EXPECTED = {200, 202}
SATURATED = 0.85  # share of the cores a process may use above which we call it the bottleneck
NOISY = 0.25  # cores used by other processes (and softirq) above which the run is called noisy


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
               for k in ("client_cpu", "server_cpu", "redis_cpu", "other_cpu")},
            **{f"{k}_us_per_request": sum(b[f"{k}_cpu"] * b["wall"] for b in batches) / max(requests, 1) * 1e6
               for k in ("server", "redis")}}


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


def cpu_ratio(summary: dict[str, Any]) -> float:
    """Bare's server CPU per request ÷ issuesmith's: the req/s ratio one CPU-bound server would reach."""
    mine = summary["issuesmith"]["server_us_per_request"]
    return float(summary["bare"]["server_us_per_request"] / mine) if mine else float("nan")


def markdown(summary: dict[str, Any], ratio: float) -> str:
    """The results table."""
    rows = ["| target | req/s | p50 ms | p99 ms | max ms | errors | requests | client CPU | server CPU | Redis CPU "
            "| other CPU | server µs/req | Redis µs/req |", "|---" + "|---:" * 12 + "|"]
    for name, s in summary.items():
        rows.append(f"| {name} | {s['rps']:.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['max_ms']:.1f} | "
                    f"{s['errors']} | {s['requests']} | {s['client_cpu']:.0%} | {s['server_cpu']:.0%} | "
                    f"{s['redis_cpu']:.0%} | {s['other_cpu']:.0%} | {s['server_us_per_request']:.0f} | "
                    f"{s['redis_us_per_request']:.0f} |")
    rows.append(f"| **issuesmith ÷ bare** | **{ratio:.2f}** | | | | | | | | | | **{cpu_ratio(summary):.2f}** "
                "(bare µs ÷ issuesmith µs) | |")
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
    print(f"- queue: {queue['jobs']} deliveries taken in for {queue['sent_relevant']} relevant requests sent "
          f"({queue['answered_202']} answered 202, {queue['duplicates']} answered duplicate, "
          f"{queue['jobs_during_bare']} during bare batches): {'OK' if queue['ok'] else 'MISMATCH'}")
    if not queue["database_untouched"]:
        print(f"- the Redis database changed under the benchmark (inbox {queue['inbox_length']}, "
              f"{queue['delivery_ids_remembered']} delivery ids): another client uses it; pick another --redis-db")
    print(f"- de-dup burst: {burst['deliveries']} deliveries sent twice at once → {burst['outcomes']}, "
          f"{burst['jobs']} taken in: {'OK' if burst['ok'] else 'MISMATCH'}")
    print(f"- dispatch: the worker's dispatcher turned {queue['dispatched']} inbox entries into {queue['rq_jobs']} "
          f"RQ jobs ({queue['intake_job_hashes']} intake job hashes) in {queue['dispatch_seconds']} s: "
          f"{'OK' if queue['dispatch_ok'] else 'MISMATCH'}")
    for note in notes:
        print(f"- {note}")
    for name, found in logs.items():
        print(f"- {name} log ({found['log']}): {found['problems']} warning/error lines of {found['lines']}")
        for line in found["first"]:
            print(f"    {line[:200]}")
    return {"summary": summary, "ratio_rps": ratio, "ratio_server_cpu": cpu_ratio(summary),
            "queue_check": queue, "dedup_burst": burst,
            "bottlenecks": notes, "server_logs": logs}
