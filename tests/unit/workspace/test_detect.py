"""The test command a work tree suggests, for projects that are not pytest ones too, read without following links."""

from __future__ import annotations

import json
from pathlib import Path

from bot.workspace.detect import MAX_MARKER_BYTES, detect_test_command

NPM_INIT_PLACEHOLDER = 'echo "Error: no test specified" && exit 1'  # what `npm init -y` writes


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def detect(root: Path, files: dict[str, str]) -> str:
    return detect_test_command(write(root, files))


def test_npm_test_only_for_a_real_test_script(tmp_path: Path) -> None:
    assert detect(tmp_path / "a", {"package.json": json.dumps({"scripts": {"test": "vitest run"}})}) == "npm test"
    assert detect(tmp_path / "b", {"package.json": json.dumps({"scripts": {"test": NPM_INIT_PLACEHOLDER}})}) == ""


def test_node_test_files_without_a_test_script_run_node_test(tmp_path: Path) -> None:
    placeholder = json.dumps({"scripts": {"test": NPM_INIT_PLACEHOLDER}})
    assert detect(tmp_path / "a", {"package.json": placeholder, "test/math.test.mjs": ""}) == "node --test"
    assert detect(tmp_path / "b", {"package.json": '{"name": "x"}', "test/index.js": ""}) == "node --test"
    assert detect(tmp_path / "c", {"sum.test.js": ""}) == "node --test"
    assert detect(tmp_path / "d", {"lib.mjs": "", "test/README.md": ""}) == ""


def test_make_only_with_a_test_or_check_target_and_after_the_language_markers(tmp_path: Path) -> None:
    assert detect(tmp_path / "a", {"Makefile": "all:\n\tcc -o x x.c\n\ntest: all\n\t./x --self-test\n"}) == "make test"
    assert detect(tmp_path / "b", {"Makefile": "build:\n\tcc x.c\ncheck:\n\t./run-checks\n"}) == "make check"
    assert detect(tmp_path / "c", {"GNUmakefile": ".PHONY: test check\nunit test: build\n\t./t\n"}) == "make test"
    no_target = ".PHONY: test\nbuild:\n\tcc x.c\ntesting:\n\t./t\ntest := yes\n\ttest:\n"
    assert detect(tmp_path / "d", {"Makefile": no_target}) == ""
    for marker, command in (("go.mod", "go test ./..."), ("Cargo.toml", "cargo test"), ("pom.xml", "mvn -q test")):
        assert detect(tmp_path / marker, {"Makefile": "test:\n\t./t\n", marker: ""}) == command
    python_first = {"Makefile": "test:\n\t./t\n", "pytest.ini": "[pytest]\n",
                    "package.json": '{"scripts": {"test": "jest"}}'}
    assert detect(tmp_path / "e", python_first) == "python -m pytest -q"


def test_linked_or_oversized_markers_do_not_count(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside", {"Makefile": "test:\n\t./t\n", "package.json": '{"scripts": {"test": "x"}}',
                                           "test/a.test.js": ""})
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("Makefile", "package.json", "test"):
        (tree / name).symlink_to(outside / name)
    assert detect_test_command(tree) == ""
    big = write(tmp_path / "big", {"Makefile": "x = 1\n" * (MAX_MARKER_BYTES // 6) + "test:\n\t./t\n"})
    assert detect_test_command(big) == ""
