"""Unit tests of `bot.flow`."""
