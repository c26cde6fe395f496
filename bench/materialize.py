"""Approximate the git repositories of SWE-bench instances from PyPI source distributions.

github.com is out of reach here, so each instance's repository is rebuilt from the sdist of the
release that matches its `version` (for "0.6": the newest 0.6.x uploaded before the issue's
`created_at`, else the newest 0.6.x at all). Per repository, under `--out` (default `var/bench/repos`):

* `owner__name/` is a git repository with one commit per release used, oldest first, so that
  consecutive commits share most blobs (the incremental index reuses them);
* every instance's `base_commit` resolves through the tag `swebench/<base_commit>`, which points
  at the commit of its release; `commit-map.json` in `--out` records the same mapping, plus the
  instances that could not be mapped and why.

The tree is an approximation: an sdist is a release (not the exact commit), and some repository
files (CI, docs, tests) may be missing from it. Packaging metadata that is not in the repository
(`PKG-INFO`, `*.egg-info/`) is removed.

    .venv/bin/python bench/materialize.py --instances /work/shared/data/swebench-lite-dev.jsonl
    .venv/bin/python bench/materialize.py --package 'django==5.1.*' --name django__django
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

# Repository → PyPI project, where the names differ (otherwise the repository's name is used).
PYPI_NAMES = {
    "pvlib/pvlib-python": "pvlib",
    "pylint-dev/astroid": "astroid",
    "PyCQA/astroid": "astroid",
    "marshmallow-code/marshmallow": "marshmallow",
    "pydicom/pydicom": "pydicom",
    "pyvista/pyvista": "pyvista",
    "sqlfluff/sqlfluff": "sqlfluff",
    "django/django": "Django",
}
PIP_TIMEOUT = 900
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "bench@localhost", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


@dataclass(frozen=True)
class Release:
    """A downloaded source distribution."""

    project: str
    version: str
    archive: Path


def pypi_name(repo: str) -> str:
    """The PyPI project that publishes `repo`."""
    return PYPI_NAMES.get(repo, repo.split("/")[-1])


def download_sdist(requirement: str, dest: Path, before: str | None) -> Path:
    """Download the sdist matching `requirement` (uploaded before `before`, if given) with pip."""
    dest.mkdir(parents=True, exist_ok=True)
    project = re.split(r"[=<>!~ ]", requirement, maxsplit=1)[0]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", project,
               "--disable-pip-version-check", "-d", str(dest), requirement]
    if before:
        command[4:4] = ["--uploaded-prior-to", before]
    done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False)
    saved = re.findall(r"(?:Saved|File was already downloaded) (\S+)", done.stdout)
    if done.returncode != 0 or not saved:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"pip download {requirement} failed: {tail[0]}")
    return Path(saved[-1]).resolve()


def release_version(archive: Path) -> str:
    """`sqlfluff-0.6.9.tar.gz` → `0.6.9`."""
    stem = archive.name.removesuffix(".tar.gz").removesuffix(".zip").removesuffix(".tar.bz2")
    return stem.rsplit("-", 1)[-1]


def unpack(archive: Path, into: Path) -> None:
    """Unpack an sdist into `into`, dropping its single top directory and packaging metadata."""
    with tempfile.TemporaryDirectory() as scratch:
        if archive.suffix == ".zip":
            with zipfile.ZipFile(archive) as handle:
                handle.extractall(scratch)
        else:
            with tarfile.open(archive) as handle:
                handle.extractall(scratch, filter="data")
        entries = list(Path(scratch).iterdir())
        top = entries[0] if len(entries) == 1 and entries[0].is_dir() else Path(scratch)
        for item in into.iterdir():
            if item.name != ".git":
                shutil.rmtree(item) if item.is_dir() and not item.is_symlink() else item.unlink()
        for item in top.iterdir():
            shutil.move(str(item), into / item.name)
    for junk in [*into.glob("PKG-INFO"), *into.rglob("*.egg-info")]:
        shutil.rmtree(junk) if junk.is_dir() else junk.unlink()


def git(root: Path, *args: str) -> str:
    """Run git in `root` with a fixed identity and no user configuration."""
    return subprocess.run(["git", *args], cwd=root, env={**os.environ, **GIT_ENV}, capture_output=True,
                          text=True, check=True).stdout.strip()


def commit_release(repo_dir: Path, release: Release) -> str:
    """Commit the release's tree on top of the repository's history; returns the commit id."""
    tag = f"release/{release.version}"
    if repo_dir.joinpath(".git").is_dir():
        existing = subprocess.run(["git", "rev-parse", "--verify", "-q", f"{tag}^{{commit}}"], cwd=repo_dir,
                                  capture_output=True, text=True, check=False).stdout.strip()
        if existing:
            return existing
    else:
        repo_dir.mkdir(parents=True, exist_ok=True)
        git(repo_dir, "init", "-q", "-b", "main")
    unpack(release.archive, repo_dir)
    git(repo_dir, "add", "-A", "-f")
    git(repo_dir, "commit", "-q", "--allow-empty", "-m", f"{release.project} {release.version} (sdist)")
    git(repo_dir, "tag", "-f", tag)
    return git(repo_dir, "rev-parse", "HEAD")


def series_requirement(project: str, version: str) -> str:
    """`0.6` → `project==0.6.*`; a full version is used as is."""
    return f"{project}=={version}.*" if version.count(".") < 2 else f"{project}=={version}"


def fetch_release(project: str, version: str, created_at: str | None, cache: Path) -> Release:
    """The release of `version`'s series closest before `created_at` (else the newest of the series)."""
    requirement = series_requirement(project, version)
    try:
        archive = download_sdist(requirement, cache, created_at)
    except RuntimeError:
        archive = download_sdist(requirement, cache, None)
    return Release(project, release_version(archive), archive)


