"""How long a `/metrics` scrape takes with 1,000, 10,000 and 100,000 runs stored, beside a full recount.

For each size the database is filled with that many runs (whole run hashes in random states, two
thirds with a plan phase timed, a third with a pull-request phase, all in the run index), the
tallies are built by the one-time recount a Redis from before them gets (`bot.runs.recount`,
timed), and then, alternating in the same run, `--rounds` times each:

* scrape: the web app's `/metrics` exposition (`WebMetrics.render`: RQ registries, tallies, model
  and step figures), which is what Prometheus pays for;
* recount: `bot.runs.recount.full_recount`, reading every run's state and phase fields, which is
  what a scrape did before the tallies (it read each run's state).

Medians are reported, with scrape ÷ recount and each size's scrape ÷ the 1,000-run scrape (flat is
1.0). Every scrape's runs-by-state equals the recount, or the run fails.

    .venv/bin/python bench/metrics_bench.py --redis-url redis://127.0.0.1:6379/12
    .venv/bin/python bench/metrics_bench.py --redis-url redis://127.0.0.1:6379/12 --sizes 1000,10000 --rounds 5

The database is flushed before every size and at the end; the run stops if it is not empty at the start.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client.parser import text_string_to_metric_families

from bot.runs import recount, runindex, tallies
from bot.runs.model import Run, State
from bot.web.metrics import WebMetrics

RESULTS = Path(__file__).resolve().parent / "results" / "metrics.json"


def fill(client: redis.Redis, count: int, rng: random.Random) -> None:
    """`count` runs in random states, indexed, some with their phases timed."""
    states = list(State)
    now = time.time()
    for start in range(0, count, 2000):
        pipe = client.pipeline(transaction=False)
        for n in range(start, min(start + 2000, count)):
            run = Run(id=f"r{n:011d}", repo="o/r", issue=n, installation_id=1, state=rng.choice(states),
                      created_at=now - n, issue_title="a title of some length " * 3, created_by="alice")
            fields = run.to_hash()
            if n % 3:
                fields["plan_seconds"] = repr(rng.expovariate(1 / 120))
            if n % 3 == 2:
                fields["pr_seconds"] = repr(rng.expovariate(1 / 600))
            pipe.hset(f"{recount.RUN_PREFIX}{run.id}", mapping=fields)
            pipe.zadd(runindex.KEY, {run.id: run.created_at})
        pipe.execute()


def scraped_states(exposition: bytes) -> dict[str, float]:
    """`issuesmith_runs` by state from an exposition."""
    return {s.labels["state"]: s.value for family in text_string_to_metric_families(exposition.decode())
            for s in family.samples if s.name == "issuesmith_runs"}


def measure(url: str, count: int, rounds: int) -> dict[str, float]:
    """Fill, build the tallies, then alternate scrape and recount; medians in ms."""
    text = redis.Redis.from_url(url, decode_responses=True)
    text.flushdb()
    fill(text, count, random.Random(count))
    started = time.perf_counter()
    assert recount.ensure(text) == count
    migration = time.perf_counter() - started
    metrics = WebMetrics(redis.Redis.from_url(url), text, {"m1"})
    metrics.render()  # warm-up: connections, first-use imports
    scrapes, recounts = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        exposition = metrics.render()
        scrapes.append(time.perf_counter() - started)
        started = time.perf_counter()
        states, _ = recount.full_recount(text)
        recounts.append(time.perf_counter() - started)
        if scraped_states(exposition) != {s.value: float(n) for s, n in states.items()}:
            raise SystemExit(f"at {count} runs the scrape's runs by state differ from a full recount")
    assert tallies.runs_by_state(text) == states
    return {"runs": count, "scrape_ms": statistics.median(scrapes) * 1000,
            "recount_ms": statistics.median(recounts) * 1000, "migration_ms": migration * 1000}


def report(rows: list[dict[str, float]]) -> str:
    """The table printed and kept in bench/results/metrics.md."""
    base = rows[0]["scrape_ms"]
    lines = ["| runs | scrape (ms) | full recount (ms) | scrape ÷ recount | scrape ÷ first size "
             "| one-time recount (ms) |", "|---|---|---|---|---|---|"]
    lines += [f"| {int(r['runs']):,} | {r['scrape_ms']:.2f} | {r['recount_ms']:.1f} | "
              f"{r['scrape_ms'] / r['recount_ms']:.4f} | {r['scrape_ms'] / base:.2f} | {r['migration_ms']:.0f} |"
              for r in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True, help="a database of its own: it is flushed")
    parser.add_argument("--sizes", default="1000,10000,100000", help="numbers of runs, comma-separated")
    parser.add_argument("--rounds", type=int, default=7, help="scrape/recount pairs per size (median)")
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis_url)
    if client.dbsize():
        print(f"{args.redis_url} is not empty: give a database of its own", file=sys.stderr)
        return 2
    try:
        rows = [measure(args.redis_url, int(size), max(args.rounds, 1)) for size in args.sizes.split(",")]
    finally:
        client.flushdb()
    table = report(rows)
    print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2))
    RESULTS.with_suffix(".md").write_text(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
