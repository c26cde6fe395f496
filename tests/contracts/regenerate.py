"""Regenerate the vendored API descriptions and webhook examples under tests/contracts/.

Run by hand from the repository root (needs the npm registry and ../shared/data)::

    .venv/bin/python tests/contracts/regenerate.py

It writes, deterministically (sorted keys, fixed indentation, trailing newline):

* ``github-openapi.json``  - GitHub's REST description (from the npm package
  ``@octokit/openapi``) trimmed to ``GITHUB_OPERATIONS`` plus every component they
  transitively ``$ref``.
* ``openai-openapi.json``  - OpenAI's description (from ``../shared/data``) trimmed to
  ``OPENAI_OPERATIONS`` plus transitive refs.
* ``webhooks/<event>.json`` - every example payload of each event in ``WEBHOOK_EVENTS``
  (from the npm package ``@octokit/webhooks-examples``), as a JSON list.
* ``LICENSES/*`` and ``SOURCES.md``.

The npm package versions are pinned below so that a rerun reproduces the same bytes; bump
them (or pass ``--github-version latest``) to pick up a newer description, then review the
diff and rerun the contract tests.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

# --- what we vendor ---------------------------------------------------------------------------

#: (METHOD, path template) of every GitHub REST operation the bot (via PyGithub) may call.
GITHUB_OPERATIONS: list[tuple[str, str]] = [
    ("POST", "/app/installations/{installation_id}/access_tokens"),
    ("GET", "/app"),
    ("GET", "/app/installations"),
    ("POST", "/app-manifests/{code}/conversions"),
    ("GET", "/repos/{owner}/{repo}/installation"),
    ("GET", "/repos/{owner}/{repo}"),
    ("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission"),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}"),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/reactions"),
    ("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/events"),
    ("GET", "/repos/{owner}/{repo}/git/ref/{ref}"),
    ("GET", "/repos/{owner}/{repo}/branches/{branch}"),
    ("GET", "/repos/{owner}/{repo}/contents/{path}"),
    ("GET", "/repos/{owner}/{repo}/pulls"),
    ("POST", "/repos/{owner}/{repo}/pulls"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/comments"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}"),
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/reviews/{review_id}/comments"),
    ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/comments/{comment_id}/replies"),
    ("DELETE", "/repos/{owner}/{repo}/git/refs/{ref}"),
]

#: (METHOD, path template) of every OpenAI operation the bot (via the openai SDK) may call.
OPENAI_OPERATIONS: list[tuple[str, str]] = [
    ("POST", "/chat/completions"),
    ("GET", "/models"),
    ("GET", "/models/{model}"),
]

#: Webhook events the GitHub App subscribes to.
WEBHOOK_EVENTS: list[str] = [
    "issue_comment",
    "issues",
    "ping",
    "pull_request",
    "pull_request_review",
    "pull_request_review_comment",
]

#: Pinned npm packages (name, version). "latest" is accepted on the command line.
GITHUB_PACKAGE = "@octokit/openapi"
GITHUB_PACKAGE_VERSION = "23.0.2"
WEBHOOKS_PACKAGE = "@octokit/webhooks-examples"
WEBHOOKS_PACKAGE_VERSION = "7.6.1"

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
DEFAULT_OPENAI_SPEC = REPO_ROOT.parent / "shared" / "data" / "openai-openapi.json"

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Keys whose value is a map from *names* to objects (so a member called e.g. "examples" or
# "x-oaiMeta" there is a name, not a keyword, and must not be pruned).
_NAME_MAPS = {
    "properties",
    "patternProperties",
    "dependentSchemas",
    "$defs",
    "definitions",
    "paths",
    "content",
    "responses",
    "headers",
    "schemas",
    "parameters",
    "requestBodies",
    "securitySchemes",
    "links",
    "callbacks",
    "encoding",
    "mapping",
    "variables",
}

# Keys pruned from the vendored copy to keep it small: OpenAI's documentation blobs (code
# samples in half a dozen languages). GitHub's ``examples`` are kept on purpose: they are real
# response bodies that the stand-ins can reuse and that the contract tests validate.
_PRUNED_KEYS = {"x-oaiMeta"}


# --- generic helpers ------------------------------------------------------------------------


def dump_json(data: Any) -> str:
    """Serialise deterministically: sorted keys, one-space indent, UTF-8, trailing newline."""
    return json.dumps(data, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (creating parents) and report its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path.relative_to(REPO_ROOT)} ({len(text.encode('utf-8')):,} bytes)")


def npm_pack(package: str, version: str, dest: Path) -> tuple[Path, str]:
    """``npm pack`` ``package@version`` into ``dest``; return (tarball path, resolved version)."""
    spec = f"{package}@{version}"
    proc = subprocess.run(
        ["npm", "pack", spec, "--json", "--pack-destination", str(dest)],
        check=True,
        capture_output=True,
        text=True,
    )
    info = json.loads(proc.stdout)
    entry = info[0] if isinstance(info, list) else info
    tarball = dest / entry["filename"]
    return tarball, str(entry["version"])


def tar_members(tarball: Path) -> dict[str, bytes]:
    """Read every regular file of an npm tarball into memory, keyed by its path inside it."""
    out: dict[str, bytes] = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            handle = tar.extractfile(member)
            if handle is not None:
                out[member.name] = handle.read()
    return out


def iter_refs(node: Any) -> Iterator[str]:
    """Yield every local ``$ref`` string found anywhere below ``node``."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from iter_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from iter_refs(value)


