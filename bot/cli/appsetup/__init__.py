"""`issuesmith setup`: register the GitHub App through GitHub's app-manifest flow (see `command`)."""

from bot.cli.appsetup.command import build_parser, main

__all__ = ["build_parser", "main"]
