"""The OpenAI stand-in as a process of its own: one server profile, replaying one transcript.

    python -m standins.model_server --profile ollama --transcript bot/cli/demo/transcript.jsonl

It serves what `standins.openai.FakeOpenAI` serves (``/v1/chat/completions``, ``/v1/models``), playing
the named profile of `standins.profiles` (each deviation cited there), with every agent's replies of the
transcript queued in order and matched to that agent's requests (`standins.trajectory`). The first line
it prints is ``listening on http://HOST:PORT`` (with ``--port 0``, the port the system chose); point
``OPENAI_BASE_URL`` at that URL plus ``/v1``. It serves until SIGTERM or SIGINT.

``--estimate-usage`` drops the transcript's recorded token counts: the usage of every answer is then the
stand-in's own count of the request it got (four characters a token), so a run's figures are those of the
prompts it really sent.
"""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from pathlib import Path

from standins import trajectory
from standins.openai import FakeOpenAI
from standins.profiles import PROFILES
from standins.server import ServerThread


def main(argv: list[str] | None = None) -> int:
    """Serve the stand-in until told to stop; 0 when it stopped on a signal."""
    parser = argparse.ArgumentParser(prog="python -m standins.model_server", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="openai", choices=list(PROFILES), help="the server played")
    parser.add_argument("--transcript", type=Path, required=True, help="the replies to replay (bot.models.replay)")
    parser.add_argument("--api-key", default="sk-standin", help="the key a request must carry")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--estimate-usage", action="store_true",
                        help="report the stand-in's count of each request, not the transcript's recorded usage")
    args = parser.parse_args(argv)
    fake = FakeOpenAI(api_key=args.api_key, profile=args.profile)
    replies = trajectory.load(args.transcript)
    if args.estimate_usage:
        replies = {agent: [dataclasses.replace(r, usage=None) for r in said] for agent, said in replies.items()}
    trajectory.script(fake, replies)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server = ServerThread(fake.app, args.host, args.port).start()
    print(f"listening on {server.url}", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
    print(f"stopped; {fake.pending()} scripted replies were not asked for", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
