"""`issuesmith run`: plan, code, review and test an issue on a local checkout, with no GitHub involved.

The same Planner, Coder, Reviewer and Tester, web app and worker as in production run on a
playground (`bot.cli.tryout`) whose stand-in repository starts at the checkout's HEAD commit. The
plan is printed and approved at the terminal (`--yes` skips the question; revising asks for
notes and plans again). The result comes back to the checkout as a new branch
`issuesmith/...` fetched into it, plus the pull request's body as a Markdown file: the
current branch, the index and uncommitted work are never touched.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.cli.localredis import redis_for_tryout
from bot.cli.tryout import Playground, TryoutError, sandbox_env, section
from bot.config.settings import TryoutSettings
from bot.core.errors import GitError
from bot.runs.model import Run, State
from bot.sandboxes.base import unchanged
from bot.workspace.git import Git

PLAN_SECONDS = 600.0
IMPLEMENT_SECONDS = 3600.0
QUESTION = "Approve this plan? [y]es, [r]evise, [c]ancel: "


def main(argv: list[str] | None = None, out: TextIO = sys.stdout, ask: Callable[[str], str] = input) -> int:
    """Run local mode; 0 when a branch with the change was left in the checkout."""
    parser = argparse.ArgumentParser(prog="issuesmith run", description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True, help="the local git checkout to work on")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--issue-file", type=Path, help="the issue: first line the title, the rest the body")
    source.add_argument("--issue", help="the issue's text (first line the title)")
    parser.add_argument("--yes", action="store_true", help="approve the first plan without asking")
    parser.add_argument("--pr-body", type=Path, default=None,
                        help="where to write the pull request body (default: .git/issuesmith/ in the checkout)")
    args = parser.parse_args(argv)
    settings = TryoutSettings()  # type: ignore[call-arg]
    try:
        repo = _checkout(args.repo)
        title, body = _issue(args.issue if args.issue is not None else _read(args.issue_file))
        if not settings.live_model() and settings.model_provider != "replay":
            raise TryoutError("local mode needs a model: set OPENAI_API_KEY (and OPENAI_BASE_URL for another "
                              "OpenAI-compatible endpoint), or ISSUESMITH_MODEL_PROVIDER=replay with "
                              "ISSUESMITH_REPLAY_TRANSCRIPT")
        root = (settings.work_dir / "run" / time.strftime("%Y%m%d-%H%M%S")).resolve()
        return _local(settings, root, repo, title, body, args, out, ask)
    except TryoutError as exc:
        print(f"✗ {exc}", file=out)
        return 1


def _local(settings: TryoutSettings, root: Path, repo: Path, title: str, body: str, args: argparse.Namespace,
           out: TextIO, ask: Callable[[str], str]) -> int:
    sandbox, sandbox_line = sandbox_env(settings.sandbox, settings.allow_unsandboxed, trusted=False)
    name = f"local-{secrets.token_hex(3)}/{repo.name}"
    print(f"issuesmith run on {repo} (HEAD {_git(repo, 'rev-parse', '--short', 'HEAD')})\n  {sandbox_line}",
          file=out)
    with redis_for_tryout(settings.redis_url, root / "redis") as (redis_url, _):
        env = {**settings.worker_env, **settings.model_env(None), **sandbox}  # every setting, as the service's
        with Playground.start(root, name, _placeholder(root), redis_url, env, out) as play:
            bare = play.github.repo_path(play.repo)
            _git(bare, "fetch", "--quiet", str(repo), "+HEAD:refs/heads/main", "+refs/tags/*:refs/tags/*",
                 discover=False)  # tags too: setuptools-scm and versioneer projects read their version there
            number = play.open_issue(title, body)
            play.say(f"issue #{number}: {title!r}; planning")
            play.label(number)
            if not _approved(play, number, args.yes, out, ask):
                return 1
            return _finish(play, number, repo, args.pr_body, out)


def _approved(play: Playground, number: int, yes: bool, out: TextIO, ask: Callable[[str], str]) -> bool:
    """Plan, show, ask; revise as often as asked. True once approved."""
    version = 0
    while True:
        run = play.follow(number, _new_plan_after(play, number, version), PLAN_SECONDS)
        plan = play.posted_plan(number, run)
        if run.state != State.AWAITING_APPROVAL or plan is None:
            section(out, f"the run ended {run.state.value}", play.said_at_end(number, run))
            return False
        version = run.plan_version
        section(out, f"plan v{version}", plan)
        answer = "y" if yes else _answer(ask, QUESTION)
        if answer.startswith("y"):
            play.comment(number, f"/approve v{version}")  # the version shown, and no other
            return True
        if answer.startswith("r"):
            notes = _answer(ask, "What should the new plan change? ").strip()
            play.comment(number, f"/revise {notes or 'please plan again'}")
            continue
        play.comment(number, "/cancel")
        play.follow(number, lambda r: r.state == State.CANCELLED, 60)
        print("cancelled: nothing was changed in the checkout", file=out)
        return False


def _new_plan_after(play: Playground, number: int, version: int) -> Callable[[Run], bool]:
    """Whether a run awaits approval of a plan newer than `version`, and that plan's comment is posted."""
    return lambda run: (run.state == State.AWAITING_APPROVAL and run.plan_version > version
                        and play.posted_plan(number, run) is not None)


