"""Unit tests of `bot.models`."""
