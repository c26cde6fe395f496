"""`bench/replay_bench/repos.py`: checkouts from a materialized release, and instances that cannot run there
(real git, a repository made in the test)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from replay_bench.repos import CannotRun, checkout, git

GOLD = """diff --git a/pkg/m.py b/pkg/m.py
--- a/pkg/m.py
+++ b/pkg/m.py
@@ -1,2 +1,2 @@
 def f(x):
-    return x + 1
+    return x + 2
"""
TESTS = """diff --git a/tests/test_m.py b/tests/test_m.py
new file mode 100644
--- /dev/null
+++ b/tests/test_m.py
@@ -0,0 +1,2 @@
+def test_f():
+    pass
"""


def materialized(tmp_path: Path) -> Path:
    """A `--out` of `bench/materialize.py` with one repository and its commit map."""
    repos = tmp_path / "repos"
    source = repos / "o__r"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "m.py").write_text("def f(x):\n    return x + 1\n")
    (source / "tests").mkdir()
    (source / "tests" / "test_old.py").write_text("def test_old():\n    pass\n")
    git(source, "init", "-q", "-b", "main")
    git(source, "add", "-A")
    git(source, "commit", "-q", "-m", "release")
    sha = git(source, "rev-parse", "HEAD").strip()
    mapping = {"mapped": {"o__r-1": {"commit": sha, "release": "r==1.0"}}, "not_mapped": {"o__r-2": "no sdist"}}
    (repos / "commit-map.json").write_text(json.dumps(mapping))
    return repos


def instance(**changes: object) -> dict[str, object]:
    base = {"instance_id": "o__r-1", "repo": "o/r", "patch": GOLD, "test_patch": TESTS,
            "FAIL_TO_PASS": ["tests/test_m.py::test_f"], "PASS_TO_PASS": ["tests/test_old.py::test_old"]}
    return {**base, **changes}


def test_a_checkout_is_the_release_plus_the_config_with_the_patches_read_not_applied(tmp_path: Path) -> None:
    co = checkout(materialized(tmp_path), tmp_path / "co", instance(), "test_command: pytest\n")
    assert (co.path / ".github" / "issuesmith.yml").read_text() == "test_command: pytest\n"
    assert git(co.path, "status", "--porcelain") == ""
    assert (co.path / "pkg" / "m.py").read_text().endswith("x + 1\n")
    assert [(c.diff.path, c.old, c.new) for c in co.gold] == [
        ("pkg/m.py", "def f(x):\n    return x + 1\n", "def f(x):\n    return x + 2\n")]
    assert [(c.diff.path, c.old) for c in co.tests] == [("tests/test_m.py", None)]
    assert co.release == "r==1.0"


@pytest.mark.parametrize(("changes", "reason"), [
    ({"instance_id": "o__r-2"}, "no source release: no sdist"),
    ({"patch": GOLD.replace("x + 1", "x + 3")}, "the gold patch does not apply"),
    ({"test_patch": "diff --git a/t.bin b/t.bin\nGIT binary patch\n"}, "the test patch changes a binary file"),
    ({"PASS_TO_PASS": ["tests/test_gone.py::test_x"]}, "the release lacks the test files tests/test_gone.py"),
])
def test_instances_that_cannot_run_here_say_why(tmp_path: Path, changes: dict[str, object], reason: str) -> None:
    with pytest.raises(CannotRun, match=reason):
        checkout(materialized(tmp_path), tmp_path / "co", instance(**changes), "")


def test_a_release_with_crlf_line_endings_takes_the_patches_ignoring_whitespace(tmp_path: Path) -> None:
    repos = materialized(tmp_path)
    source = repos / "o__r"
    (source / "pkg" / "m.py").write_bytes(b"def f(x):\r\n    return x + 1\r\n")
    git(source, "commit", "-qam", "crlf")
    mapping = json.loads((repos / "commit-map.json").read_text())
    mapping["mapped"]["o__r-1"]["commit"] = git(source, "rev-parse", "HEAD").strip()
    (repos / "commit-map.json").write_text(json.dumps(mapping))
    co = checkout(repos, tmp_path / "co", instance(), "")
    assert co.apply_flags == ("--ignore-whitespace",)
    assert co.gold[0].new == "def f(x):\r\n    return x + 2\n"
