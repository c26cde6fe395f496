"""The mistake catalogue, measured: each typical small-model mistake through the whole demo flow.

For every server profile asked for (`standins/profiles.py`) the good demo trajectory runs once
(the baseline), then each mistake of `standins/mistakes.py` once, through the real web app, Redis,
RQ, git and the sample repository's tests (`tests/flows.py`). Per mistake and profile it prints
whether the run landed the correct patch, the extra model calls and tokens over the baseline, and,
for a run that failed, whether the failure comment names what went wrong. A run that raises is a
crash; one that does not end within `--timeout` seconds is a hang (the bench then stops).

    .venv/bin/python bench/agent_faults.py --redis-url redis://127.0.0.1:6379/12
    .venv/bin/python bench/agent_faults.py --profiles openai,ollama --mistakes empty_reply,fenced_json

Exit status 0 when at least 90 % of the runs recovered and there was no crash, hang or empty pull
request; 1 otherwise.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the flow driver lives with the tests

import redis  # noqa: E402

from bot.cli.demo import TRANSCRIPT  # noqa: E402
from standins import trajectory  # noqa: E402
from standins.github import generate_app_key  # noqa: E402
from standins.mistakes import CATALOGUE, Mistake, mistake  # noqa: E402
from standins.profiles import SERVERS  # noqa: E402
from tests.flows import Outcome, demo_flow  # noqa: E402
from tests.world import make_world  # noqa: E402

GOAL = 0.9
_FORK = multiprocessing.get_context("fork")


@dataclass(frozen=True)
class Row:
    """One mistake under one profile, measured."""

    mistake: str
    profile: str
    outcome: Outcome | None  # None: crashed or hung
    problem: str = ""  # "crash: ..." or "hang"

    def recovered(self) -> bool:
        return self.outcome is not None and self.outcome.pull_request and self.outcome.correct_patch


def main(argv: list[str] | None = None) -> int:
    """Run the catalogue and print its table; the exit status says whether the goal was met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12",
                        help="a Redis database this bench may flush (default db 12)")
    parser.add_argument("--profiles", default=",".join(SERVERS), help="server profiles, comma-separated")
    parser.add_argument("--mistakes", default="", help="mistakes by name, comma-separated (default: all)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds one flow may take")
    args = parser.parse_args(argv)
    chosen = [mistake(n) for n in args.mistakes.split(",")] if args.mistakes else list(CATALOGUE)
    keys = generate_app_key()
    rows: list[Row] = []
    baselines: dict[str, Outcome] = {}
    print(HEADER)
    for profile in args.profiles.split(","):
        base = _run(args.redis_url, keys, profile, None, args.timeout)
        if base.outcome is None or not base.recovered():
            print(f"the good trajectory does not land under {profile}: {base.problem or base.outcome}")
            continue
        baselines[profile] = base.outcome
        for each in chosen:
            row = _run(args.redis_url, keys, profile, each, args.timeout)
            rows.append(row)
            print(_line(row, base.outcome), flush=True)
            if row.problem == "hang":
                break
    return _summary(rows)


def _run(url: str, keys: tuple[str, str], profile: str, wrong: Mistake | None, timeout: float) -> Row:
    """One flow in a fresh world, in a child process bounded by `timeout` (still running then: a hang,
    and the child is killed). RQ's worker needs the main thread of its process, hence not a thread."""
    name = wrong.name if wrong else "(none)"
    results: multiprocessing.SimpleQueue[Row] = _FORK.SimpleQueue()
    child = _FORK.Process(target=_flow, args=(url, keys, profile, wrong, results), daemon=True)
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        child.join()
        return Row(name, profile, None, "hang")
    if results.empty():
        return Row(name, profile, None, f"crash: the flow's process ended with status {child.exitcode}")
    return results.get()


def _flow(url: str, keys: tuple[str, str], profile: str, wrong: Mistake | None,
          results: multiprocessing.SimpleQueue[Row]) -> None:
    """The child's work: a fresh world and database, the flow, its row."""
    logging.disable(logging.WARNING)
    redis.Redis.from_url(url).flushdb()
    name = wrong.name if wrong else "(none)"
    world = make_world(Path(tempfile.mkdtemp(prefix="issuesmith-faults-")), url, keys, profile=profile,
                       reproduce=True)  # the demo's flow as deployed: the reproduction first
    try:
        good = trajectory.load(TRANSCRIPT)
        results.put(Row(name, profile, demo_flow(world, wrong.apply(good) if wrong else good)))
    except Exception as exc:  # a crash is what this bench counts
        results.put(Row(name, profile, None, f"crash: {type(exc).__name__}: {exc}"))
    finally:
        world.close()


HEADER = ("| mistake | profile | correct patch | extra calls | extra tokens | failure clear and named |\n"
          "|---|---|---|---|---|---|")


def _line(row: Row, base: Outcome) -> str:
    if row.outcome is None:
        return f"| {row.mistake} | {row.profile} | no | — | — | no ({row.problem}) |"
    out = row.outcome
    named = "—" if row.recovered() else ("yes" if out.named_failure else "no")
    if named == "yes":
        named += ": " + out.failure.split("step: ", 1)[-1].split("\n", 1)[0][:90].replace("|", "/")
    return (f"| {row.mistake} | {row.profile} | {'yes' if row.recovered() else 'no'} | {out.calls - base.calls:+d} "
            f"| {out.tokens - base.tokens:+,} | {named} |")


def _summary(rows: list[Row]) -> int:
    if not rows:
        return 1
    recovered = sum(row.recovered() for row in rows)
    crashes = sum(row.problem.startswith("crash") or (row.outcome is not None and not row.recovered()
                                                      and not row.outcome.named_failure) for row in rows)
    hangs = sum(row.problem == "hang" for row in rows)
    empty = sum(row.outcome is not None and row.outcome.state == "PR_OPEN" and not row.outcome.diff.strip()
                for row in rows)
    share = recovered / len(rows)
    print(f"\n{recovered}/{len(rows)} recovered ({share:.0%}), {len(rows) - recovered - crashes - hangs} named "
          f"failures, {crashes} crashes, {hangs} hangs, {empty} empty pull requests")
    return 0 if share >= GOAL and not (crashes or hangs or empty) else 1


if __name__ == "__main__":
    sys.exit(main())
