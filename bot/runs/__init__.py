"""bot.runs.model."""
