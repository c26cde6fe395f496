"""Unit tests of `bot.sandboxes`."""