def _finish(play: Playground, number: int, repo: Path, pr_body: Path | None, out: TextIO) -> int:
    """Wait for the pull request, bring its branch into the checkout and write its body."""
    run = play.follow(number, lambda r: r.state == State.PR_OPEN and bool(play.bot_comment(number, "Review and t")),
                      IMPLEMENT_SECONDS)
    pull = play.pull(number)
    if run.state != State.PR_OPEN or pull is None:
        section(out, f"the run ended {run.state.value}; the bot said", play.said_at_end(number, run))
        return 1
    section(out, "review and tests", play.bot_comment(number, "Review and t") or "")
    branch = _free_branch(repo, pull.head)
    _git(repo, "fetch", "--quiet", "--no-tags", str(play.github.repo_path(play.repo)),
         f"refs/heads/{pull.head}:refs/heads/{branch}")
    git_dir = Path(_git(repo, "rev-parse", "--absolute-git-dir"))
    path = pr_body or git_dir / "issuesmith" / f"{branch.replace('/', '-')}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {pull.title}\n\n{pull.body or ''}\n")
    usage = play.store.usage(run.id)
    print(f"✓ branch {branch} is in {repo}{' (a draft: see the body)' if pull.draft else ''}\n"
          f"  see it with: git -C {repo} log -p HEAD..{branch}\n  pull request body: {path}\n"
          f"  {play.elapsed().strip()}, ${usage['cost_usd']:.4f}, "
          f"{int(usage['prompt_tokens'] + usage['completion_tokens']):,} tokens", file=out)
    return 0


def _checkout(path: Path) -> Path:
    repo = path.expanduser().resolve()
    if not repo.is_dir():
        raise TryoutError(f"{repo} is not a directory")
    try:
        _git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    except TryoutError as exc:
        raise TryoutError(f"{repo} is not a git checkout with a commit: {exc}") from exc
    return Path(_git(repo, "rev-parse", "--show-toplevel"))


def _issue(text: str) -> tuple[str, str]:
    lines = text.strip().splitlines()
    if not lines:
        raise TryoutError("the issue is empty: give its text with --issue or --issue-file")
    title = lines[0].lstrip("#").strip()
    return title, "\n".join(lines[1:]).strip() or title


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TryoutError(f"cannot read the issue file {path}: {exc.strerror or exc}") from exc


def _answer(ask: Callable[[str], str], question: str) -> str:
    try:
        return ask(question).strip().lower()
    except EOFError:
        return "c"


def _free_branch(repo: Path, wanted: str) -> str:
    """`wanted`, or `wanted-2`, `-3`... when the checkout has that branch already."""
    candidate, n = wanted, 1
    while _has_branch(repo, candidate):
        n += 1
        candidate = f"{wanted}-{n}"
    return candidate


def _placeholder(root: Path) -> Path:
    """A one-file tree to create the stand-in repository with (its main is replaced by the checkout's HEAD)."""
    seed = root / "seed"
    seed.mkdir(parents=True, exist_ok=True)
    (seed / "README.md").write_text("placeholder\n")
    return seed


def _has_branch(repo: Path, branch: str) -> bool:
    try:
        _git(repo, "show-ref", "--verify", "--quiet", f"refs/heads/{branch}")
    except TryoutError:
        return False
    return True


def _git(cwd: Path, *args: str, discover: bool = True) -> str:
    """Hardened git (`bot.workspace.git`) in a person's checkout (found from `cwd`, which may be a linked worktree),
    or, with `discover=False`, in our stand-in's bare repository at `cwd`."""
    try:
        return Git(unchanged)(*args, cwd=cwd, discover=discover, local=True).strip()
    except GitError as exc:
        raise TryoutError(f"git {' '.join(args[:2])} failed in {cwd}: {str(exc)[-300:]}") from exc
