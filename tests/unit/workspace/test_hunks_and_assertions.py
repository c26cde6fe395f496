"""Reading git's diffs into hunks, and the existing assertions a change removes or rewrites in test files."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bot.workspace import hunks
from bot.workspace.assertions import assertion_edits, render

DIFF = '''diff --git a/tests/test_a.py b/tests/test_a.py
index 1111111..2222222 100644
--- a/tests/test_a.py
+++ b/tests/test_a.py
@@ -3,4 +3,4 @@ import a
 def test_one():
-    assert a.f(1) == 2
+    assert a.f(1) >= 0
\x20
---- not a header
+--- still content
@@ -20,2 +20,3 @@ def test_two():
     x = 1
+    assert x
     return x
diff --git a/web/app.spec.js b/web/app.spec.js
--- a/web/app.spec.js
+++ b/web/app.spec.js
@@ -1,2 +1,1 @@
-  expect(total()).toBe(3);
   done();
diff --git a/lib/a.py b/lib/a.py
--- a/lib/a.py
+++ b/lib/a.py
@@ -1 +1 @@
-assert_valid = True
+assert_valid = False
diff --git a/old.py b/old.py
deleted file mode 100644
--- a/old.py
+++ /dev/null
@@ -1,2 +0,0 @@
-x = 1
-y = 2
'''


def test_hunks_cover_their_new_lines_and_content_that_looks_like_a_header_is_content() -> None:
    files = hunks.parse(DIFF)
    assert set(files) == {"tests/test_a.py", "web/app.spec.js", "lib/a.py", "old.py"}
    first, second = files["tests/test_a.py"].hunks
    assert first.removed == [(4, "    assert a.f(1) == 2"), (6, "--- not a header")]
    assert first.added == [(4, "    assert a.f(1) >= 0"), (6, "--- still content")]
    assert [line for line in range(1, 30) if files["tests/test_a.py"].covers(line)] == [3, 4, 5, 6, 20, 21, 22]
    assert second.added == [(21, "    assert x")]
    assert files["old.py"].deleted and files["old.py"].covers(0) and not files["lib/a.py"].covers(0)


def test_removed_or_rewritten_assertions_of_test_files_are_flagged_and_nothing_else() -> None:
    edits = assertion_edits(DIFF)
    assert [(e.path, e.line) for e in edits] == [("tests/test_a.py", 4), ("web/app.spec.js", 1)]
    text = render(edits)
    assert "tests/test_a.py:4 (before the change): assert a.f(1) == 2" in text
    assert "web/app.spec.js:1 (before the change): expect(total()).toBe(3);" in text
    assert render([]) == ""


def test_a_real_git_diff_with_a_quoted_name(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                              capture_output=True, text=True, check=True).stdout

    git("init", "-q")
    name = "tests/t\u00e9st \"q\".py"
    (tmp_path / "tests").mkdir()
    (tmp_path / name).write_text("def test_q():\n    assert 1 == 1\n")
    git("add", "-A")
    git("commit", "-qm", "base")
    (tmp_path / name).write_text("def test_q():\n    pass\n")
    diff = git("diff", "--no-ext-diff")
    assert '"' in diff.splitlines()[0]  # git quoted the name
    [edit] = assertion_edits(diff)
    assert (edit.path, edit.line, edit.text) == (name, 2, "    assert 1 == 1")
