"""Context benchmark: does the Planner's context hold the files that real issues needed changed?

For every SWE-bench-format instance (JSONL: `instance_id`, `repo`, `base_commit`,
`problem_statement`, `patch`), the harness checks out `base_commit` of the repository found in
`--repos` (`owner__name` or `owner/name`; a commit that is not in the repository resolves through
the tag `swebench/<base_commit>` that `bench/materialize.py` writes) in a scratch work tree, runs
the context builder exactly as the Planner's job does (`bot.localize.context.build_context` on the
problem statement, default budget), and compares with the files the gold `patch` touches.

Per instance: each gold file's rank, whether its excerpt is in the context at the default budget
and at 4k / 8k / 16k tokens, the context's tokens and the seconds it took. Summary: file hit@1/3/5/10
(all gold files within the top k), recall in context, mean tokens, time per instance (median, p95)
and repository sizes. Writes `<out>.json` and `<out>.md`.

    .venv/bin/python bench/localize.py --instances /work/shared/data/swebench-lite-dev.jsonl \\
        --repos var/bench/repos
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config.settings import Settings
from bot.localize.context import fit_context, rank_files

DEFAULT_BUDGET = int(Settings.model_fields["context_tokens"].default)
BUDGETS = (4_000, 8_000, 16_000)
HIT_AT = (1, 3, 5, 10)
_DIFF_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.M)


@dataclass
class InstanceResult:
    """What the context builder did for one instance."""

    instance_id: str
    repo: str
    commit: str
    gold: list[str]
    ranks: dict[str, int | None] = field(default_factory=dict)
    in_context: dict[str, dict[str, bool]] = field(default_factory=dict)  # budget → gold file → excerpted
    in_map: dict[str, bool] = field(default_factory=dict)
    gold_missing: list[str] = field(default_factory=list)  # gold files not in the (approximate) tree
    top: list[str] = field(default_factory=list)
    tokens: int = 0
    seconds: float = 0.0
    index_seconds: float = 0.0
    index_from_cache: bool = False
    index_patched: bool = False  # patched from an earlier tree's index (`bot.localize.patch`)
    parsed_files: int = 0
    tree_files: int = 0
    indexed_files: int = 0
    error: str = ""


def gold_files(patch: str) -> list[str]:
    """Files a unified diff touches (the pre-image path, or the new path of an added file)."""
    found: list[str] = []
    for old, new in _DIFF_HEADER.findall(patch):
        found.append(old if old != "/dev/null" else new)
    return list(dict.fromkeys(found))


def repo_dir(repos: Path, repo: str) -> Path | None:
    """The clone of `owner/name` under `repos`, as `owner__name` or `owner/name`."""
    for candidate in (repos / repo.replace("/", "__"), repos / repo):
        if (candidate / ".git").exists():
            return candidate
    return None


def resolve_commit(clone: Path, base_commit: str) -> str | None:
    """`base_commit` itself if the clone has it, else the commit tagged `swebench/<base_commit>`."""
    for ref in (base_commit, f"swebench/{base_commit}"):
        done = subprocess.run(["git", "rev-parse", "--verify", "-q", f"{ref}^{{commit}}"], cwd=clone,
                              capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return done.stdout.strip()
    return None


def checkout(clone: Path, commit: str, scratch: Path) -> Path:
    """A detached scratch work tree of `clone` at `commit` (reused across instances of a repository).

    A `clone --shared` with a `.git` directory of its own, as the worker's slots are (its git
    refuses a `.git` file, which is how a linked worktree points at its repository).
    """
    tree = scratch / clone.name
    if not (tree / ".git").is_dir():
        if tree.exists():
            shutil.rmtree(tree)
        tree.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", "--shared", "--no-checkout", str(clone.resolve()), str(tree.resolve())],
                       check=True, capture_output=True)
    subprocess.run(["git", "checkout", "-q", "-f", "--detach", commit], cwd=tree, check=True, capture_output=True)
    subprocess.run(["git", "clean", "-q", "-ffdx"], cwd=tree, check=True, capture_output=True)
    return tree


def run_instance(inst: dict[str, Any], repos: Path, scratch: Path, cache: Path | None) -> InstanceResult:
    """Check out the instance's commit, build the context, and compare with the gold patch."""
    result = InstanceResult(inst["instance_id"], inst["repo"], "", gold_files(inst["patch"]))
    clone = repo_dir(repos, inst["repo"])
    commit = resolve_commit(clone, inst["base_commit"]) if clone else None
    if clone is None or commit is None:
        result.error = "repository not found" if clone is None else "base_commit not resolvable"
        return result
    result.commit = commit
    tree = checkout(clone, commit, scratch)
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=tree, capture_output=True, check=True).stdout
    result.tree_files = tracked.count(b"\0")
    store_dir = cache / clone.name if cache else False
    started = time.monotonic()
    index, mentions, ranked = rank_files(tree, inst["problem_statement"], store_dir)
    context = fit_context(tree, index, mentions, ranked, DEFAULT_BUDGET)
    result.seconds = round(time.monotonic() - started, 4)
    positions = {entry.path: number + 1 for number, entry in enumerate(ranked)}
    indexed = set(index.paths)
    result.ranks = {path: positions.get(path) for path in result.gold}
    result.gold_missing = [path for path in result.gold if path not in indexed]
    result.in_map = {path: path in context.repo_map.splitlines()
                     or any(line.startswith(path + ":") for line in context.repo_map.splitlines())
                     for path in result.gold}
    for budget in (DEFAULT_BUDGET, *BUDGETS):
        fitted = context if budget == DEFAULT_BUDGET else fit_context(tree, index, mentions, ranked, budget)
        shown = {path for path, _ in fitted.excerpts}
        result.in_context[str(budget)] = {path: path in shown for path in result.gold}
    result.top = [entry.path for entry in ranked[:10]]
    result.tokens = context.tokens
    if index.stats:
        result.index_seconds = round(index.stats.seconds, 4)
        result.index_from_cache = index.stats.from_tree_cache
        result.index_patched = bool(index.base) and not index.stats.from_tree_cache
        result.parsed_files = index.stats.parsed
    result.indexed_files = len(index.paths)
    return result


