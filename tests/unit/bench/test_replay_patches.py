"""`bench/replay_bench/patches.py`: diffs split by file, changes as exact unique `replace_text` edits."""

from __future__ import annotations

import ast

import pytest
from replay_bench.patches import Replacement, apply, file_diffs, replacements, wrong_variant

PATCH = """diff --git a/pkg/a.py b/pkg/a.py
--- a/pkg/a.py
+++ b/pkg/a.py
@@ -1,2 +1,2 @@
-x = 1
+x = 2
 y = 3
diff --git a/tests/test_new.py b/tests/test_new.py
new file mode 100644
--- /dev/null
+++ b/tests/test_new.py
@@ -0,0 +1 @@
+def test_x(): pass
diff --git a/old.txt b/old.txt
deleted file mode 100644
--- a/old.txt
+++ /dev/null
@@ -1 +0,0 @@
-gone
"""

REPEATED = "def f():\n    return 1\n\n\ndef g():\n    return 1\n\n\ndef h():\n    return 1\n"


def test_a_patch_splits_into_its_files_with_their_status() -> None:
    found = [(d.path, d.status) for d in file_diffs(PATCH)]
    assert found == [("pkg/a.py", "modify"), ("tests/test_new.py", "create"), ("old.txt", "delete")]
    assert file_diffs(PATCH)[0].text.startswith("diff --git a/pkg/a.py")


@pytest.mark.parametrize(("old", "new"), [
    ("a\nb\nc\n", "a\nB\nc\n"),
    (REPEATED, REPEATED.replace("def g():\n    return 1", "def g():\n    return 2")),
    (REPEATED, "import os\n" + REPEATED + "\nx = 1\n"),
    (REPEATED, REPEATED.replace("def h():\n    return 1\n", "")),
    ("a\r\nb\r\nc\r\n", "a\r\nb2\r\nc\r\n"),
    ("same\nsame\nsame\n", "same\nother\nsame\n"),
    ("x\n" * 30 + "y\n" + "x\n" * 30, "x\n" * 30 + "z\n" + "x\n" * 30 + "w\n"),
])
def test_the_edits_rebuild_the_new_content_each_matching_exactly_once(old: str, new: str) -> None:
    edits = replacements(old, new)
    assert edits
    assert apply(old, edits) == new  # `apply` refuses an old_text that is not unique when it is applied


def test_a_region_that_is_not_unique_is_widened_until_it_is() -> None:
    new = REPEATED.replace("def g():\n    return 1", "def g():\n    return 2")
    (edit,) = replacements(REPEATED, new, context=0)
    assert REPEATED.count(edit.old_text) == 1
    assert "def g():" in edit.old_text


def test_applying_an_edit_whose_text_is_not_unique_fails() -> None:
    with pytest.raises(ValueError, match="2 times"):
        apply("a\na\n", [Replacement("a\n", "b\n")])


def test_no_change_needs_no_edit() -> None:
    assert replacements("a\n", "a\n") == []


def test_a_wrong_variant_undoes_one_changed_line_and_still_parses() -> None:
    old = "def f(x):\n    y = x\n    return y + 1\n"
    new = "def f(x):\n    y = -x\n    return y + 2\n"
    wrong = wrong_variant(old, new, "m.py")
    assert wrong is not None and wrong not in (old, new)
    ast.parse(wrong)
    assert wrong_variant(old.replace("y = x", "y = -x"), new, "m.py") is None  # one line: undoing it is the base


def test_a_wrong_variant_of_a_two_region_change_can_undo_the_last_region() -> None:
    old = "a = 1\n" + "pass\n" * 10 + "b = 1\n"
    new = "a = 1\nc = 0\n" + "pass\n" * 10 + "b = 1\nd = 0\n"
    wrong = wrong_variant(old, new, "m.py")
    assert wrong == "a = 1\nc = 0\n" + "pass\n" * 10 + "b = 1\n"


def test_no_wrong_variant_when_undoing_breaks_the_syntax_or_nothing_can_be_undone() -> None:
    old = "x = 1\n"
    new = "x = 1\nif x:\n    y = 2\n"  # one inserted region: nothing to undo line by line, no second region
    assert wrong_variant(old, new, "m.py") is None
    assert wrong_variant("a\n", "a\n", "m.py") is None
