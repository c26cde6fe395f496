"""Failing test ids as pytest takes them back: the module found in the tree, links not followed."""

from __future__ import annotations

from pathlib import Path

from bot.sandboxes.nodeids import pytest_node_id


def test_junit_ids_become_node_ids_by_the_files_of_the_tree(tmp_path: Path) -> None:
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    (tmp_path / "tests" / "unit" / "test_a.py").write_text("")
    (tmp_path / "test_top.py").write_text("")
    assert pytest_node_id("tests.unit.test_a::test_x[1-2]", tmp_path) == "tests/unit/test_a.py::test_x[1-2]"
    assert pytest_node_id("tests.unit.test_a.TestK::test_y", tmp_path) == "tests/unit/test_a.py::TestK::test_y"
    assert pytest_node_id("test_top::test_z", tmp_path) == "test_top.py::test_z"
    assert pytest_node_id("tests.missing::test_z", tmp_path) == "tests.missing::test_z"
    assert pytest_node_id("not a junit id", tmp_path) == "not a junit id"


def test_a_linked_module_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "test_l.py").symlink_to(outside)
    assert pytest_node_id("test_l::test_a", tree) == "test_l::test_a"
    assert pytest_node_id("..::test_a", tree) == "..::test_a"