def summarize(results: list[InstanceResult]) -> dict[str, Any]:
    """hit@k, recall in context per budget, tokens and timings over the instances that ran."""
    ran = [r for r in results if not r.error]
    count = len(ran) or 1
    summary: dict[str, Any] = {"instances": len(results), "ran": len(ran),
                               "not_run": {r.instance_id: r.error for r in results if r.error}}
    for k in HIT_AT:
        hits = sum(1 for r in ran if r.gold and all(rank is not None and rank <= k for rank in r.ranks.values()))
        summary[f"hit@{k}"] = round(hits / count, 4)
    for budget in (DEFAULT_BUDGET, *BUDGETS):
        recalls = [sum(r.in_context[str(budget)].values()) / len(r.gold) for r in ran if r.gold]
        summary[f"recall_in_context@{budget}"] = round(sum(recalls) / count, 4)
    summary["recall_in_map"] = round(sum(sum(r.in_map.values()) / len(r.gold) for r in ran if r.gold) / count, 4)
    summary["default_budget"] = DEFAULT_BUDGET
    summary["mean_tokens"] = round(statistics.fmean(r.tokens for r in ran), 1) if ran else 0
    seconds = sorted(r.seconds for r in ran)
    summary["seconds_median"] = round(statistics.median(seconds), 4) if seconds else 0
    summary["seconds_p95"] = round(seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))], 4) if seconds else 0
    summary["gold_missing_from_tree"] = sorted(r.instance_id for r in ran if r.gold_missing)
    sizes: dict[str, dict[str, int]] = {}
    for r in ran:
        sizes[r.repo] = {"tree_files": max(r.tree_files, sizes.get(r.repo, {}).get("tree_files", 0)),
                         "indexed_files": max(r.indexed_files, sizes.get(r.repo, {}).get("indexed_files", 0))}
    summary["repositories"] = sizes
    return summary


