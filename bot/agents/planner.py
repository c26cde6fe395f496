"""The Planner: issue + repository context → a verified `Plan`.

Its prompt is `planner_prompt.md` (system) and `planner_task.md` (user) beside this file.
It may read and search the work tree with read-only tools, a bounded number of times.
A plan that names files wrongly (missing, existing, blocked, outside the tree) is sent
back with the problems, at most `VERIFY_ATTEMPTS` times; a file that does not exist is
answered with the closest existing paths ("did you mean …?"), there and in `read_file`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, Field

from bot.agents.prompting import fenced, load_template, untrusted, with_guidance
from bot.config.policy import DEFAULT_BLOCKED, is_blocked
from bot.core import treefiles
from bot.core.errors import ModelOutputInvalid
from bot.localize.context import RepoContext
from bot.models.client import CallContext, ModelClient, Tool
from bot.runs.issue import IssueInfo
from bot.runs.plan import Plan
from bot.sandboxes.base import unchanged
from bot.workspace.git import Git
from bot.workspace.nearby import did_you_mean

VERIFY_ATTEMPTS = 2
READ_LIMIT_LINES = 400
READ_LIMIT_BYTES = 8_000_000  # larger files are not read
SEARCH_LIMIT = 40


@dataclass
class PlannerInput:
    """Everything the Planner is told."""

    repo: str
    branch: str
    sha: str
    issue: IssueInfo
    context: RepoContext
    test_command: str = ""
    revise_notes: list[str] = field(default_factory=list)
    previous_plan: Plan | None = None
    guidance: str = ""  # the repository's instructions (.github/issuesmith.yml, AGENTS.md)
    blocked: tuple[str, ...] = DEFAULT_BLOCKED  # paths a plan may never name
    path_problem: Callable[[str], str | None] = lambda path: None  # the repository's other path rules


def render_messages(inp: PlannerInput) -> list[dict[str, str]]:
    """The system and user messages of a planning conversation."""
    excerpts = "\n\n".join(fenced(f"file {path}", text) for path, text in inp.context.excerpts) or "(none)"
    system = load_template("planner_prompt").substitute(
        repo=inp.repo, branch=inp.branch, sha=inp.sha[:12], test_command=inp.test_command or "unknown",
        repo_map=untrusted(inp.context.repo_map), excerpts=excerpts)
    task = load_template("planner_task").substitute(
        number=inp.issue.number, author=untrusted(inp.issue.author), title=untrusted(inp.issue.title),
        body=untrusted(inp.issue.body or "(no description)"), revision=_revision(inp))
    return with_guidance([{"role": "system", "content": system}, {"role": "user", "content": task}], inp.guidance)


def _revision(inp: PlannerInput) -> str:
    if not inp.revise_notes:
        return ""
    previous = inp.previous_plan.model_dump_json(indent=1) if inp.previous_plan else "(not available)"
    notes = "\n".join(f"- {note}" for note in inp.revise_notes)
    return ("\nA maintainer reviewed the previous plan and asked for changes. Produce a new plan that "
            f"addresses them.\n\n{fenced('previous plan', previous)}\n\n{fenced('maintainer notes', notes)}\n")


class ReadFileArgs(BaseModel):
    """Arguments of `read_file`."""

    path: str = Field(description="Repository-relative path")
    start_line: int = Field(1, ge=1)
    end_line: int = Field(READ_LIMIT_LINES, ge=1)


class SearchArgs(BaseModel):
    """Arguments of `search_code`."""

    query: str = Field(min_length=2, description="Literal text to look for")


def _kind(root: Path, path: str) -> str:
    """What `path` is in the tree, never following a link ("link" also when a folder on the way is one)."""
    try:
        return treefiles.kind(root, path)
    except treefiles.TreeFileError:
        return "outside"


def verify_plan(plan: Plan, root: Path, blocked: tuple[str, ...] = DEFAULT_BLOCKED) -> list[str]:
    """Problems that make a plan unusable on this work tree; empty when it is fine."""
    problems: list[str] = []
    for change in plan.files:
        path = change.path.strip()
        pure = PurePosixPath(path)
        if not path or pure.is_absolute() or ".." in pure.parts or "\\" in path:
            problems.append(f"{path!r} is not a relative path inside the repository")
            continue
        if is_blocked(path, blocked):
            problems.append(f"{path} is a blocked path and may not be changed")
        kind = _kind(root, path)
        if kind == "outside":
            problems.append(f"{path!r} is not a plain relative path (hidden or unusual characters?)")
            continue
        if kind == "link":
            problems.append(f"{path} is a link, or inside a linked folder: issuesmith neither edits nor follows links")
            continue
        exists = kind == "file"
        if change.action in ("modify", "delete") and not exists:
            done = "modified" if change.action == "modify" else "deleted"
            problems.append(f"{path} does not exist, so it cannot be {done} (create it instead?)."
                            + did_you_mean(root, path))
        if change.action == "create" and exists:
            problems.append(f"{path} already exists; use action 'modify'")
    return problems


def read_only_tools(root: Path, git: Git | None = None) -> list[Tool]:
    """`read_file` and `search_code` over the work tree at `root` (`git` searches it)."""
    return [
        Tool("read_file", "Read lines of a file in the repository (numbered).", ReadFileArgs,
             lambda a: read_file(root, a.path, a.start_line, a.end_line)),
        Tool("search_code", "Search the repository for a literal string; returns path:line: text.",
             SearchArgs, lambda a: search_code(root, a.query, git)),
    ]


def read_file(root: Path, rel: str, start: int = 1, end: int = READ_LIMIT_LINES) -> str:
    """Numbered lines `start`..`end` of a file in the tree (at most READ_LIMIT_LINES).

    The file is opened through `bot.core.treefiles`: a symlink, or a path through a linked folder,
    is refused with the reason, never followed.
    """
    if ".git" in PurePosixPath(rel).parts:
        return f"{rel}: outside the repository"
    try:
        text = treefiles.read_text(root, rel, READ_LIMIT_BYTES)
    except treefiles.OutsideTree:
        return f"{rel}: outside the repository"
    except treefiles.Missing:
        return f"{rel}: no such file.{did_you_mean(root, rel)}"
    except treefiles.TreeFileError as exc:
        return f"{rel}: not read: {exc}"
    lines = text.splitlines()
    end = min(end, start + READ_LIMIT_LINES - 1, len(lines))
    body = "\n".join(f"{n:>5}  {lines[n - 1]}" for n in range(start, end + 1))
    return f"{rel} lines {start}-{end} of {len(lines)}\n{body}"


def search_code(root: Path, query: str, git: Git | None = None) -> str:
    """Tracked files' lines containing `query` (fixed string), at most SEARCH_LIMIT.

    git reads the tree as an unprivileged user (`Git.read_tree`); a hit whose path goes
    through a link is dropped, and a query of several lines is refused (git would take each
    line as a pattern of its own).
    """
    if not query or "\n" in query or "\r" in query or "\0" in query:
        return "search_code takes one line of text: search for each line on its own"
    out = (git or Git(unchanged)).read_tree(root, "grep", "-n", "-z", "-I", "-F", "--no-color", "--no-textconv",
                                            "-e", query, ok=(0, 1), timeout=30)
    hits = [hit for hit in _grep_hits(out) if _inside(root, hit[0])]
    if not hits:
        return f"no matches for {query!r}"
    shown = [f"{path}:{line}:{text}"[:300] for path, line, text in hits[:SEARCH_LIMIT]]
    more = f"\n... {len(hits) - SEARCH_LIMIT} more" if len(hits) > SEARCH_LIMIT else ""
    return "\n".join(shown) + more


def _grep_hits(out: bytes) -> list[tuple[str, str, str]]:
    """`git grep -n -z` lines as (path, line number, text)."""
    hits = []
    for raw in out.decode("utf-8", "replace").splitlines():
        path, _, rest = raw.partition("\0")
        line, _, text = rest.partition("\0")
        if line.isdigit():
            hits.append((path, line, text))
    return hits


def _inside(root: Path, rel: str) -> bool:
    """Whether `rel` is a regular file reached without a link."""
    try:
        return treefiles.kind(root, rel) == "file"
    except treefiles.TreeFileError:
        return False


def plan(model: ModelClient, call: CallContext, inp: PlannerInput, root: Path, max_tool_calls: int,
         git: Git | None = None) -> Plan:
    """Ask the model for a plan and verify it against the tree; send problems back, bounded."""
    messages: list[dict[str, str]] = list(render_messages(inp))
    tools = read_only_tools(root, git)
    for attempt in range(1, VERIFY_ATTEMPTS + 1):
        result = model.structured(call, messages, Plan, tools=tools, max_tool_calls=max_tool_calls)
        problems = verify_plan(result, root, inp.blocked)
        problems += [why for change in result.files if (why := inp.path_problem(change.path.strip()))]
        if not problems:
            return result
        if attempt == VERIFY_ATTEMPTS:
            raise ModelOutputInvalid("the plan kept naming files wrongly: " + "; ".join(problems),
                                     hint="reply `/revise` with the right file names, or `/retry`")
        messages += [{"role": "assistant", "content": result.model_dump_json()},
                     {"role": "user", "content": "The plan has problems:\n- " + "\n- ".join(problems)
                      + "\nFix them and answer with the corrected plan JSON."}]
        tools, max_tool_calls = [], 0
    raise AssertionError("unreachable")
