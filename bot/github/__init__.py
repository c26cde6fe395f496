"""bot.github.client."""
