"""Unit tests of `bot.github`."""
