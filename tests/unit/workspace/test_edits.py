"""Edits apply exactly once, stay in scope, never go through symlinks, and never break the syntax."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from bot.workspace import edits
from bot.workspace.edits import EditError, Scope

SOURCE = "def greet(name):\n    return 'hello ' + name\n\n\ndef shout(name):\n    return greet(name).upper()\n"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "greet.py").write_text(SOURCE)
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


SCOPE = Scope(allowed=("pkg/greet.py", "pkg/new/mod.py", "data.json", ".github/workflows/ci.yml", "link.py",
                       "out/x.py"))


def test_exact_unique_replace(tree: Path) -> None:
    result = edits.replace(tree, SCOPE, "pkg/greet.py", "'hello ' + name", "f'hello {name}'")
    assert (tree / "pkg/greet.py").read_text() == SOURCE.replace("'hello ' + name", "f'hello {name}'")
    assert (result.path, result.action, result.note) == ("pkg/greet.py", "replace", "")
    assert "-    return 'hello ' + name\n+    return f'hello {name}'\n" in result.diff
    assert result.diff.startswith("--- a/pkg/greet.py\n+++ b/pkg/greet.py\n")


def test_no_match_shows_the_closest_text_with_line_numbers(tree: Path) -> None:
    before = snapshot(tree)
    with pytest.raises(EditError) as caught:
        edits.replace(tree, SCOPE, "pkg/greet.py", "def shout(name):\n    return greet(nam).upper()\n", "x = 1\n")
    text = str(caught.value)
    assert "not found in pkg/greet.py" in text
    assert "lines 5-6" in text and "% similar" in text
    assert "     5\tdef shout(name):\n     6\t    return greet(name).upper()" in text
    assert snapshot(tree) == before


def test_closest_match_in_a_large_file_is_found_with_bounded_work(tree: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [f"    value_{i} = compute(x_{i}, y={i % 7})" for i in range(5000)]
    (tree / "pkg/greet.py").write_text("def f(x_0, x_1):\n" + "\n".join(lines) + "\n")
    old = "\n".join(lines[3000:3010]).replace("compute", "comput")
    exact: list[int] = []  # the work is counted, not timed: the costly exact comparisons difflib makes
    original = difflib.SequenceMatcher.ratio
    monkeypatch.setattr(difflib.SequenceMatcher, "ratio", lambda self: (exact.append(1), original(self))[1])
    with pytest.raises(EditError, match="lines 3002-3011") as caught:
        edits.replace(tree, SCOPE, "pkg/greet.py", old, "pass")
    assert 0 < len(exact) <= 13  # the few best of the 4,991 windows (ranked by the cheap quick ratio), and the best
    assert "  3002\t    value_3000 = compute(x_3000, y=4)" in str(caught.value)


def test_nothing_alike_says_so(tree: Path) -> None:
    with pytest.raises(EditError, match=r"Nothing in pkg/greet\.py looks like it"):
        edits.replace(tree, SCOPE, "pkg/greet.py", "zzzzqqqq", "x")


def test_line_numbers_that_do_not_count_up_are_pointed_out_not_stripped(tree: Path) -> None:
    with pytest.raises(EditError, match="line numbers"):
        edits.replace(tree, SCOPE, "pkg/greet.py", "     5\tdef shout(name):\n     9\t    return 1", "def yell(name):")


def test_ambiguous_match_names_the_lines(tree: Path) -> None:
    with pytest.raises(EditError, match=r"occurs 2 times .* lines 1, 5\)") as caught:
        edits.replace(tree, SCOPE, "pkg/greet.py", "(name):", "(who):")
    assert "more surrounding lines" in str(caught.value)


def test_same_old_and_new_is_refused(tree: Path) -> None:
    with pytest.raises(EditError, match="the same"):
        edits.replace(tree, SCOPE, "pkg/greet.py", "greet", "greet")


def test_trailing_whitespace_differences_are_tolerated_when_unique(tree: Path) -> None:
    (tree / "pkg/greet.py").write_text(SOURCE.replace("def shout(name):\n", "def shout(name):   \n"))
    result = edits.replace(tree, SCOPE, "pkg/greet.py", "def shout(name):\n    return greet(name).upper()",
                           "def shout(name):\n    return greet(name).upper() + '!'")
    assert "ignoring whitespace" in result.note
    assert (tree / "pkg/greet.py").read_text().endswith("def shout(name):\n    return greet(name).upper() + '!'\n")


def test_crlf_files_stay_crlf(tree: Path) -> None:
    path = tree / "pkg/greet.py"
    path.write_bytes(SOURCE.replace("\n", "\r\n").encode())
    edits.replace(tree, SCOPE, "pkg/greet.py", "def shout(name):\n    return",
                  "def shout(name):\n    # loud\n    return")
    data = path.read_bytes()
    assert b"def shout(name):\r\n    # loud\r\n    return" in data
    assert data.count(b"\n") == data.count(b"\r\n")


def test_outside_scope_is_refused(tree: Path) -> None:
    (tree / "pkg/other.py").write_text("x = 1\n")
    with pytest.raises(EditError, match="outside the plan's scope"):
        edits.replace(tree, SCOPE, "pkg/other.py", "x = 1", "x = 2")
    assert (tree / "pkg/other.py").read_text() == "x = 1\n"


def test_workflows_are_blocked_even_when_allowed(tree: Path) -> None:
    assert SCOPE.permits(".github/workflows/ci.yml") is not None
    with pytest.raises(EditError, match="blocked"):
        edits.replace(tree, SCOPE, ".github/workflows/ci.yml", "push", "pull_request")
    with pytest.raises(EditError, match="blocked"):
        edits.create(tree, Scope(allowed=("sub/.github/workflows/x.yml",)), "sub/.github/workflows/x.yml", "on: push\n")
    assert (tree / ".github/workflows/ci.yml").read_text() == "on: push\n"


@pytest.mark.parametrize("path", ["../x", "pkg/../../x", "/etc/passwd", "pkg\\greet.py", "", ".git/config",
                                  "sub/.git/hooks/pre-commit"])
def test_paths_outside_the_tree_are_refused(tree: Path, path: str) -> None:
    scope = Scope(allowed=(path,), extra_globs=("**",))
    assert scope.permits(path) is not None
    with pytest.raises(EditError):
        edits.create(tree, scope, path, "x\n")
    assert not (tree.parent / "x").exists()


def test_symlink_escape_is_refused(tree: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.py").write_text("secret = 1\n")
    os.symlink(outside, tree / "out")
    os.symlink(outside / "x.py", tree / "link.py")
    with pytest.raises(EditError, match="symlink"):
        edits.replace(tree, SCOPE, "out/x.py", "secret = 1", "secret = 2")
    with pytest.raises(EditError, match="symlink"):
        edits.replace(tree, SCOPE, "link.py", "secret = 1", "secret = 2")
    with pytest.raises(EditError, match="symlink"):
        edits.delete(tree, SCOPE, "link.py")
    assert (outside / "x.py").read_text() == "secret = 1\n"
    assert "symlink" in edits.view(tree, "out/x.py") and "secret" not in edits.view(tree, "out/x.py")


def test_syntax_error_is_refused_and_the_file_unchanged(tree: Path) -> None:
    before = snapshot(tree)
    with pytest.raises(EditError, match="would not parse") as caught:
        edits.replace(tree, SCOPE, "pkg/greet.py", "    return greet(name).upper()\n", "    return greet(name\n")
    assert "line 6" in str(caught.value)
    with pytest.raises(EditError, match="would not parse"):
        edits.create(tree, SCOPE, "data.json", '{"a": 1,}')
    with pytest.raises(EditError, match="would not parse"):
        edits.create(tree, SCOPE, "pkg/new/mod.py", "def f(:\n")
    assert snapshot(tree) == before
    assert not (tree / "pkg/new").exists()


def test_check_syntax_per_language() -> None:
    assert edits.check_syntax("a.py", "x = 1\n") is None
    assert edits.check_syntax("a.py", "x = = 1\n") is not None
    assert edits.check_syntax("a.json", "[1, 2]") is None
    assert edits.check_syntax("a.toml", "[tool]\nx = 1\n") is None
    assert edits.check_syntax("a.toml", "[tool\n") is not None
    assert edits.check_syntax("tsconfig.json", "{// comments are fine here\n}") is None
    assert edits.check_syntax("a.js", "this is not checked {") is None


def test_create_refuses_an_existing_file(tree: Path) -> None:
    with pytest.raises(EditError, match="already exists"):
        edits.create(tree, SCOPE, "pkg/greet.py", "x = 1\n")
    assert (tree / "pkg/greet.py").read_text() == SOURCE


def test_create_in_a_new_directory(tree: Path) -> None:
    result = edits.create(tree, SCOPE, "./pkg/new/mod.py", "VALUE = 1\n")
    assert (tree / "pkg/new/mod.py").read_text() == "VALUE = 1\n"
    assert (result.path, result.action) == ("pkg/new/mod.py", "create")
    assert result.diff == "--- /dev/null\n+++ b/pkg/new/mod.py\n@@ -0,0 +1 @@\n+VALUE = 1\n"


def test_extra_globs_allow_a_new_test_file(tree: Path) -> None:
    scope = Scope(allowed=("pkg/greet.py",), extra_globs=("tests/**", "**/test_*.py"))
    edits.create(tree, scope, "tests/unit/test_greet.py", "def test_it():\n    assert True\n")
    edits.create(tree, scope, "test_top.py", "")
    assert (tree / "tests/unit/test_greet.py").is_file() and (tree / "test_top.py").is_file()
    assert scope.permits("pkg/other.py") is not None


def test_delete(tree: Path) -> None:
    scope = Scope(allowed=("pkg/greet.py",))
    result = edits.delete(tree, scope, "pkg/greet.py")
    assert not (tree / "pkg/greet.py").exists()
    assert result.action == "delete" and result.diff.startswith("--- a/pkg/greet.py\n+++ /dev/null\n")
    with pytest.raises(EditError, match="does not exist"):
        edits.delete(tree, scope, "pkg/greet.py")


def test_view_numbers_lines_and_pages(tree: Path) -> None:
    text = edits.view(tree, "pkg/greet.py", start=5, max_lines=1)
    assert text.splitlines()[1:] == ["     5\tdef shout(name):", "[1 more lines; view with start=6]"]
    assert edits.view(tree, "missing.py").startswith("error:")
    assert "greet.py" in edits.view(tree, "pkg")


# -- weak-model guardrails ---------------------------------------------------------------------------

NESTED = ("class Greeter:\n    def greet(self, name):\n        return 'hello ' + name\n\n"
          "    def bye(self):\n        return 'bye'\n")
NESTED_SCOPE = Scope(allowed=("pkg/nested.py", "pkg/small.py", "pkg/big.py", "pkg/new.py"))


@pytest.fixture
def nested(tree: Path) -> Path:
    (tree / "pkg" / "nested.py").write_text(NESTED)
    return tree


def test_old_text_with_shifted_indentation_is_matched_and_new_text_rebased(nested: Path) -> None:
    old = "def greet(self, name):\n    return 'hello ' + name"
    result = edits.replace(nested, NESTED_SCOPE, "pkg/nested.py", old,
                           old.replace("    return", "    if not name:\n        return 'hello'\n    return"))
    assert (nested / "pkg/nested.py").read_text() == NESTED.replace(
        "        return 'hello ' + name", "        if not name:\n            return 'hello'\n"
        "        return 'hello ' + name")
    assert "indentation shifted" in result.note


def test_a_shifted_match_that_is_not_unique_is_refused(nested: Path) -> None:
    (nested / "pkg/nested.py").write_text("def a():\n    x = 1\n\n\nclass B:\n    def a():\n        x = 1\n")
    before = snapshot(nested)
    with pytest.raises(EditError, match="not found"):
        edits.replace(nested, NESTED_SCOPE, "pkg/nested.py", "  def a():\n      x = 1", "  def a():\n      x = 2")
    assert snapshot(nested) == before


def test_line_number_prefixes_as_view_shows_them_are_stripped_from_old_and_new(nested: Path) -> None:
    shown = edits.view(nested, "pkg/nested.py", 5, 6).split("\n", 1)[1]
    assert shown == "     5\t    def bye(self):\n     6\t        return 'bye'"
    result = edits.replace(nested, NESTED_SCOPE, "pkg/nested.py", shown, shown.replace("'bye'", "'goodbye'"))
    assert (nested / "pkg/nested.py").read_text() == NESTED.replace("'bye'", "'goodbye'")
    assert "line numbers" in result.note
    edits.replace(nested, NESTED_SCOPE, "pkg/nested.py", "2: def greet(self, name):\n3:     return 'hello ' + name",
                  "2: def greet(self, who):\n3:     return 'hello ' + who")
    assert "def greet(self, who):\n        return 'hello ' + who" in (nested / "pkg/nested.py").read_text()


def test_diff_markers_are_stripped_when_that_makes_a_unique_match(nested: Path) -> None:
    result = edits.replace(nested, NESTED_SCOPE, "pkg/nested.py", "     def bye(self):\n-        return 'bye'",
                           "     def bye(self):\n+        return 'see you'")
    assert (nested / "pkg/nested.py").read_text() == NESTED.replace("'bye'", "'see you'")
    assert "diff markers" in result.note


def test_write_file_rewrites_a_small_file_and_refuses_a_large_one(nested: Path) -> None:
    result = edits.write(nested, NESTED_SCOPE, "pkg/nested.py", "X = 1\n")
    assert (nested / "pkg/nested.py").read_text() == "X = 1\n" and result.action == "write"
    (nested / "pkg/big.py").write_text("x = 1\n" * (edits.WRITE_MAX_LINES + 1))
    with pytest.raises(EditError, match=r"201 lines (?s:.)*replace_text"):
        edits.write(nested, NESTED_SCOPE, "pkg/big.py", "x = 2\n")
    with pytest.raises(EditError, match="would not parse"):
        edits.write(nested, NESTED_SCOPE, "pkg/nested.py", "def (:\n")
    assert (nested / "pkg/nested.py").read_text() == "X = 1\n"
    with pytest.raises(EditError, match="blocked"):
        edits.write(nested, SCOPE, ".github/workflows/ci.yml", "on: pull_request\n")
    with pytest.raises(EditError, match="outside the plan"):
        edits.write(nested, NESTED_SCOPE, "pkg/greet.py", "X = 1\n")
    edits.write(nested, NESTED_SCOPE, "pkg/new.py", "Y = 2\n")
    assert (nested / "pkg/new.py").read_text() == "Y = 2\n"


def test_write_file_never_writes_through_a_link(nested: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("SECRET = 1\n")
    os.symlink(outside, nested / "pkg" / "small.py")
    with pytest.raises(EditError, match="refused"):
        edits.write(nested, NESTED_SCOPE, "pkg/small.py", "X = 1\n")
    assert outside.read_text() == "SECRET = 1\n"


def test_a_missing_path_is_answered_with_the_closest_existing_ones(nested: Path) -> None:
    assert "Did you mean: pkg/nested.py," in edits.view(nested, "pkg/nestd.py")
    with pytest.raises(EditError, match=r"Did you mean: pkg/greet\.py"):
        edits.replace(nested, Scope(allowed=("pkg/greeter.py",)), "pkg/greeter.py", "a", "b")
    assert "Did you mean" not in edits.view(nested, "zzzzzz/qqqq.txt")
