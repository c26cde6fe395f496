"""Edits to existing assertions: lines with `assert` or `expect(` that a change removes or rewrites in test files.

A change that makes the tests pass by weakening them is the failure this catches: such lines
are not refused (a test may be wrong), they are shown to the Reviewer, who judges them. Test
files are the Tester's (`TEST_GLOBS`, matched as `bot.workspace.edits` matches globs); a
rewritten line shows as removed (and added), so every removed assertion line is one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.workspace import hunks
from bot.workspace.edits import matches_any

TEST_GLOBS = ("tests/**", "test/**", "**/tests/**", "**/test/**", "**/test_*.py", "**/*_test.py", "**/*_test.go",
              "**/*.test.js", "**/*.test.ts", "**/*.spec.js", "**/*.spec.ts", "test_*.py", "*_test.py", "spec/**",
              "**/spec/**", "**/*Test.java", "**/*_spec.rb")
ASSERTION = re.compile(r"\bassert|\bexpect\s*\(|\bassertEquals?\b|\bself\.assert")
MAX_SHOWN = 30


@dataclass(frozen=True)
class AssertionEdit:
    """One existing assertion line the change removed or rewrote."""

    path: str
    line: int  # in the old file
    text: str

    def render(self) -> str:
        return f"{self.path}:{self.line} (before the change): {self.text.strip()[:200]}"


def assertion_edits(patch: str) -> list[AssertionEdit]:
    """The assertion lines of test files that `patch` removes or rewrites."""
    found = []
    for path, diff in hunks.parse(patch).items():
        if not matches_any(path, TEST_GLOBS):
            continue
        found += [AssertionEdit(path, line, text) for hunk in diff.hunks for line, text in hunk.removed
                  if ASSERTION.search(text)]
    return found


def render(edits: list[AssertionEdit]) -> str:
    """The edits as lines for the Reviewer ("" when there are none)."""
    shown = [edit.render() for edit in edits[:MAX_SHOWN]]
    more = [f"... and {len(edits) - MAX_SHOWN} more"] if len(edits) > MAX_SHOWN else []
    return "\n".join(shown + more)
