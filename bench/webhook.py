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

It prints a Markdown table (req/s, p50, p99, errors, CPU of client, server and Redis, server and
Redis CPU per request), the req/s ratio issuesmith ÷ bare, checks that the deliveries stored in the
inbox match the relevant requests (plus a burst of concurrent duplicate deliveries that must be
stored once each) and that the worker's dispatcher turns them into exactly one RQ intake job each,
says what limited the measurement, and writes everything to `bench/results/webhook.json`.

The code is in `bench/webhook_bench/` (the load client, the servers and Redis, the report, the
batches of a run); this file is only the entry point, also of the built-in client process
(`--client-plan`).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

if str(Path(__file__).resolve().parent) not in sys.path:  # imported by path rather than run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from webhook_bench.batches import run
from webhook_bench.load import client_main
from webhook_bench.options import RESULTS_DIR, ROOT, parse_args


def _on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parsed = parse_args(argv, __doc__.split("\n\n")[0])
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
