"""`issuesmith check-config [REPO]`: validate a repository's `.github/issuesmith.yml` before committing it.

Prints each problem as `key: reason` (exit 1), or the effective settings for that repository
with the deployment's defaults filled in (exit 0), so a maintainer sees what a run would use.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.repoconfig import AGENTS_FILE, CONFIG_PATHS, RepoConfig, RepoConfigInvalid, load


def main(argv: list[str]) -> int:
    """Entry point (dispatched by `bot.cli`); returns the exit status."""
    parser = argparse.ArgumentParser(prog="issuesmith check-config", description=__doc__)
    parser.add_argument("repo", nargs="?", default=".", type=Path, help="the repository's root (default: .)")
    args = parser.parse_args(argv)
    root: Path = args.repo
    if not root.is_dir():
        print(f"{root}: not a directory")
        return 2
    try:
        config = load(lambda path: _read(root, path)).with_agents_md(root)
    except RepoConfigInvalid as exc:
        print(f"{exc.path} is not valid:")
        for key, reason in exc.problems:
            print(f"  {key}: {reason}")
        return 1
    found = next((path for path in CONFIG_PATHS if (root / path).is_file()), None)
    print(f"{found}: valid" if found else f"no {CONFIG_PATHS[0]}: every key takes its default")
    for line in describe(config):
        print(f"  {line}")
    return 0


def describe(config: RepoConfig) -> list[str]:
    """The effective settings, one per line (values the deployment decides are named as such)."""
    deployment = "the deployment's"
    models = {role: getattr(config.models, role) or f"{deployment} ISSUESMITH_MODEL" for role in
              ("plan", "code", "review", "test")}
    return [
        f"trigger label: {config.trigger_label or deployment + ' ISSUESMITH_TRIGGER_LABEL'}",
        f"auto-approve label: {config.auto_approve_label or 'off'}",
        f"setup command: {config.setup_command if config.setup_command is not None else deployment + ' setting'}",
        f"test command: {config.test_command or 'detected from the repository'}",
        f"paths allowed: {', '.join(config.paths.allow)}",
        f"paths blocked: {', '.join(config.blocked())}",
        f"max revisions: {config.max_revisions if config.max_revisions is not None else deployment + ' setting'}",
        f"budget: ${config.budget.usd or '(deployment)'} / {config.budget.tokens or '(deployment)'} tokens",
        "models: " + ", ".join(f"{role} {model}" for role, model in models.items()),
        f"draft pull requests: {config.draft}",
        f"delete the branch after merge or close: {'yes' if config.delete_branch else 'no'}",
        f"instructions: {len(config.instructions)} characters; {AGENTS_FILE}: "
        + (f"{len(config.agents_md)} characters" if config.agents_md else "none"),
    ]


def _read(root: Path, path: str) -> str | None:
    target = root / path
    return target.read_text("utf-8", errors="replace") if target.is_file() else None
