"""The `issuesmith` command: `serve` (the webhook receiver), `worker` (RQ jobs), `demo`, `run`, `doctor`, `setup`
and `health`."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from pydantic import ValidationError

from bot.config.settings import Settings
from bot.core.logs import configure
from bot.core.redact import Redactor

log = logging.getLogger("issuesmith")


def load_settings() -> Settings:
    """Build the settings, or exit with a message that says what to fix."""
    try:
        return Settings()  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = "\n".join(
            f"  - {'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        sys.exit(f"issuesmith: configuration is incomplete or wrong:\n{problems}\n"
                 "Set these in the environment or in .env (see README, 'Configuration').")


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the web app with uvicorn."""
    import uvicorn

    from bot.web.app import create_app

    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False)


def worker(settings: Settings, burst: bool, name: str | None) -> None:
    """Run RQ workers (with their scheduler, for delayed retries) on the issuesmith queue (`bot.cli.worker`)."""
    from bot.cli.worker import run

    run(settings, burst, name)


TOOLS = {"demo": "bot.cli.demo.run", "run": "bot.cli.localrun", "doctor": "bot.cli.doctor", "setup": "bot.cli.appsetup",
         "health": "bot.cli.health", "check-config": "bot.cli.checkconfig"}
"""Commands with their own arguments and settings, by the module whose `main(argv) -> int` runs them."""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: `serve` and `worker` with their options, the `TOOLS` by name only."""
    parser = argparse.ArgumentParser(prog="issuesmith", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="receive GitHub webhooks")
    p_serve.add_argument("--host", default="127.0.0.1")
    p_serve.add_argument("--port", type=int, default=8000)
    p_worker = sub.add_parser("worker", help="run jobs from the queues")
    p_worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    p_worker.add_argument("--name", default=None)
    for name, text in (("demo", "watch the whole flow on this machine (local GitHub stand-in, recorded model)"),
                       ("run", "plan, code, review and test an issue on a local checkout, no GitHub"),
                       ("doctor", "check the configuration and every service it names"),
                       ("setup", "register the GitHub App from app.yml (app-manifest flow) and write .env"),
                       ("health", "container health check: `health worker` (Redis answers, this worker registered)"),
                       ("check-config", "validate a repository's .github/issuesmith.yml, show what a run would use")):
        sub.add_parser(name, help=text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `issuesmith` console script."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in TOOLS:
        module = importlib.import_module(TOOLS[argv[0]])
        sys.exit(module.main(argv[1:]))
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = load_settings()
    configure(settings.log_level, Redactor(settings.secrets()))
    if args.command == "serve":
        serve(settings, args.host, args.port)
    else:
        worker(settings, args.burst, args.name)


if __name__ == "__main__":
    main()
