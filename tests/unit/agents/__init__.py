"""Unit tests of `bot.agents`."""
