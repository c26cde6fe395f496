"""What the demo ships: a small sample repository, an issue about it and a recorded model transcript.

The transcript (`transcript.jsonl`, see `bot.models.replay`) holds the replies of the Planner, Coder,
Reviewer and Tester made for this repository and issue; `issuesmith demo` replays it unless a
model endpoint is configured.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
SAMPLE_REPO = HERE / "sample_repo"
TRANSCRIPT = HERE / "transcript.jsonl"
ISSUE_TITLE = "word_count is wrong with double spaces"
ISSUE_BODY = ("`word_count('a  b')` returns 3, expected 2. Tabs and newlines are miscounted too.\n\n"
              "See `textstats/__init__.py`.")
