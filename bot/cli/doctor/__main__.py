"""`python -m bot.cli.doctor`: the same as `issuesmith doctor`."""

from bot.cli.doctor.runner import main

raise SystemExit(main())
