"""Unit tests of `bot.config`."""
