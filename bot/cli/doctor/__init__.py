"""`issuesmith doctor`: checks the settings and everything they point at, one ✓/!/✗ line each.

Settings present and well formed; the webhook secret; the app's private key, and the GitHub
API accepting its JWT; the app's installations; Redis answering and persisting; the model
endpoint and model; the sandbox backend this machine offers; git and redis-server. A ✗ comes
with the fix; the exit code is 1 when any check fails (warnings do not fail). Secrets are
never printed. `--probe-model` also sends a few small chat requests to the model server and says
what it supports and which settings to use (`bot.cli.doctor.probe`).
"""

from bot.cli.doctor.result import Check, Status
from bot.cli.doctor.runner import main

__all__ = ["Check", "Status", "main"]
