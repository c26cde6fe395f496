"""bot.workspace.slots."""
