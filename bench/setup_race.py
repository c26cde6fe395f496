"""Setup sandboxes started at the same time: how many fail to start, with and without waiting for bwrap's loopback.

slirp4netns brings the sandbox's `lo` up (the kernel then adds 127.0.0.1); bwrap adds that
address itself, exclusively, after it reports its child. Started too early, slirp4netns made
bwrap fail ("bwrap: loopback: Failed RTM_NEWADDR"). The worker now waits for bwrap's loopback
(`bot.sandboxes.outbound._loopback_ready`); `--without-wait` rounds skip that wait to show
what it prevents. Both variants run in the same invocation, alternating, on this machine.
Needs root, bubblewrap, slirp4netns and nft (`make setup`).

    .venv/bin/python bench/setup_race.py --runs 60 --parallel 3
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from bot.sandboxes import outbound
from bot.sandboxes.base import Limits, SandboxStartFailed
from bot.sandboxes.bubblewrap import BubblewrapBackend


def attempt(backend: BubblewrapBackend) -> str:
    """One setup-phase sandbox running `true`: "ok", or how it failed."""
    with tempfile.TemporaryDirectory() as work:
        Path(work).chmod(0o755)
        try:
            result = backend.run("true", Path(work), Limits(timeout=30), network=True)
        except SandboxStartFailed as exc:
            return f"failed to start: {str(exc).rsplit(': ', 2)[-2:]}"
        return "ok" if result.exit_code == 0 else f"exit {result.exit_code}"


def round_of(runs: int, parallel: int, backend: BubblewrapBackend) -> collections.Counter[str]:
    """`parallel` threads each starting `runs` sandboxes one after another."""
    counts: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def work() -> None:
        for _ in range(runs):
            outcome = attempt(backend)
            with lock:
                counts[outcome] += 1

    threads = [threading.Thread(target=work) for _ in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60, help="sandboxes per thread and variant")
    parser.add_argument("--parallel", type=int, default=3, help="sandboxes starting at once")
    args = parser.parse_args()
    backend = BubblewrapBackend()
    waiting: Callable[[int, float], bool] = outbound._loopback_ready
    totals = {"with the wait": collections.Counter[str](), "without the wait": collections.Counter[str]()}
    for half in range(2):  # alternate, so both variants meet the same machine
        for name, ready in (("with the wait", waiting), ("without the wait", lambda pid, seconds: True)):
            outbound._loopback_ready = ready  # type: ignore[assignment]
            totals[name] += round_of(args.runs // 2 + half * (args.runs % 2), args.parallel, backend)
    outbound._loopback_ready = waiting  # type: ignore[assignment]
    for name, counts in totals.items():
        failed = sum(n for outcome, n in counts.items() if outcome != "ok")
        print(f"{name}: {failed} of {sum(counts.values())} failed  {dict(counts)}")


if __name__ == "__main__":
    main()
