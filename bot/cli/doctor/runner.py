"""Runs the doctor's checks in order, prints a ✓/!/✗ line for each (with the fix below), returns the exit code.

The checks pass what they found on through a `Context` (a usable app key, whether Redis
answered), so a check that needs something broken is left out rather than failed twice; the
line of the broken thing says which checks it held back.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bot.cli.doctor import config, local, metrics, probe, remote
from bot.cli.doctor.result import Check, Status, fail, warn
from bot.core.redact import Redactor

SYMBOLS: dict[Status, str] = {"ok": "✓", "warn": "!", "fail": "✗"}
PLAIN: dict[Status, str] = {"ok": "ok", "warn": "!", "fail": "x"}
DEFAULT_TIMEOUT = 5.0
PROBE_TIMEOUT_FACTOR = 6  # a probe's reply is generated, not looked up: 30 s at the default timeout


@dataclass
class Context:
    """What the checks share: the settings as loaded, the network timeout, and what earlier checks found."""

    loaded: config.Loaded
    timeout: float
    key: config.AppKey | None = None
    redis_answers: bool = False
    probe_model: bool = False  # --probe-model: also send the capability probe's chat requests
    recount_metrics: bool = False  # --recount-metrics: also rebuild the run counts /metrics reads
    results: list[Check] = field(default_factory=list)


def _settings(ctx: Context) -> list[Check]:
    return [*config.check_settings(ctx.loaded), config.check_webhook_secret(ctx.loaded)]


def _github(ctx: Context) -> list[Check]:
    check, ctx.key = config.check_app_key(ctx.loaded)
    if ctx.key is None:
        return [Check(check.name, check.status, check.detail, check.fix,
                      (*check.notes, "GitHub API and installations not checked"))]
    return [check, *remote.check_github(ctx.loaded.settings, ctx.key, ctx.timeout)]


def _redis(ctx: Context) -> list[Check]:
    check, client = local.check_redis(ctx.loaded.settings, ctx.timeout)
    if client is None:
        return [check]
    ctx.redis_answers = True
    try:
        found = [check, local.check_persistence(client)]
        return [*found, metrics.recount_metrics(client)] if ctx.recount_metrics else found
    finally:
        client.close()


def _model(ctx: Context) -> list[Check]:
    settings = ctx.loaded.settings
    found = remote.check_model(settings, ctx.timeout)
    checks = [found, config.check_model_price(settings)]
    if not ctx.probe_model:
        return checks
    if found.status == "fail" or settings.model_provider == "replay":
        why = "a transcript is replayed" if found.status == "ok" else "the model check failed"
        return [*checks, warn("model capabilities", f"not probed: {why}", "see the model line")]
    return [*checks, *probe.probe_model(settings, ctx.timeout * PROBE_TIMEOUT_FACTOR)]


def _machine(ctx: Context) -> list[Check]:
    return [local.check_sandbox(ctx.loaded.settings), local.check_git(ctx.timeout),
            local.check_redis_server(ctx.timeout, redis_answers=ctx.redis_answers)]


STEPS: tuple[tuple[str, Callable[[Context], list[Check]]], ...] = (
    ("settings", _settings), ("GitHub", _github), ("Redis", _redis), ("model", _model), ("machine", _machine))


def run(ctx: Context, out: TextIO, redactor: Redactor) -> list[Check]:
    """Run every step, printing each line as soon as it is known; a crashing check is a ✗, not a traceback."""
    symbols = SYMBOLS if _can_print(out, "".join(SYMBOLS.values())) else PLAIN
    for name, step in STEPS:
        try:
            checks = step(ctx)
        except Exception as exc:  # a check must never take the report down with it
            checks = [fail(name, f"the check itself failed: {type(exc).__name__}: {exc}",
                           "this is a bug in issuesmith doctor; please report it with this line")]
        for check in checks:
            ctx.results.append(check)
            print(redactor(render(check, symbols)), file=out, flush=True)
    return ctx.results


def render(check: Check, symbols: dict[Status, str] = SYMBOLS) -> str:
    """The check's line, its notes indented below it, and on a warning or failure its fix."""
    lines = [f"{symbols[check.status]} {check.name}: {check.detail}"]
    lines += [f"    {note}" for note in check.notes]
    if check.status != "ok" and check.fix:
        lines.append(f"    fix: {check.fix}")
    return "\n".join(lines)


def summary(results: Sequence[Check]) -> str:
    """One closing line: how many checks passed, warned and failed."""
    failed = sum(c.status == "fail" for c in results)
    warned = sum(c.status == "warn" for c in results)
    if not failed and not warned:
        return f"all {len(results)} checks passed"
    return f"{len(results)} checks: {failed} failed, {warned} warning(s)"


def _can_print(out: TextIO, text: str) -> bool:
    encoding = getattr(out, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """`issuesmith doctor`: check the configuration and everything it points at; 1 if any check fails."""
    parser = argparse.ArgumentParser(prog="issuesmith doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", type=Path, default=Path(".env"),
                        help="the .env file to read besides the environment (default: ./.env)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds to wait for each network answer (default: 5)")
    parser.add_argument("--probe-model", action="store_true",
                        help="also send a few small chat requests to see what the model server supports "
                             "(response formats, tool calls, usage) and which settings to use")
    parser.add_argument("--recount-metrics", action="store_true",
                        help="also count runs by state and the phase histograms of /metrics again from the runs "
                             "(done once by itself after an upgrade)")
    args = parser.parse_args(argv)
    out = out or sys.stdout
    loaded = config.load(args.env_file)
    redactor = Redactor(loaded.secrets)
    try:
        for secret in loaded.settings.secrets():
            redactor.add(secret)
    except OSError:
        pass  # an unreadable key file is reported by the key check
    print("issuesmith doctor", file=out)
    context = Context(loaded, args.timeout, probe_model=args.probe_model, recount_metrics=args.recount_metrics)
    results = run(context, out, redactor)
    print(summary(results), file=out, flush=True)
    return 1 if any(c.status == "fail" for c in results) else 0
