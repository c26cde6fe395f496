"""Replay SWE-bench-format instances through the real `issuesmith run` with a scripted model.

For each instance: a checkout of its repository from the source release (`bench/materialize.py`,
cached under `var/bench/repos`), the derived setup and test commands (`replay_bench.commands`), and a
transcript whose replies are the instance's own patches made through the agents' edit tools: the test
patch written by the Tester as the reproduction test, the gold patch by the Coder, who runs the
reproduction's tests, then the Tester's later phase and the Reviewer's approval
(`replay_bench.transcript`). `issuesmith run` does the rest as it would for a person; the harness then
reads what the run recorded (`replay_bench.outcome`) and prints one row per instance.

    .venv/bin/python bench/swebench_replay.py                      # all of ../shared/data/swebench-lite-dev.jsonl
    .venv/bin/python bench/swebench_replay.py --only marshmallow-code__marshmallow-1343
    .venv/bin/python bench/swebench_replay.py --wrong-first --only sqlfluff__sqlfluff-1625

Exit 0 when every instance that could run here ended with a ready-for-review pull request and 0
regressions; 1 otherwise. Instances that cannot run here (no release, a patch that does not apply,
tests absent from the release) are listed with the reason and do not count.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for where in (ROOT, ROOT / "bench"):
    if str(where) not in sys.path:
        sys.path.insert(0, str(where))

import materialize  # noqa: E402
from replay_bench import table  # noqa: E402
from replay_bench.runner import Options, replay  # noqa: E402

DEFAULT_INSTANCES = ROOT.parent / "shared" / "data" / "swebench-lite-dev.jsonl"


def load(path: Path, only: list[str]) -> list[dict[str, object]]:
    """The instances of `path` (those named in `only`, when given)."""
    instances = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if only:
        unknown = set(only) - {i["instance_id"] for i in instances}
        if unknown:
            raise SystemExit(f"not in {path}: {', '.join(sorted(unknown))}")
        instances = [i for i in instances if i["instance_id"] in only]
    return instances


def ensure_materialized(instances: list[dict[str, object]], repos: Path) -> None:
    """Materialize the repositories of instances that `commit-map.json` does not know yet."""
    known: dict[str, dict[str, object]] = {"mapped": {}, "not_mapped": {}}
    path = repos / "commit-map.json"
    if path.exists():
        known = json.loads(path.read_text())
    missing = [i for i in instances if i["instance_id"] not in known["mapped"] | known["not_mapped"]]
    if missing:
        print(f"materializing {len(missing)} instances' releases into {repos}", flush=True)
        repos.mkdir(parents=True, exist_ok=True)
        result = materialize.materialize_instances(missing, repos)
        for key in ("mapped", "not_mapped"):
            known[key].update(result[key])  # type: ignore[arg-type]
        path.write_text(json.dumps(known, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=Path, default=DEFAULT_INSTANCES, help="SWE-bench JSONL file")
    parser.add_argument("--only", nargs="+", default=[], metavar="INSTANCE_ID")
    parser.add_argument("--wrong-first", action="store_true",
                        help="the scripted Coder first applies a wrong variant of the fix and runs the tests")
    parser.add_argument("--repos", type=Path, default=ROOT / "var" / "bench" / "repos")
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "bench" / "replay")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12",
                        help="a Redis database for the runs (flushed before each instance)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per instance")
    args = parser.parse_args(argv)
    args.repos, args.work = args.repos.resolve(), args.work.resolve()  # git runs in other directories
    instances = load(args.instances, args.only)
    ensure_materialized(instances, args.repos)
    options = Options(args.repos, args.work, args.redis_url, args.timeout, args.wrong_first,
                      Path(sys.executable).parent / "issuesmith")
    rows = []
    print(f"replaying {len(instances)} instances ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", flush=True)
    for instance in instances:
        row = replay(instance, options)
        rows.append(row)
        print(table.markdown([row]).splitlines()[-1], flush=True)
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "results.json").write_text(json.dumps(table.as_json(rows), indent=1) + "\n")
    (args.work / "results.md").write_text(table.markdown(rows))
    print("\n" + table.markdown(rows))
    ran = [r for r in rows if r.status != "cannot run here"]
    good = [r for r in ran if r.good]
    print(f"{len(good)} of {len(ran)} replayed instances ready with 0 regressions "
          f"({len(rows) - len(ran)} cannot run here)")
    return 0 if len(good) == len(ran) else 1


if __name__ == "__main__":
    raise SystemExit(main())