def markdown(summary: dict[str, Any], results: list[InstanceResult]) -> str:
    """A summary table and one row per instance."""
    budgets = [DEFAULT_BUDGET, *BUDGETS]
    lines = ["| instances | " + " | ".join(f"hit@{k}" for k in HIT_AT) + " | "
             + " | ".join(f"in context @{b // 1000}k" for b in budgets) + " | mean tokens | s median | s p95 |",
             "|---" * (4 + len(HIT_AT) + len(budgets)) + "|",
             f"| {summary['ran']}/{summary['instances']} | "
             + " | ".join(f"{summary[f'hit@{k}']:.0%}" for k in HIT_AT) + " | "
             + " | ".join(f"{summary[f'recall_in_context@{b}']:.0%}" for b in budgets)
             + f" | {summary['mean_tokens']:.0f} | {summary['seconds_median']:.3f} | {summary['seconds_p95']:.3f} |",
             "", "| instance | gold file: rank | in context (default) | tree files | seconds | index |",
             "|---|---|---|---|---|---|"]
    for r in results:
        if r.error:
            lines.append(f"| {r.instance_id} | not run: {r.error} | | | | |")
            continue
        ranks = ", ".join(f"{path}: {rank if rank else 'absent' if path in r.gold_missing else '-'}"
                          for path, rank in r.ranks.items())
        shown = sum(r.in_context[str(DEFAULT_BUDGET)].values())
        how = "patched" if r.index_patched else "built"
        index = "cache" if r.index_from_cache else f"{how} ({r.parsed_files} parsed)"
        lines.append(f"| {r.instance_id} | {ranks} | {shown}/{len(r.gold)} | {r.tree_files} | {r.seconds:.3f} "
                     f"| {index} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; exit status 1 when no instance could run."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=Path, required=True, help="SWE-bench-format JSONL")
    parser.add_argument("--repos", type=Path, required=True, help="directory of git clones")
    parser.add_argument("--limit", type=int, help="only the first N instances (after --repo)")
    parser.add_argument("--repo", action="append", default=[], help="only instances of this owner/name")
    parser.add_argument("--out", type=Path, default=Path("bench/results/localize"), help="output path stem")
    parser.add_argument("--scratch", type=Path, default=Path("var/bench/worktrees"))
    parser.add_argument("--cache-dir", type=Path, default=Path("var/bench/index-cache"))
    parser.add_argument("--cold", action="store_true", help="start with an empty index cache")
    parser.add_argument("--no-cache", action="store_true", help="index every tree from scratch, cache nothing")
    parser.add_argument("--explain", action="store_true", help="print each instance's top files and signals")
    args = parser.parse_args(argv)
    instances = [json.loads(line) for line in args.instances.read_text().splitlines() if line.strip()]
    instances = [i for i in instances if not args.repo or i["repo"] in args.repo][: args.limit]
    if args.cold and args.cache_dir.exists():
        shutil.rmtree(args.cache_dir)
    args.scratch = args.scratch.resolve()  # git reads the tree from a child that changes directory first
    args.scratch.mkdir(parents=True, exist_ok=True)
    cache = None if args.no_cache else args.cache_dir
    results = []
    for inst in instances:
        result = run_instance(inst, args.repos, args.scratch, cache)
        results.append(result)
        ranks = ", ".join(f"{Path(p).name}@{r}" for p, r in result.ranks.items())
        print(f"{result.instance_id:40} {result.error or ranks:40} {result.seconds:.3f}s", file=sys.stderr)
        if args.explain and not result.error:
            print("    top: " + ", ".join(result.top[:5]), file=sys.stderr)
    summary = summarize(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"summary": summary, "instances": [asdict(r) for r in results]}
    args.out.with_suffix(".json").write_text(json.dumps(payload, indent=1) + "\n")
    table = markdown(summary, results)
    args.out.with_suffix(".md").write_text(table)
    print(table)
    return 0 if summary["ran"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