def version_key(version: str) -> tuple[int, ...]:
    """A sort key for plain dotted release numbers (pre-release suffixes ignored)."""
    return tuple(int(part) for part in re.findall(r"\d+", version)[:4])


def materialize_instances(instances: list[dict[str, str]], out: Path) -> dict[str, object]:
    """Build every instance's repository; returns the mapping written to `commit-map.json`."""
    cache = out / "_sdists"
    mapping: dict[str, dict[str, str]] = {}
    failures: dict[str, str] = {}
    releases: dict[str, Release] = {}
    for inst in instances:
        project = pypi_name(inst["repo"])
        try:
            releases[inst["instance_id"]] = fetch_release(project, inst["version"], inst.get("created_at"), cache)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            failures[inst["instance_id"]] = str(exc)
            print(f"  {inst['instance_id']}: not mapped ({exc})", file=sys.stderr)
    ordered = sorted(releases.items(), key=lambda item: version_key(item[1].version))
    by_id = {inst["instance_id"]: inst for inst in instances}
    for instance_id, release in ordered:
        inst = by_id[instance_id]
        repo_dir = out / inst["repo"].replace("/", "__")
        sha = commit_release(repo_dir, release)
        git(repo_dir, "tag", "-f", f"swebench/{inst['base_commit']}", sha)
        mapping[instance_id] = {"repo": inst["repo"], "base_commit": inst["base_commit"], "commit": sha,
                                "release": f"{release.project}=={release.version}", "version": inst["version"]}
        print(f"  {instance_id}: {release.project} {release.version} -> {sha[:10]}")
    result: dict[str, object] = {"mapped": mapping, "not_mapped": failures}
    (out / "commit-map.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=Path, help="SWE-bench JSONL file")
    parser.add_argument("--package", help="materialize one requirement instead, e.g. 'django==5.1.*'")
    parser.add_argument("--name", help="directory name for --package (default: the project name)")
    parser.add_argument("--out", type=Path, default=Path("var/bench/repos"))
    parser.add_argument("--repo", action="append", default=[], help="only these repositories (owner/name)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.package:
        archive = download_sdist(args.package, args.out / "_sdists", None)
        project = re.split(r"[=<>!~ ]", args.package, maxsplit=1)[0]
        repo_dir = args.out / (args.name or project)
        sha = commit_release(repo_dir, Release(project, release_version(archive), archive))
        print(f"{repo_dir}: {archive.name} -> {sha[:10]}")
        return 0
    if not args.instances:
        parser.error("give --instances or --package")
    instances = [json.loads(line) for line in args.instances.read_text().splitlines() if line.strip()]
    if args.repo:
        instances = [inst for inst in instances if inst["repo"] in args.repo]
    result = materialize_instances(instances, args.out)
    not_mapped = result["not_mapped"]
    print(f"mapped {len(result['mapped'])} (not mapped: {len(not_mapped)})")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
