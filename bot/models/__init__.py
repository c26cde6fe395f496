"""bot.models."""
