"""`python -m bot.doctor`: the same as `issuesmith doctor`."""

from bot.doctor.runner import main

raise SystemExit(main())
