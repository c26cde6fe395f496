"""Unit tests of `bot.runs`."""
