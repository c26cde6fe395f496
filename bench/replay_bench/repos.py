"""Checkouts of SWE-bench instances from the materialized source releases (`bench/materialize.py`), and
whether an instance can run there.

The release's tree stands in for the instance's base commit (github.com is out of reach). An instance
cannot run here when its repository has no release for its version, when its gold or test patch does
not apply to the release, when a patch changes a binary file (the agents' tools edit text), or when a
test file its FAIL_TO_PASS / PASS_TO_PASS tests live in is absent after the test patch. A checkout is
the release's commit plus one commit adding `.github/issuesmith.yml` with the derived test command
(how a repository configures issuesmith).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replay_bench.patches import file_diffs
from replay_bench.transcript import FileChange

GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "bench@localhost", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


class CannotRun(Exception):
    """The instance cannot run here; the message says why."""


@dataclass(frozen=True)
class Checkout:
    """An instance's checkout and its patches as file changes."""

    path: Path
    release: str
    gold: list[FileChange]
    tests: list[FileChange]
    apply_flags: tuple[str, ...] = ()  # `--ignore-whitespace` when the release has CRLF line endings


def git(cwd: Path, *args: str, stdin: str | None = None) -> str:
    """git with a fixed identity and no user configuration; CalledProcessError on failure."""
    return subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, input=stdin, capture_output=True,
                          text=True, check=True).stdout


def release_of(mapping: dict[str, Any], instance: dict[str, Any]) -> dict[str, str]:
    """The materialized release of `instance` (`commit-map.json`'s entry); CannotRun when there is none."""
    found = mapping.get("mapped", {}).get(instance["instance_id"])
    if found is None:
        why = mapping.get("not_mapped", {}).get(instance["instance_id"], "not materialized")
        raise CannotRun(f"no source release: {why}")
    return dict(found)


def checkout(repos: Path, into: Path, instance: dict[str, Any], config: str) -> Checkout:
    """A fresh checkout of `instance` in `into` with `.github/issuesmith.yml` holding `config` (see the module)."""
    mapping = json.loads((repos / "commit-map.json").read_text())
    release = release_of(mapping, instance)
    source = repos / instance["repo"].replace("/", "__")
    if into.exists():
        shutil.rmtree(into)
    into.parent.mkdir(parents=True, exist_ok=True)
    git(into.parent, "clone", "-q", "--no-tags", str(source.resolve()), str(into))
    git(into, "checkout", "-q", "-B", "main", release["commit"])
    flags = apply_flags(into, instance["patch"], instance["test_patch"])
    gold = changes(into, instance["patch"], "gold patch", flags)
    tests = changes(into, instance["test_patch"], "test patch", flags)
    missing = missing_test_files(into, instance)
    if missing:
        raise CannotRun(f"the release lacks the test files {', '.join(missing)}")
    (into / ".github").mkdir(exist_ok=True)
    (into / ".github" / "issuesmith.yml").write_text(config)
    git(into, "add", "-f", ".github/issuesmith.yml")
    git(into, "commit", "-q", "-m", "issuesmith configuration (bench)")
    return Checkout(into, release["release"], gold, tests, flags)


def apply_flags(tree: Path, *patches: str) -> tuple[str, ...]:
    """`("--ignore-whitespace",)` when the patches apply only so (an sdist that ships CRLF line endings where the
    repository has LF; the added lines then keep LF), else `()`."""
    def applies(flags: tuple[str, ...]) -> bool:
        try:
            for patch in patches:
                git(tree, "apply", "--check", *flags, "-", stdin=patch)
        except subprocess.CalledProcessError:
            return False
        return True
    return ("--ignore-whitespace",) if not applies(()) and applies(("--ignore-whitespace",)) else ()


def changes(tree: Path, patch: str, what: str, flags: tuple[str, ...] = ()) -> list[FileChange]:
    """`patch`'s files with their content before and after; CannotRun when it does not apply or is binary."""
    if "GIT binary patch" in patch or "Binary files " in patch:
        raise CannotRun(f"the {what} changes a binary file")
    try:
        git(tree, "apply", "--check", *flags, "-", stdin=patch)
    except subprocess.CalledProcessError as exc:
        raise CannotRun(f"the {what} does not apply to the release: {exc.stderr.strip().splitlines()[0]}") from exc
    diffs = file_diffs(patch)
    before = {d.path: read(tree / d.path) for d in diffs}
    git(tree, "apply", *flags, "-", stdin=patch)
    after = {d.path: read(tree / d.path) for d in diffs}
    git(tree, "reset", "-q", "--hard")
    git(tree, "clean", "-qfd")
    return [FileChange(d, before[d.path], after[d.path]) for d in diffs]


def missing_test_files(tree: Path, instance: dict[str, Any]) -> list[str]:
    """The test files of the instance's tests that are absent from the release plus the test patch."""
    from replay_bench.commands import test_files

    added = {d.path for d in file_diffs(instance["test_patch"]) if d.status == "create"}
    wanted = test_files(instance["FAIL_TO_PASS"] + instance["PASS_TO_PASS"])
    return [f for f in wanted if f not in added and not (tree / f).is_file()]


def read(path: Path) -> str | None:
    """A file's text (None when absent)."""
    if not path.is_file():
        return None
    with path.open(encoding="utf-8", newline="") as handle:  # line endings as they are
        return handle.read()
