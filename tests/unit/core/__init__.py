"""Unit tests of `bot.core`."""
