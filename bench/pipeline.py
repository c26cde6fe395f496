"""Label → plan → PR overhead: N issues labelled at once, W real workers, an instant scripted model.

Everything but the model's thinking is real: `issuesmith serve` and W `issuesmith worker` processes
(`tests.e2e.processes`), Redis, RQ, git, the sandbox (bubblewrap when it works here), and the GitHub
stand-in (no added latency) delivering signed webhooks. The OpenAI stand-in answers at once with the
demo's recorded trajectory (`bot/cli/demo/transcript.jsonl`), one copy per issue, each matched to its
issue by a tag in the issue's title and plan title. The bench labels every issue at the same moment,
approves each plan (as carol, a writer) as soon as its comment is up, waits for every pull request, and
prints per stage p50 / p95 / max, read from the runs' execution logs (`RunStore.entries`), RQ's job
records and the stand-in's records of deliveries and requests, then where the workers were idle.

    .venv/bin/python bench/pipeline.py --redis-url redis://127.0.0.1:6379/12
    .venv/bin/python bench/pipeline.py --issues 10 --workers 2,4 --repos 2 --rounds 2

`--workers 2,4` runs each worker count in turn (alternating over `--rounds`) and prints the ratios.
The Redis database is flushed before and after each run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the process harness lives with the tests

from bot.cli.demo import TRANSCRIPT  # noqa: E402
from standins import trajectory  # noqa: E402
from standins.openai import FakeOpenAI, Reply  # noqa: E402

STAGES = ("webhook", "intake", "clone/fetch", "localize", "plan posted", "approve", "implement", "setup",
          "tests", "PR")
TOTALS = ("label → plan", "approve → PR", "label → PR")
REPO_PREFIX = "acme/textstats"


@dataclass
class Issue:
    """One benchmarked issue and the moments the bench itself saw."""

    repo: str
    number: int
    tag: str
    labelled: float = 0.0
    approved: float = 0.0


@dataclass
class Measured:
    """One run of the bench: seconds per stage per issue, worker idleness, counts of what GitHub saw."""

    workers: int
    stages: dict[str, list[float]] = field(default_factory=dict)
    idle: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    wall: float = 0.0


# the model ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Conditions:
    """What the deployment runs against: the bot's GitHub spacing (requests, writes), each model reply's
    seconds, and the setup command (a deployment's defaults: 0.25 s and 1 s; a real model takes seconds)."""

    spacing: tuple[float, float] = (0.0, 0.0)
    model_seconds: float = 0.0
    setup_command: str = ""

    def env(self) -> dict[str, str]:
        """The settings of the deployment's processes these conditions set."""
        return {"ISSUESMITH_GITHUB_REQUEST_SPACING": str(self.spacing[0]),
                "ISSUESMITH_GITHUB_WRITE_SPACING": str(self.spacing[1]),
                **({"ISSUESMITH_SETUP_COMMAND": self.setup_command} if self.setup_command else {})}


def script_issue(model: FakeOpenAI, tag: str, seconds: float = 0.0) -> None:
    """Queue the demo trajectory for one issue: every reply matched to its agent and to the issue's tag, each
    answered after `seconds`."""
    for agent, replies in trajectory.load(TRANSCRIPT).items():
        for reply in replies:
            reply = replace(reply, seconds=seconds)
            model.script(tagged(reply, tag) if agent == "planner" else reply,
                         match=(trajectory.AGENT_PROMPTS[agent], tag))


def tagged(reply: Reply, tag: str) -> Reply:
    """The Planner's reply with `tag` in the plan's title, so later agents' requests carry it too."""
    plan = json.loads(reply.content or "{}")
    plan["title"] = f"{plan['title']} {tag}"
    return replace(reply, content=json.dumps(plan))


# the deployment -------------------------------------------------------------------------------
@contextmanager
def deployment(root: Path, workers: int, repos: int, code: str = "", conditions: Conditions = Conditions()
               ) -> Iterator[Any]:
    """`tests.e2e.processes.deploy` with `workers` worker processes and `repos` sample repositories, under
    `conditions`; with `code`, the processes import issuesmith from that checkout (PYTHONPATH) instead of this
    one."""
    from bot.cli.demo import SAMPLE_REPO
    from tests.e2e.processes import deploy, start_worker
    from tests.world import INSTALLATION, REPO

    env = {**conditions.env(), **({"PYTHONPATH": code} if code else {})}
    with deploy(root, **env) as d:
        for n in range(2, repos + 1):
            name = f"{REPO_PREFIX}{n}"
            d.github.add_repo(name, INSTALLATION, SAMPLE_REPO)
            for login, role in (("alice", "admin"), ("carol", "write")):
                d.github.set_permission(name, login, role)
        for _ in range(workers - 1):
            start_worker(d)
        _wait_for_workers(d, workers)
        assert REPO == REPO_PREFIX
        yield d


def _wait_for_workers(d: Any, count: int) -> None:
    from rq import Worker

    from tests.world import wait_until

    wait_until(lambda: Worker.count(connection=d.store.redis) >= count, timeout=60, what=f"{count} RQ workers")


def repo_name(n: int) -> str:
    return REPO_PREFIX if n == 1 else f"{REPO_PREFIX}{n}"


# the people -------------------------------------------------------------------------------------
def open_issues(d: Any, count: int, repos: int, model_seconds: float = 0.0) -> list[Issue]:
    """`count` issues spread over the repositories, each with its model replies scripted."""
    issues = []
    for k in range(count):
        tag = f"[bench-{k:03d}]"
        repo = repo_name(k % repos + 1)
        number = d.github.create_issue(repo, "carol", f"Double spaces miscount {tag}",
                                       "`word_count('a  b')` returns 3, expected 2. See textstats/__init__.py.")
        script_issue(d.openai, tag, model_seconds)
        issues.append(Issue(repo, number, tag))
    return issues


def approver(d: Any, issues: list[Issue], stop: threading.Event) -> threading.Thread:
    """A person watching every issue who replies `/approve` as soon as its plan comment is up."""
    def watch() -> None:
        waiting = list(issues)
        while waiting and not stop.is_set():
            for issue in list(waiting):
                bodies = [c.body for c in d.github.comments(issue.repo, issue.number)]
                if any("Plan v1:" in body for body in bodies):
                    issue.approved = time.time()
                    d.github.comment(issue.repo, issue.number, "/approve", by="carol")
                    waiting.remove(issue)
            time.sleep(0.01)

    thread = threading.Thread(target=watch, name="approver", daemon=True)
    thread.start()
    return thread


def run_once(workers: int, count: int, repos: int, timeout: float, timeline: bool = False, code: str = "",
             conditions: Conditions = Conditions()) -> Measured:
    """One deployment, `count` issues labelled at once, every pull request waited for; what it measured."""
    from bot.runs.model import State
    from tests.world import wait_until

    with tempfile.TemporaryDirectory(prefix="issuesmith-pipeline-") as tmp, \
            deployment(Path(tmp), workers, repos, code, conditions) as d:
        issues = open_issues(d, count, repos, conditions.model_seconds)
        stop = threading.Event()
        watcher = approver(d, issues, stop)
        started = time.time()
        for issue in issues:
            issue.labelled = time.time()
            d.github.label_issue(issue.repo, issue.number, "issuesmith", by="alice")
        try:
            wait_until(lambda: all((r := d.store.for_issue(i.repo, i.number)) and r.state == State.PR_OPEN
                                   for i in issues), timeout=timeout, what="every pull request")
        finally:
            stop.set()
            watcher.join(5)
        d.github.wait_for_deliveries()
        measured = measure(d, issues, workers)
        if timeline:
            print_timeline(d, issues[-1])
        measured.wall = time.time() - started
    return measured


# reading what happened ----------------------------------------------------------------------------
def measure(d: Any, issues: list[Issue], workers: int) -> Measured:
    """Stage seconds per issue from the run logs and the stand-in's records; worker idleness from RQ."""
    out = Measured(workers, {name: [] for name in (*STAGES, *TOTALS)})
    for issue in issues:
        run = d.store.for_issue(issue.repo, issue.number)
        for name, seconds in stages_of(d, issue, d.store.entries(run.id)).items():
            out.stages[name].append(seconds)
    out.idle = idleness(d, workers, min(i.labelled for i in issues))
    out.counts = github_counts(d)
    base_runs = [e for i in issues for e in d.store.entries(d.store.for_issue(i.repo, i.number).id)
                 if e.get("event") == "baseline" and not e.get("cached")]
    out.counts["base test runs (not cached)"] = len(base_runs)
    return out


def stages_of(d: Any, issue: Issue, entries: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds of each stage of one issue's run (see bench/README.md for where each begins and ends)."""
    def at(step: str, event: str, last: bool = False) -> dict[str, Any]:
        found = [e for e in entries if e.get("step") == step and e.get("event") == event]
        return found[-1 if last else 0]

    hook = next(x.at for x in d.github.deliveries if x.event == "issues" and x.action == "labeled"
                and x.payload["issue"]["number"] == issue.number and x.payload["repository"]["full_name"] == issue.repo)
    plan_started = at("plan", "started")["ts"]
    context = at("plan", "context")
    localize_start = context["ts"] - context["seconds"]
    posted = at("plan", "posted")["ts"]
    implement_started = at("implement", "started")["ts"]
    code_done = at("code", "finished")["ts"]
    setup = sum(e.get("seconds", 0.0) for e in entries if e.get("step") == "test"  # `base_tests` is inside
                and e.get("event") in ("setup", "baseline"))                       # `baseline`: not counted twice
    test_done = at("test", "finished")["ts"]
    pulled = next(x.at for x in d.github.exchanges if x.method == "POST" and x.path == f"/repos/{issue.repo}/pulls"
                  and x.status == 201 and f"Closes #{issue.number}" in str(x.request_json))
    return {
        "webhook": hook - issue.labelled,
        "intake": plan_started - hook,
        "clone/fetch": localize_start - plan_started,
        "localize": context["seconds"],
        "plan posted": posted - context["ts"],
        "approve": implement_started - issue.approved,
        "implement": code_done - implement_started,
        "setup": setup,
        "tests": test_done - code_done - setup,
        "PR": pulled - test_done,
        "label → plan": posted - issue.labelled,
        "approve → PR": pulled - issue.approved,
        "label → PR": pulled - issue.labelled,
    }


def idleness(d: Any, workers: int, since: float) -> dict[str, float]:
    """Where the workers were idle, from RQ's job records, over [first label, last job's end].

    `busy share`: job seconds ÷ (window × workers). `pickup`: for each job, the seconds from the moment it
    could have run (queued, and the worker that ran it done with its previous job) to its start: RQ's
    hand-off, the fork of the job's process and what that process does before the job. `queue wait`: queued
    to started, pickup included (the rest is waiting for a busy worker), also by kind of job. Jobs are read from
    every queue RQ knows (one before issue 18; intake and work after), so `--code` can compare both.
    """
    from rq import Queue
    from rq.job import Job
    from rq.registry import FinishedJobRegistry

    conn = redis.Redis.from_url(d.env["ISSUESMITH_REDIS_URL"])
    ids = [job_id for queue in Queue.all(connection=conn)  # every queue: one before issue 18, intake and work after
           for job_id in FinishedJobRegistry(queue=queue).get_job_ids()]
    jobs = [j for j in Job.fetch_many(ids, connection=conn) if j]
    spans = sorted((_ts(j.started_at), _ts(j.ended_at), _ts(j.enqueued_at), j.worker_name or "?") for j in jobs)
    kinds: dict[str, list[float]] = {}
    kind_waits: dict[str, list[float]] = {}
    for j in jobs:
        kinds.setdefault(_job_kind(j), []).append(_ts(j.ended_at) - _ts(j.started_at))
        kind_waits.setdefault(_job_kind(j), []).append(_ts(j.started_at) - _ts(j.enqueued_at))
    window = max(s[1] for s in spans) - since
    busy = sum(ended - begun for begun, ended, _, _ in spans)
    previous: dict[str, float] = {}
    pickups, waits = [], []
    for begun, ended, queued, worker in spans:
        pickups.append(begun - max(queued, previous.get(worker, queued)))
        waits.append(begun - queued)
        previous[worker] = ended
    return {"window": window, "jobs": float(len(spans)), "busy share": busy / (window * workers),
            "idle seconds": window * workers - busy, "pickup total": sum(pickups),
            "pickup p50": statistics.median(pickups), "pickup max": max(pickups),
            "queue wait p50": statistics.median(waits), "queue wait max": max(waits),
            **{f"job {kind}": statistics.median(seconds) for kind, seconds in sorted(kinds.items())},
            **{f"wait {kind}": statistics.median(seconds) for kind, seconds in sorted(kind_waits.items())}}


def _job_kind(job: Any) -> str:
    """What a job did: `intake label`, `intake command`, `plan`, `implement`, ..."""
    name = (job.func_name or "?").rsplit(".", 1)[-1]
    if name == "handle" and job.args:
        return f"intake {job.args[0].get('kind', '?')}"
    return {"make_plan": "plan"}.get(name, name)


def _ts(moment: datetime | None) -> float:
    if moment is None:
        return 0.0
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def github_counts(d: Any) -> dict[str, int]:
    """What the bot asked GitHub, by kind: the calls this bench exists to cut down."""
    counts: dict[str, int] = {"requests": len(d.github.exchanges)}
    for x in d.github.exchanges:
        kind = _kind(x.method, x.path)
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _kind(method: str, path: str) -> str:
    parts = path.strip("/").split("/")
    if len(parts) > 3 and parts[0] == "repos":
        shape = "/".join("N" if p.isdigit() else p for p in parts[3:])
        return f"{method} {shape}"
    if path.endswith(".git/info/refs") or "git-upload-pack" in path:
        return "git fetch"
    if len(parts) == 3 and parts[0] == "repos":
        return "GET repo"
    if "contents" in parts:
        return "GET contents (config)"
    if "collaborators" in parts:
        return "GET permission"
    if "access_tokens" in parts:
        return "POST token"
    return f"{method} " + "/".join("N" if p.isdigit() else p for p in parts)


def print_timeline(d: Any, issue: Issue) -> None:
    """One issue's execution log, seconds from its label, with the jobs RQ ran for it."""
    run = d.store.for_issue(issue.repo, issue.number)
    print(f"\ntimeline of {issue.repo}#{issue.number} (seconds after the label)")
    print(f"  {issue.approved - issue.labelled:7.3f} bench  /approve")
    for e in d.store.entries(run.id):
        detail = {k: v for k, v in e.items() if k not in ("ts", "step", "event", "output", "patch", "top")}
        print(f"  {e['ts'] - issue.labelled:7.3f} {e['step']:10} {e['event']:14} {json.dumps(detail)[:110]}")


# the report -----------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


Config = tuple[str, int]
"""A checkout's label ("" for this one) and a worker count."""


def label(config: Config) -> str:
    code, workers = config
    return f"{Path(code).name + ' ' if code else ''}W={workers}"


def table(results: dict[Config, list[Measured]]) -> str:
    """Median over rounds of each stage's p50 / p95, side by side per configuration, with ratios of the p50s:
    each worker count over the first (per checkout), and each later checkout over the first (per worker count)."""
    configs = list(results)
    codes = list(dict.fromkeys(code for code, _ in configs))
    counts = list(dict.fromkeys(w for _, w in configs))
    ratios = [((c, w), (c, counts[0])) for c in codes for w in counts[1:]]
    ratios += [((c, w), (codes[0], w)) for c in codes[1:] for w in counts]
    head = "| stage | " + " | ".join(f"{label(c)} p50 | p95" for c in configs)
    head += "".join(f" | {label(a)} ÷ {label(b)}" for a, b in ratios)
    lines = [head + " |", "|" + "---|" * head.count("|")]
    for name in (*STAGES, *TOTALS):
        p50 = {c: statistics.median(pct(m.stages[name], 0.5) for m in results[c]) for c in configs}
        p95 = {c: statistics.median(pct(m.stages[name], 0.95) for m in results[c]) for c in configs}
        cells = [f"{p50[c]:.2f} | {p95[c]:.2f}" for c in configs]
        cells += [f"{p50[a] / p50[b]:.2f}" if p50[b] > 0 else "—" for a, b in ratios]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def idle_lines(results: dict[Config, list[Measured]]) -> str:
    """Per run: how busy the workers were, the pickup and queue waits (see `idleness`), GitHub's requests."""
    lines = []
    for config, runs in results.items():
        for m in runs:
            i = m.idle
            lines.append(f"{label(config)}: {int(i['jobs'])} jobs in {i['window']:.1f} s, workers busy "
                         f"{i['busy share']:.0%} "
                         f"({i['idle seconds']:.1f} worker-seconds idle); pickup p50 {i['pickup p50']:.3f} s, max "
                         f"{i['pickup max']:.3f} s, {i['pickup total']:.2f} s in all; queue wait p50 "
                         f"{i['queue wait p50']:.2f} s, max {i['queue wait max']:.2f} s; wall {m.wall:.1f} s")
            lines.append("      job seconds (p50): " + ", ".join(f"{k[4:]} {v:.2f}" for k, v in i.items()
                                                             if k.startswith("job ")))
            lines.append("      queue wait by job (p50): " + ", ".join(f"{k[5:]} {v:.2f}" for k, v in i.items()
                                                                   if k.startswith("wait ")))
            lines.append("      counts: " + ", ".join(f"{k} {v}" for k, v in sorted(m.counts.items())))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=10, help="issues labelled at once (default 10)")
    parser.add_argument("--workers", default="2", help="worker processes; a comma-separated list runs each in turn")
    parser.add_argument("--repos", type=int, default=1, help="sample repositories the issues are spread over")
    parser.add_argument("--rounds", type=int, default=1, help="runs per worker count, alternated (default 1)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for every pull request")
    parser.add_argument("--code", default="", help="checkouts for serve and the workers to run, by PYTHONPATH, "
                                                   "comma-separated (e.g. the commit before a change and after); "
                                                   "default: this one")
    parser.add_argument("--timeline", action="store_true", help="print the last issue's execution log")
    parser.add_argument("--spacing", default="0,0", help="seconds between the bot's GitHub requests and between its "
                                                       "writes (default 0,0; a deployment's defaults: 0.25,1)")
    parser.add_argument("--model-seconds", type=float, default=0.0, help="seconds each model reply takes (default 0)")
    parser.add_argument("--setup-command", default="", help="the deployment's setup command (default none)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12",
                        help="a Redis database this bench may flush (default db 12)")
    args = parser.parse_args(argv)
    os.environ["ISSUESMITH_TEST_E2E_REDIS_URL"] = args.redis_url  # read by the harness when imported
    request_gap, write_gap = (float(x) for x in args.spacing.split(","))
    conditions = Conditions((request_gap, write_gap), args.model_seconds, args.setup_command)
    configs = [(code, int(w)) for code in args.code.split(",") for w in args.workers.split(",")]
    results: dict[Config, list[Measured]] = {c: [] for c in configs}
    print(f"{args.issues} issues on {args.repos} repositories, {args.rounds} round(s) of "
          f"{', '.join(map(label, configs))} (code: {args.code or ROOT}); load average {os.getloadavg()[0]:.2f}",
          flush=True)
    for n in range(args.rounds):
        for config in configs if n % 2 == 0 else reversed(configs):
            code, workers = config
            results[config].append(run_once(workers, args.issues, args.repos, args.timeout, args.timeline, code,
                                                   conditions))
            print(f"  round {n + 1}, {label(config)}: done; load average {os.getloadavg()[0]:.2f}", flush=True)
    print("\nseconds per stage (p50 and p95 over the issues; median over rounds)\n")
    print(table(results))
    print("\nwhere the workers were idle\n")
    print(idle_lines(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
