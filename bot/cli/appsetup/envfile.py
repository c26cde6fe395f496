"""Writing the app's credentials: `.env` merged in place, the private key in a file of its own, both 0600."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

_ASSIGNMENT = re.compile(r"\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=")
_PLAIN = re.compile(r"[A-Za-z0-9_./:@%+,=-]*")


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, readable and writable by the owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def quote(value: str) -> str:
    """A value as a dotenv line carries it: bare when plain, else single-quoted."""
    if _PLAIN.fullmatch(value):
        return value
    if "'" not in value and "\n" not in value:
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def merged(existing: str, values: Mapping[str, str], remove: Iterable[str] = ()) -> str:
    """`existing` dotenv text with `values` set (in place of their old lines) and `remove` dropped.

    Comments, blank lines and every other variable are kept as they were; a key given twice
    keeps only its first line; new keys are appended in the order given.
    """
    dropped, written = set(remove), set()
    lines = []
    for line in existing.splitlines():
        match = _ASSIGNMENT.match(line)
        key = match["key"] if match else ""
        if key in dropped:
            continue
        if key in values:
            if key not in written:
                lines.append(f"{key}={quote(values[key])}")
                written.add(key)
            continue
        lines.append(line)
    lines += [f"{key}={quote(value)}" for key, value in values.items() if key not in written]
    return "\n".join(lines) + "\n"


def update_env(path: Path, values: Mapping[str, str], remove: Iterable[str] = ()) -> None:
    """Merge `values` into the dotenv file at `path` (created if missing); the result is 0600."""
    existing = path.read_text(encoding="utf-8") if path.exists() else ""
    write_private(path, merged(existing, values, remove))
