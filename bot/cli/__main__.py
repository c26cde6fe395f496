"""`python -m bot.cli`: the `issuesmith` command."""

from bot.cli.main import main

main()
