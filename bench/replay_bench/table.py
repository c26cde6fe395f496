"""The results as a Markdown table (printed, and kept for bench/README.md) and as JSON."""

from __future__ import annotations

from dataclasses import asdict

from replay_bench.outcome import Outcome

COLUMNS = ("instance", "edits applied", "setup ok", "baseline passed/failed", "reproduction failed on base",
           "F2P green", "P2P green", "regressions", "already failing", "PR", "why", "seconds", "est. prompt tokens")
STAGES = ("plan", "setup", "base_tests", "reproduction", "coder_tests", "tests", "code", "test", "publish", "total")
AGENTS = ("planner", "tester", "coder", "reviewer")


def row_cells(row: Outcome) -> list[str]:
    """One table row."""
    if row.status == "cannot run here":
        return [row.instance, f"cannot run here: {row.reason}", *[""] * (len(COLUMNS) - 2)]
    seconds = " ".join(f"{k} {row.seconds[k]:g}" for k in STAGES if k in row.seconds)
    tokens = " ".join(f"{a} {row.tokens[a]:,}" for a in AGENTS if a in row.tokens)
    why = row.why if row.status == "ran" else f"{row.status}: {row.reason}"
    if row.wrong_first:
        why += f"; wrong first: {row.wrong_first}"
    name = f"{row.instance} ({row.release})" if row.release else row.instance
    return [name, row.edits_applied, row.setup_ok, row.baseline, row.reproduced, row.f2p, row.p2p,
            row.regressions, row.already_failing, row.pr or "none", why, seconds, tokens]


def markdown(rows: list[Outcome]) -> str:
    """The table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row_cells(r)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def as_json(rows: list[Outcome]) -> list[dict[str, object]]:
    """The rows as dicts."""
    return [{**asdict(r), "good": r.good} for r in rows]
