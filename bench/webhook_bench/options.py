"""What the webhook benchmark's parts share: paths, constants, and the checked command line."""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
HOST = "127.0.0.1"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
SETTLE_SECONDS = 0.3
REQUEST_TIMEOUT_SECONDS = 10


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


def parse_args(argv: list[str] | None, description: str) -> Options | Path:
    """Options of a benchmark run, or the plan file when started as the internal client."""
    parser = argparse.ArgumentParser(description=description)
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
