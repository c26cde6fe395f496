"""`issuesmith demo`: the whole product on this machine, from a labeled issue to a pull request.

GitHub is the local stand-in, the model a recorded transcript (or the configured endpoint);
the web app, the worker, Redis, git and the sandbox are the real ones (`bot.cli.tryout`). The
maintainer labels the sample issue, the plan comment is shown as the issue would show it,
the maintainer approves it, and the pull request (title, body, diff) is printed with the
branch's location and the run's time and spend. Exit status 0 only if a pull request opened.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path
from typing import TextIO

from bot.cli.demo import ISSUE_BODY, ISSUE_TITLE, SAMPLE_REPO, TRANSCRIPT
from bot.cli.localredis import redis_for_tryout
from bot.cli.tryout import Playground, TryoutError, sandbox_env, section
from bot.config.settings import TryoutSettings
from bot.runs.model import Run, State
from bot.sandboxes.base import unchanged
from bot.workspace.git import Git

PLAN_SECONDS = 120.0
IMPLEMENT_SECONDS = 600.0


def main(argv: list[str] | None = None, out: TextIO = sys.stdout) -> int:
    """Run the demo; 0 when the pull request opened, 1 when any step failed."""
    parser = argparse.ArgumentParser(prog="issuesmith demo", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="where to keep the demo's files (default: "
                        "ISSUESMITH_WORK_DIR/demo/<time>)")
    args = parser.parse_args(argv)
    settings = TryoutSettings()  # type: ignore[call-arg]
    root = (args.dir or settings.work_dir / "demo" / time.strftime("%Y%m%d-%H%M%S")).resolve()
    try:
        return _demo(settings, root, out)
    except TryoutError as exc:
        print(f"\n✗ demo failed: {exc}", file=out)
        return 1


def _demo(settings: TryoutSettings, root: Path, out: TextIO) -> int:
    live = settings.live_model()
    model_line = (f"model: {settings.model} at {settings.openai_base_url or 'api.openai.com'} (OPENAI_* is set)"
                  if live else f"model: the recorded transcript {TRANSCRIPT.name} (set OPENAI_API_KEY or "
                               "OPENAI_BASE_URL to use a model)")
    sandbox, sandbox_line = sandbox_env(settings.sandbox, settings.allow_unsandboxed, trusted=not live)
    repo = f"demo-{secrets.token_hex(3)}/textstats"  # a new owner each time: runs in a shared Redis stay apart
    print(f"issuesmith demo in {root}\n  GitHub: a local stand-in holding {repo}\n  {model_line}\n  {sandbox_line}",
          file=out)
    with redis_for_tryout(settings.redis_url, root / "redis") as (redis_url, redis_line):
        print(f"  Redis: {redis_line}", file=out)
        env = {**settings.worker_env, **settings.model_env(TRANSCRIPT), **sandbox}
        with Playground.start(root, repo, SAMPLE_REPO, redis_url, env, out) as play:
            play.say("web app and worker are up")
            return _story(play, out)


STATUS_HEAD = "### issuesmith ·"
"""How the run's status checklist comment starts (`bot.github.status`)."""


def _story(play: Playground, out: TextIO) -> int:
    number = play.open_issue(ISSUE_TITLE, ISSUE_BODY)
    play.say(f"maintainer opened issue #{number}: {ISSUE_TITLE!r}, and labels it `issuesmith`")
    play.label(number)
    run = play.follow(number, lambda r: r.state == State.AWAITING_APPROVAL and bool(play.posted_plan(number, r)),
                      PLAN_SECONDS)
    plan = play.posted_plan(number, run)
    if run.state != State.AWAITING_APPROVAL or plan is None:
        return _failed(play, number, run, out)
    section(out, f"the plan, as issue #{number} shows it", plan)
    play.say(f"maintainer comments /approve v{run.plan_version}")
    play.comment(number, f"/approve v{run.plan_version}")
    run = play.follow(number, lambda r: r.state == State.PR_OPEN and bool(play.bot_comment(number, "Review and t"))
                      and "✅ Pull request" in (play.bot_comment(number, STATUS_HEAD) or ""), IMPLEMENT_SECONDS)
    pull = play.pull(number)
    if run.state != State.PR_OPEN or pull is None:
        return _failed(play, number, run, out)
    bare = play.github.repo_path(play.repo)
    diff = Git(unchanged)("diff", "--no-ext-diff", "--no-textconv", f"{pull.base}...{pull.head}", cwd=bare)
    section(out, f"pull request #{pull.number}{' (draft)' if pull.draft else ''}: {pull.title}", pull.body or "")
    section(out, f"diff of {pull.head}", diff)
    section(out, f"the status comment on issue #{number}, edited in place as the run went",
            play.bot_comment(number, STATUS_HEAD) or "")
    usage = play.store.usage(run.id)
    print(f"branch {pull.head} is in {bare}\n  see it with: git -C {bare} log -p {pull.base}..{pull.head}\n"
          f"✓ pull request #{pull.number} opened in {play.elapsed().strip()}, spent ${usage['cost_usd']:.4f} "
          f"({int(usage['prompt_tokens'] + usage['completion_tokens']):,} tokens)", file=out)
    return 0


def _failed(play: Playground, number: int, run: Run, out: TextIO) -> int:
    section(out, f"the run ended {run.state.value}; the bot said", play.said_at_end(number, run))
    print(f"✗ demo failed; the processes' log is {play.log_path}", file=out)
    return 1
