"""The Reviewer's findings are held to the diff: a changed line, or a named missing change; the verdict follows."""

from __future__ import annotations

from bot.agents.findings import checked
from bot.runs.review import Finding, Review

DIFF = '''diff --git a/pkg/a.py b/pkg/a.py
--- a/pkg/a.py
+++ b/pkg/a.py
@@ -10,7 +10,7 @@ def f():
 def f():
     x = 1
     y = 2
-    return x
+    return y
     # end
\x20
\x20
'''


def review(verdict: str, *found: Finding) -> Review:
    return Review(verdict=verdict, summary="s", findings=list(found))  # type: ignore[arg-type]


def test_findings_in_the_hunks_or_naming_a_missing_change_are_kept_the_rest_dropped() -> None:
    inside = Finding(severity="major", file="pkg/a.py", line=13, message="returns y")
    edge = Finding(severity="nit", file="./pkg/a.py", line=16, message="blank lines")
    missing = Finding(severity="major", file="docs/a.md", message="the docs are not updated", missing=True)
    outside = Finding(severity="blocker", file="pkg/a.py", line=40, message="unrelated")
    elsewhere = Finding(severity="major", file="pkg/b.py", line=3, message="not changed")
    vague = Finding(severity="major", file="pkg/a.py", line=0, message="somewhere")
    result, dropped = checked(review("request_changes", inside, edge, missing, outside, elsewhere, vague), DIFF)
    assert result.findings == [inside, edge, missing] and result.verdict == "request_changes"
    assert [(d.finding, d.reason) for d in dropped] == [
        (outside, "line 40 of pkg/a.py is outside the diff's hunks"),
        (elsewhere, "pkg/b.py is not changed by the diff (and the finding names no missing change)"),
        (vague, "line 0 of pkg/a.py is outside the diff's hunks")]


def test_the_verdict_follows_the_findings_kept() -> None:
    outside = Finding(severity="blocker", file="pkg/a.py", line=40, message="unrelated")
    result, dropped = checked(review("request_changes", outside), DIFF)
    assert (result.verdict, result.findings, len(dropped)) == ("approve", [], 1)
    minor = Finding(severity="minor", file="pkg/a.py", line=13, message="name")
    assert checked(review("request_changes", minor), DIFF)[0].verdict == "approve"
    blank = Finding(severity="major", file="x", message="  ", missing=True)
    assert checked(review("request_changes", blank), DIFF)[1][0].reason == "a missing change with no description"
