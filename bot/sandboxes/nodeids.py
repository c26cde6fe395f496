"""Failing test ids in the form pytest accepts back (`path/test_x.py::Class::test`), for the Coder's `run_tests`.

A JUnit report names a pytest test `tests.test_x.TestClass::test_y` (its dotted class name, then
the test): which dots are folders, which the module and which classes is read off the tree — the
longest dotted prefix that is a `.py` file of the tree (checked without following links) is the
module. An id that matches no file is returned unchanged.
"""

from __future__ import annotations

from pathlib import Path

from bot.core import treefiles


def pytest_node_id(test_id: str, tree: Path) -> str:
    """`test_id` (JUnit's `classname::name`) as a pytest node id, when its module is a file of `tree`."""
    classname, sep, name = test_id.partition("::")
    if not sep or not classname:
        return test_id
    parts = classname.split(".")
    for cut in range(len(parts), 0, -1):
        path = "/".join(parts[:cut]) + ".py"
        if _is_file(tree, path):
            return "::".join([path, *parts[cut:], name])
    return test_id


def _is_file(tree: Path, path: str) -> bool:
    try:
        return treefiles.kind(tree, path) == "file"
    except (treefiles.TreeFileError, OSError):
        return False
