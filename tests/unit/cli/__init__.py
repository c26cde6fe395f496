"""Unit tests of `bot.cli`."""