def unescape_pointer_token(token: str) -> str:
    """Undo JSON-pointer escaping of one token."""
    return token.replace("~1", "/").replace("~0", "~")


def prune(node: Any, in_name_map: bool = False) -> Any:
    """Return a copy of ``node`` without the ``_PRUNED_KEYS`` documentation blobs.

    Names inside name maps (``properties``, ``responses``...) are never pruned, so a schema
    property that happens to be called like a pruned key survives.
    """
    if isinstance(node, list):
        return [prune(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if not in_name_map and key in _PRUNED_KEYS:
            continue
        child_is_name_map = (not in_name_map) and key in _NAME_MAPS and isinstance(value, dict)
        out[key] = prune(value, in_name_map=child_is_name_map)
    return out


def trim_document(
    doc: dict[str, Any], operations: Iterable[tuple[str, str]], extra_info: dict[str, Any]
) -> dict[str, Any]:
    """Keep only ``operations`` of ``doc`` and every ``#/components/...`` they transitively use."""
    paths: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for method, template in operations:
        item = doc.get("paths", {}).get(template)
        op = item.get(method.lower()) if isinstance(item, dict) else None
        if op is None:
            missing.append(f"{method} {template}")
            continue
        assert isinstance(item, dict)
        kept = paths.setdefault(template, {})
        # Path-level fields shared by all methods (parameters, summary, servers...).
        for key, value in item.items():
            if key not in HTTP_METHODS:
                kept[key] = value
        kept[method.lower()] = op
    if missing:
        raise SystemExit("operations not found in the description: " + ", ".join(missing))

    pruned_paths = prune(paths, in_name_map=True)
    components_src: dict[str, Any] = doc.get("components", {})
    components: dict[str, dict[str, Any]] = {}
    pending = list(iter_refs(pruned_paths))
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        if not ref.startswith("#/components/"):
            raise SystemExit(f"unsupported $ref {ref!r} (only #/components/... is handled)")
        tokens = [unescape_pointer_token(t) for t in ref[len("#/components/") :].split("/")]
        if len(tokens) != 2:
            raise SystemExit(f"unsupported $ref depth {ref!r}")
        section, name = tokens
        try:
            target = components_src[section][name]
        except KeyError:
            raise SystemExit(f"dangling $ref {ref!r}") from None
        pruned = prune(target)
        components.setdefault(section, {})[name] = pruned
        pending.extend(iter_refs(pruned))

    info = dict(doc.get("info", {}))
    info.pop("description", None)
    info["x-issuesmith-vendored"] = extra_info
    out: dict[str, Any] = {
        "openapi": doc["openapi"],
        "info": info,
        "paths": pruned_paths,
        "components": components,
    }
    if "servers" in doc:
        out["servers"] = doc["servers"]
    return out


def pick_github_description(members: dict[str, bytes]) -> str:
    """Choose the api.github.com description inside the @octokit/openapi tarball."""
    candidates = sorted(name for name in members if name.endswith(".json") and "api.github.com" in name)
    plain = [n for n in candidates if n.endswith("/api.github.com.json")]
    if plain:
        return plain[0]
    if candidates:  # fall back to a dereferenced variant; trimming still works (no refs)
        return candidates[0]
    raise SystemExit("no api.github.com description found in the package: " + ", ".join(sorted(members)))


# --- the three sources ------------------------------------------------------------------------


def vendor_github(tmp: Path, version: str, licenses: Path) -> dict[str, str]:
    """Vendor the trimmed GitHub description; return facts for SOURCES.md."""
    tarball, resolved = npm_pack(GITHUB_PACKAGE, version, tmp)
    members = tar_members(tarball)
    name = pick_github_description(members)
    doc = json.loads(members[name])
    inner = name.removeprefix("package/")
    trimmed = trim_document(
        doc,
        GITHUB_OPERATIONS,
        {"package": f"{GITHUB_PACKAGE}@{resolved}", "file": inner, "license": "MIT"},
    )
    write_text(HERE / "github-openapi.json", dump_json(trimmed))
    license_text = members.get("package/LICENSE")
    if license_text is None:
        raise SystemExit(f"{GITHUB_PACKAGE} ships no LICENSE file; check its licensing by hand")
    write_text(licenses / "octokit-openapi.LICENSE", license_text.decode("utf-8"))
    return {
        "version": resolved,
        "file": inner,
        "description_version": str(doc.get("info", {}).get("version", "")),
        "openapi": str(doc.get("openapi", "")),
    }


def vendor_openai(spec_path: Path, licenses: Path) -> dict[str, str]:
    """Vendor the trimmed OpenAI description; return facts for SOURCES.md."""
    doc = json.loads(spec_path.read_text(encoding="utf-8"))
    version = str(doc.get("info", {}).get("version", ""))
    trimmed = trim_document(
        doc,
        OPENAI_OPERATIONS,
        {"source": "openai-openapi.json (project shared data)", "version": version, "license": "MIT"},
    )
    write_text(HERE / "openai-openapi.json", dump_json(trimmed))
    license_path = spec_path.with_suffix(".LICENSE")
    if not license_path.exists():
        raise SystemExit(f"missing {license_path}: the OpenAI description's license must be vendored too")
    write_text(licenses / "openai-openapi.LICENSE", license_path.read_text(encoding="utf-8"))
    return {"version": version, "openapi": str(doc.get("openapi", ""))}


WEBHOOKS_LICENSE_NOTE = """\
@octokit/webhooks-examples@{version} is published under the MIT license: its package.json
declares "license": "MIT" and its README's LICENSE section says MIT (repository
github:octokit/webhooks). The npm tarball itself ships no license file, so the standard MIT
license text is reproduced below; the copyright holders are the Octokit contributors.

MIT License

Copyright (c) Octokit contributors

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


def vendor_webhooks(tmp: Path, version: str, licenses: Path) -> dict[str, Any]:
    """Vendor the example payloads of ``WEBHOOK_EVENTS``; return facts for SOURCES.md."""
    tarball, resolved = npm_pack(WEBHOOKS_PACKAGE, version, tmp)
    members = tar_members(tarball)
    name = "package/api.github.com/index.json"
    if name not in members:
        raise SystemExit(f"{WEBHOOKS_PACKAGE}@{resolved}: {name} not found")
    events = {entry["name"]: entry for entry in json.loads(members[name])}
    out_dir = HERE / "webhooks"
    if out_dir.exists():
        shutil.rmtree(out_dir)
    counts: dict[str, int] = {}
    for event in WEBHOOK_EVENTS:
        if event not in events:
            raise SystemExit(f"{WEBHOOKS_PACKAGE}@{resolved} has no examples for event {event!r}")
        examples = events[event]["examples"]
        if not examples:
            raise SystemExit(f"{WEBHOOKS_PACKAGE}@{resolved}: event {event!r} has an empty example list")
        counts[event] = len(examples)
        write_text(out_dir / f"{event}.json", dump_json(examples))
    license_text = members.get("package/LICENSE") or members.get("package/LICENSE.md")
    text = license_text.decode("utf-8") if license_text else WEBHOOKS_LICENSE_NOTE.format(version=resolved)
    write_text(licenses / "octokit-webhooks-examples.LICENSE", text)
    return {"version": resolved, "file": name.removeprefix("package/"), "counts": counts}


def write_sources(github: dict[str, str], openai: dict[str, str], webhooks: dict[str, Any]) -> None:
    """Write SOURCES.md describing provenance, licenses and how to regenerate."""
    gh_ops = "\n".join(f"  - `{m} {p}`" for m, p in GITHUB_OPERATIONS)
    oa_ops = "\n".join(f"  - `{m} {p}`" for m, p in OPENAI_OPERATIONS)
    hooks = "\n".join(
        f"  - `webhooks/{event}.json` - {count} example(s)" for event, count in webhooks["counts"].items()
    )
    sources = "\n".join(
        [
            f"- `github-openapi.json`: npm `{GITHUB_PACKAGE}@{github['version']}`, file"
            f" `{github['file']}` (OpenAPI {github['openapi']}). License: MIT,"
            " `LICENSES/octokit-openapi.LICENSE` (copied from the package).",
            f"- `openai-openapi.json`: OpenAI's published OpenAPI description, version"
            f" {openai['version']} (OpenAPI {openai['openapi']}), read from"
            " `../shared/data/openai-openapi.json`. License: MIT, `LICENSES/openai-openapi.LICENSE`.",
            f"- `webhooks/*.json`: npm `{WEBHOOKS_PACKAGE}@{webhooks['version']}`, file"
            f" `{webhooks['file']}`. License: MIT (declared in its package.json and README; the"
            " package ships no license file), `LICENSES/octokit-webhooks-examples.LICENSE`.",
        ]
    )
    text = f"""# Vendored API contracts

Generated by `tests/contracts/regenerate.py`; do not edit these files by hand. To regenerate
(needs the npm registry and the project's shared data directory `../shared/data`):

```
.venv/bin/python tests/contracts/regenerate.py [--openai-spec PATH] \\
    [--github-version VERSION|latest] [--webhooks-version VERSION|latest]
```

Output is deterministic (sorted keys, fixed indentation) for pinned inputs. Trimmed
descriptions keep `openapi`, `info`, `servers`, the listed `paths` and every `components`
entry they transitively `$ref` (including GitHub's `#/components/examples`, real response
bodies that stand-ins may reuse); OpenAI's `x-oaiMeta` documentation blobs (code samples) are
dropped to keep the file small.

{sources}

`@octokit/openapi` republishes GitHub's official description (github/rest-api-description)
with Octokit's `x-octokit` extension.

## GitHub operations kept

{gh_ops}

## OpenAI operations kept

{oa_ops}

## Webhook examples

Each file is a JSON list of every example payload the package has for that event (all
actions), in the package's order.

{hooks}

## Known deviations

Where a published description disagrees with real GitHub or OpenAI behaviour, the exception
is listed, with its reason, in `KNOWN_EXCEPTIONS` in `tests/contracts/openapi.py`; the
vendored files themselves are never patched.
"""
    write_text(HERE / "SOURCES.md", text)


def main(argv: list[str] | None = None) -> int:
    """Entry point: regenerate every vendored file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--openai-spec", type=Path, default=DEFAULT_OPENAI_SPEC, help="OpenAI OpenAPI JSON")
    parser.add_argument("--github-version", default=GITHUB_PACKAGE_VERSION, help=f"{GITHUB_PACKAGE} version")
    parser.add_argument("--webhooks-version", default=WEBHOOKS_PACKAGE_VERSION, help=f"{WEBHOOKS_PACKAGE} version")
    args = parser.parse_args(argv)
    if shutil.which("npm") is None:
        raise SystemExit("npm is required (apt-get install npm)")
    if not args.openai_spec.exists():
        raise SystemExit(f"OpenAI description not found at {args.openai_spec} (use --openai-spec)")

    licenses = HERE / "LICENSES"
    with tempfile.TemporaryDirectory(prefix="issuesmith-contracts-") as tmp_name:
        tmp = Path(tmp_name)
        github = vendor_github(tmp, args.github_version, licenses)
        webhooks = vendor_webhooks(tmp, args.webhooks_version, licenses)
    openai = vendor_openai(args.openai_spec, licenses)
    write_sources(github, openai, webhooks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
