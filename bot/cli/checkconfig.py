"""`issuesmith check-config [REPO]`: validate a repository's `.github/issuesmith.yml` before committing it.

Prints each problem as `key: reason` (exit 1), or the effective settings for that repository
with the deployment's defaults filled in (exit 0), so a maintainer sees what a run would use.
The deployment's limits (`bot.config.limits`: budget ceiling, prices, whether a repository may set its
setup command) are read from the environment and `.env` as the worker reads them (defaults
otherwise), so a value beyond them is a problem here as it would be on the issue.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import SettingsError

from bot.config.limits import DeploymentLimits
from bot.config.repo import AGENTS_FILE, CONFIG_PATHS, ROLES, RepoConfig, RepoConfigInvalid, load_with_path
from bot.config.settings import LimitSettings


def main(argv: list[str]) -> int:
    """Entry point (dispatched by `bot.cli.main`); returns the exit status."""
    parser = argparse.ArgumentParser(prog="issuesmith check-config", description=__doc__)
    parser.add_argument("repo", nargs="?", default=".", type=Path, help="the repository's root (default: .)")
    args = parser.parse_args(argv)
    root: Path = args.repo
    if not root.is_dir():
        print(f"{root}: not a directory")
        return 2
    try:
        limits = DeploymentLimits.from_settings(LimitSettings())  # type: ignore[call-arg]
    except (ValidationError, SettingsError) as exc:
        print(f"the deployment's settings (environment, .env) cannot be read: {exc}")
        return 2
    try:
        config, path = load_with_path(lambda name: _read(root, name))
        config = limits.check(config, path).with_agents_md(root)
    except RepoConfigInvalid as exc:
        print(f"{exc.path} is not valid:")
        for key, reason in exc.problems:
            print(f"  {key}: {reason}")
        return 1
    found = next((path for path in CONFIG_PATHS if (root / path).is_file()), None)
    print(f"{found}: valid" if found else f"no {CONFIG_PATHS[0]}: every key takes its default")
    for line in describe(config, limits):
        print(f"  {line}")
    return 0


def describe(config: RepoConfig, limits: DeploymentLimits) -> list[str]:
    """The effective settings, one per line (values the deployment decides are named as such)."""
    deployment = "the deployment's"
    budget = limits.run_budget(config)
    setup = limits.run_setup_command(config)
    models = {role: getattr(config.models, role) or f"{limits.model} ({deployment})" for role in ROLES}
    return [
        f"trigger label: {config.trigger_label or deployment + ' ISSUESMITH_TRIGGER_LABEL'}",
        f"auto-approve label: {config.auto_approve_label or 'off'}",
        f"setup command: {setup or 'none'}" + ("" if config.setup_command is not None else f" ({deployment})"),
        f"test command: {config.test_command or 'detected from the repository'}",
        f"paths allowed: {', '.join(config.paths.allow)}",
        f"paths blocked: {', '.join(config.blocked())}",
        f"max revisions: {config.max_revisions if config.max_revisions is not None else deployment + ' setting'}",
        f"budget: ${budget.max_usd:g} / {budget.max_tokens:,} tokens per run"
        + ("" if config.budget.usd or config.budget.tokens else f" ({deployment})"),
        "models: " + ", ".join(f"{role} {model}" for role, model in models.items()),
        f"draft pull requests: {config.draft}",
        f"delete the branch after merge or close: {'yes' if config.delete_branch else 'no'}",
        f"instructions: {len(config.instructions)} characters; {AGENTS_FILE}: "
        + (f"{len(config.agents_md)} characters" if config.agents_md else "none"),
    ]


def _read(root: Path, path: str) -> str | None:
    target = root / path
    return target.read_text("utf-8", errors="replace") if target.is_file() else None
