"""Candidates at once against one after another: the code step's wall time with N Coder attempts.

Everything but the model is real and in one process (`tests.world`): the web app, Redis, an RQ worker,
git, the sandbox and the sample repository's pytest suite, with the reproduction phase on. The OpenAI
stand-in answers each Coder request after `--model-seconds` (a model that takes its time; the default
2 s is fast for a hosted model); each attempt makes its fix, runs the tests and finishes. The same run is
made with `ISSUESMITH_CANDIDATES_AT_ONCE=1` (one after another) and `=N`, alternating over `--rounds`
(this machine is noisy), and the bench prints the code step's seconds per setting and their ratio.

    .venv/bin/python bench/candidates.py --redis-url redis://127.0.0.1:6379/12
    .venv/bin/python bench/candidates.py --candidates 3 --model-seconds 2 --rounds 3

The Redis database is flushed before each run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the in-process world lives with the tests

from bot.runs.model import State  # noqa: E402
from standins.github_keys import generate_app_key  # noqa: E402
from standins.openai import Reply  # noqa: E402
from tests.world import (  # noqa: E402
    APPROVE,
    CODER,
    FIX,
    REPO,
    REVIEWER,
    RUN_REPRO,
    TESTER,
    make_world,
    reproduction_replies,
)

FINISH = ("finish", {"summary": "Split on any whitespace.", "notes": ""})


def code_seconds(redis_url: str, keys: tuple[str, str], count: int, at_once: int, model_seconds: float) -> float:
    """One implement run with `count` attempts, `at_once` at a time: the code step's seconds, from its log."""
    redis.Redis.from_url(redis_url).flushdb()
    with tempfile.TemporaryDirectory(prefix="issuesmith-bench-candidates-") as scratch:
        world = make_world(Path(scratch), redis_url, keys, reproduce=True, candidates_at_once=at_once)
        try:
            world.github.push_commit(REPO, "main", {".github/issuesmith.yml": f"candidates: {count}\n"}, by="alice")
            world.openai.script(*reproduction_replies(), match=TESTER)
            for n in range(1, count + 1):
                world.openai.script(Reply.tool_calls([FIX, RUN_REPRO]).slowly(model_seconds),
                                    Reply.tool_calls([FINISH]).slowly(model_seconds),
                                    match=(CODER, f"attempt {n} of {count}"))
            world.openai.script(Reply.json(APPROVE), match=REVIEWER)
            world.openai.script(Reply.json({"summary": "Already covered.", "tests_added": []}), match=TESTER)
            run_id = world.plan_and_approve()
            run = world.run()
            if run is None or run.state != State.PR_OPEN:
                raise SystemExit(f"the run did not open a pull request: {world.services.store.entries(run_id)[-3:]}")
            return step_seconds(world.services.store.entries(run_id), "code")
        finally:
            world.close()


def step_seconds(entries: list[dict], step: str) -> float:
    """From the step's first logged event to its last."""
    times = [float(e["ts"]) for e in entries if e.get("step") == step]
    return max(times) - min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--candidates", type=int, default=3)
    parser.add_argument("--model-seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    keys = generate_app_key()
    seconds: dict[int, list[float]] = {1: [], args.candidates: []}
    for round_ in range(args.rounds):
        for at_once in (1, args.candidates) if round_ % 2 == 0 else (args.candidates, 1):
            taken = code_seconds(args.redis_url, keys, args.candidates, at_once, args.model_seconds)
            seconds[at_once].append(taken)
            print(f"round {round_ + 1}: {args.candidates} attempts, {at_once} at a time: code step {taken:.1f} s",
                  flush=True)
    one, many = statistics.median(seconds[1]), statistics.median(seconds[args.candidates])
    print(f"\n{args.candidates} candidates, model {args.model_seconds:g} s per Coder call, {args.rounds} rounds:")
    print(f"  one after another: code step median {one:.1f} s")
    print(f"  {args.candidates} at a time:       code step median {many:.1f} s  ({many / one:.2f}× the time)")


if __name__ == "__main__":
    main()
