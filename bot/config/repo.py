"""Per-repository configuration: `.github/issuesmith.yml` on the default branch.

Every key is optional; an absent key takes the deployment's setting (`Settings`) or the
default below. The file is validated strictly: a wrong type, a value out of range or an
unknown key is a `RepoConfigInvalid` that names the exact key and the reason, and the run
does not start; so is a value beyond what the deployment allows (`bot.config.limits`). A run keeps
the configuration it started with (a snapshot on the run), so editing the file mid-run
changes nothing until the next run.

```yaml
trigger_label: issuesmith        # the label that starts a run (default: ISSUESMITH_TRIGGER_LABEL)
auto_approve_label: ""           # an issue with this label skips the /approve gate (off by default)
setup_command: pip install -e .  # run before the tests, with an outbound network; only where the
                                 # deployment allows it (ISSUESMITH_ALLOW_REPO_SETUP_COMMAND); "" = none
test_command: pytest -q          # default: detected from the repository
test_timeout: 1800               # seconds per test run (default: ISSUESMITH_TEST_TIMEOUT), at most
                                 # ISSUESMITH_MAX_TEST_TIMEOUT
paths:
  allow: ["src/**", "tests/**"]  # the only paths the bot may change (default: everything)
  block: ["docs/legal/**"]       # never changed; .github/workflows/** is always blocked ...
  allow_workflows: false         # ... unless this is true
max_revisions: 2                 # Reviewer → Coder rounds per run, and review rounds on the PR
candidates: 1                    # independent Coder attempts (1-4), judged by the tests, one kept;
                                 # at most ISSUESMITH_MAX_CANDIDATES
budget: {usd: 1.0, tokens: 300000}  # may only lower the deployment's (ISSUESMITH_RUN_BUDGET_*)
models: {plan: gpt-4o, code: gpt-4o-mini, review: gpt-4o, test: gpt-4o-mini}  # priced models only
draft: when_failing              # when_failing | always | never
delete_branch: false             # delete the bot's branch when its PR is merged or closed
instructions: |                  # extra instructions for every agent (AGENTS.md is read too)
  Use type hints everywhere.
```
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.config.policy import DEFAULT_BLOCKED, Policy
from bot.core import treefiles
from bot.core.errors import ConfigError

CONFIG_PATHS = (".github/issuesmith.yml", ".github/issuesmith.yaml")
MAX_COMMAND = 16_000
"""Characters of `setup_command` / `test_command`: real test selections (SWE-bench's) take 3-10k; far under
what one shell argument may hold (128 KiB).
"""
MAX_TEST_TIMEOUT = 7 * 24 * 3600
"""The most `test_timeout` may say whatever the deployment allows (the deployment's maximum binds first)."""
AGENTS_FILE = "AGENTS.md"
MAX_INSTRUCTIONS = 8_000
"""Characters of `instructions` plus AGENTS.md that reach the prompts (the rest is cut, and says so)."""

ROLES = ("plan", "code", "review", "test")
ROLE_OF_STEP = {"plan": "plan", "code": "code", "fix": "code", "review": "review", "test": "test"}
"""Which configured role's model answers the model calls of each step."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PathRules(_Strict):
    """Where the bot may make changes."""

    allow: tuple[str, ...] = Field(default=("**",), description="globs of the paths the bot may change")
    block: tuple[str, ...] = Field(default=(), description="globs never changed (on top of .github/workflows/**)")
    allow_workflows: bool = Field(default=False, description="let plans change .github/workflows/**")

    @field_validator("allow", "block")
    @classmethod
    def _relative_globs(cls, globs: tuple[str, ...]) -> tuple[str, ...]:
        for glob in globs:
            if not glob.strip() or glob.startswith("/") or ".." in PurePosixPath(glob).parts:
                raise ValueError(f"{glob!r} is not a repository-relative glob")
        return globs


class RunBudget(_Strict):
    """A run's model budget; absent values take the deployment's, and a value may only lower it.

    (`bot.config.limits`.)
    """

    usd: float | None = Field(default=None, gt=0, le=1000)
    tokens: int | None = Field(default=None, gt=0, le=50_000_000)


class RoleModels(_Strict):
    """The model per agent role; absent roles use the deployment's model."""

    plan: str | None = None
    code: str | None = None
    review: str | None = None
    test: str | None = None


class RepoConfig(_Strict):
    """The validated contents of `.github/issuesmith.yml` (see the module docstring)."""

    trigger_label: str | None = Field(default=None, min_length=1, max_length=50)
    auto_approve_label: str | None = Field(default=None, max_length=50)
    setup_command: str | None = Field(default=None, max_length=MAX_COMMAND)
    test_command: str | None = Field(default=None, max_length=MAX_COMMAND)
    test_timeout: float | None = Field(default=None, gt=0, le=MAX_TEST_TIMEOUT)
    paths: PathRules = Field(default_factory=PathRules)
    max_revisions: int | None = Field(default=None, ge=0, le=10)
    candidates: int | None = Field(default=None, ge=1, le=4)
    budget: RunBudget = Field(default_factory=RunBudget)
    models: RoleModels = Field(default_factory=RoleModels)
    draft: Literal["when_failing", "always", "never"] = "when_failing"
    delete_branch: bool = False
    instructions: str = Field(default="", max_length=MAX_INSTRUCTIONS)
    agents_md: str = Field(default="", exclude=True, description="AGENTS.md of the default branch (not a key)")

    # effective values ------------------------------------------------------------------------
    def label(self, default: str) -> str:
        """The trigger label of this repository."""
        return self.trigger_label or default

    def auto_approves(self, labels: tuple[str, ...] | list[str]) -> bool:
        """Whether an issue carrying `labels` skips the approval gate."""
        wanted = (self.auto_approve_label or "").casefold()
        return bool(wanted) and any(label.casefold() == wanted for label in labels)

    def blocked(self) -> tuple[str, ...]:
        """Globs that may never change: the file's, plus the workflows unless they are allowed."""
        return tuple(self.paths.block) + (() if self.paths.allow_workflows else DEFAULT_BLOCKED)

    def policy(self, default_branch: str) -> Policy:
        """The gate's policy in this repository: its blocked paths, and whether workflows may change."""
        return Policy(default_branch=default_branch, blocked=self.blocked(), allow_workflows=self.paths.allow_workflows)

    def path_problem(self, path: str) -> str | None:
        """Why this configuration forbids changing `path` (blocked, or not allowed), or None."""
        if any(fnmatch.fnmatchcase(path, glob) for glob in self.blocked()):
            return f"{path} is blocked by the repository's configuration"
        return self.allow_problem(path)

    def allow_problem(self, path: str) -> str | None:
        """Why `path` is outside the paths this configuration allows, or None."""
        if not any(_matches(path, glob) for glob in self.paths.allow):
            return f"{path} is outside the paths the repository's configuration allows ({', '.join(self.paths.allow)})"
        return None

    def revisions(self, default: int) -> int:
        """Review rounds per run (Reviewer → Coder, and on the pull request): this file's, never above `default`
        (the deployment's; a repository may only lower its limits)."""
        return default if self.max_revisions is None else min(self.max_revisions, default)

    def model_for(self, step: str, default: str) -> str:
        """The model that answers the calls of `step`."""
        role = ROLE_OF_STEP.get(step)
        return (getattr(self.models, role) if role else None) or default

    def guidance(self) -> str:
        """The repository's instructions for the agents: `instructions`, then AGENTS.md, bounded."""
        parts = [text.strip() for text in (self.instructions, self.agents_md) if text.strip()]
        text = "\n\n".join(parts)
        if len(text) > MAX_INSTRUCTIONS:
            text = text[:MAX_INSTRUCTIONS] + "\n[... cut: the repository's instructions are longer than this]"
        return text

    def with_agents_md(self, root: Path) -> RepoConfig:
        """This configuration plus the AGENTS.md at the root of a work tree, if there is one.

        Read through `bot.core.treefiles`: an AGENTS.md that is a symlink (or no regular file) is
        ignored with a note in the logs, never followed; the run goes on without it.
        """
        try:  # 4 bytes per character at most, so this many bytes hold the characters kept
            data = treefiles.read_head(root, AGENTS_FILE, 4 * (MAX_INSTRUCTIONS + 1))
        except treefiles.Missing:
            data = b""
        except treefiles.TreeFileError as exc:
            logging.getLogger("issuesmith.repoconfig").warning(f"{AGENTS_FILE} ignored: {exc}")
            data = b""
        text = data.decode("utf-8", errors="replace")[:MAX_INSTRUCTIONS + 1]
        return self.model_copy(update={"agents_md": text})

    # storage on the run --------------------------------------------------------------------------
    def snapshot(self) -> str:
        """JSON for the run record (AGENTS.md included)."""
        data = self.model_dump(mode="json")
        data["agents_md"] = self.agents_md
        return json.dumps(data)

    @classmethod
    def from_snapshot(cls, text: str) -> RepoConfig:
        """The configuration a run stored at its start (defaults for runs older than this feature)."""
        return cls.model_validate_json(text if text else "{}")


class RepoConfigInvalid(ConfigError):
    """`.github/issuesmith.yml` does not validate; `problems` are (key, reason) pairs.

    `trigger_label` is the label the file names, when that much could be read (so a run
    started with it can be told why it does not start).
    """

    def __init__(self, path: str, problems: list[tuple[str, str]], trigger_label: str = "") -> None:
        listed = "; ".join(f"{key}: {reason}" for key, reason in problems)
        super().__init__(f"{path} is not valid: {listed}",
                         hint=f"fix {path} on the default branch, then add the label again")
        self.path = path
        self.problems = problems
        self.trigger_label = trigger_label


def load(read: Callable[[str], str | None]) -> RepoConfig:
    """The repository's configuration, read through `read(path)` (a file's text, or None when absent).

    Defaults when there is no file; raises `RepoConfigInvalid` when the file does not validate.
    AGENTS.md is not read here: the plan job reads it from its work tree (`with_agents_md`).
    """
    return load_with_path(read)[0]


def load_with_path(read: Callable[[str], str | None]) -> tuple[RepoConfig, str]:
    """`load`, and the path the configuration came from (the first of `CONFIG_PATHS` when there is no file)."""
    for path in CONFIG_PATHS:
        text = read(path)
        if text is not None:
            return parse(text, path), path
    return RepoConfig(), CONFIG_PATHS[0]


def parse(text: str, path: str = CONFIG_PATHS[0], agents_md: str = "") -> RepoConfig:
    """Validate the file's text; raises `RepoConfigInvalid` naming each bad key and why."""
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(file)"
        raise RepoConfigInvalid(path, [(where, f"not valid YAML: {getattr(exc, 'problem', None) or exc}")]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RepoConfigInvalid(path, [("(file)", f"must be a mapping of keys to values, not {type(data).__name__}")])
    label = data.get("trigger_label")
    label = label if isinstance(label, str) else ""
    if "agents_md" in data:
        raise RepoConfigInvalid(path, [("agents_md", "unknown key")], label)
    try:
        return RepoConfig.model_validate({**data, "agents_md": agents_md})
    except ValidationError as exc:
        raise RepoConfigInvalid(path, [_problem(error) for error in exc.errors()], label) from exc


def _problem(error: Any) -> tuple[str, str]:
    key = ".".join(str(part) for part in error["loc"]) or "(file)"
    if error["type"] == "extra_forbidden":
        return key, "unknown key"
    return key, f"{error['msg']} (got {error.get('input')!r})" if "input" in error else error["msg"]


def _matches(path: str, glob: str) -> bool:
    """`fnmatch` where `**/x` also matches `x` at the top level and `dir/**` matches `dir` itself."""
    return (fnmatch.fnmatchcase(path, glob)
            or (glob.startswith("**/") and fnmatch.fnmatchcase(path, glob[3:]))
            or (glob.endswith("/**") and path == glob[:-3]))
