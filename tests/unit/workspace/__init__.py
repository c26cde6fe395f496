"""Unit tests of `bot.workspace`."""
