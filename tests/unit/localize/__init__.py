"""Unit tests of `bot.localize`."""
