"""bot.flow."""
