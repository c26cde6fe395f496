"""bot.web.app."""
