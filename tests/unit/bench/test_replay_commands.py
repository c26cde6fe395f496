"""`bench/replay_bench/commands.py`: the setup and test commands derived from an instance."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from replay_bench import commands
from replay_bench.commands import extras, junit_id, setup_command

from bot.sandboxes.selector import narrowed, narrowing
from bot.sandboxes.testresults import is_plain_pytest, with_junit


def test_the_test_files_come_from_the_ids_once_each_in_order() -> None:
    ids = ["tests/test_b.py::test_x", "tests/test_a.py::T::test_y[1 2]", "tests/test_b.py::test_z", "not a path"]
    assert commands.test_files(ids) == ["tests/test_b.py", "tests/test_a.py"]


def test_the_test_command_is_plain_pytest_so_the_bot_can_narrow_it() -> None:
    command = commands.test_command(["tests/test_a.py", "tests/test_b.py"])
    assert is_plain_pytest(command)
    assert is_plain_pytest(with_junit(command, Path("/tmp/j.xml")))
    words = shlex.split(command)
    assert "testpaths=tests/test_a.py tests/test_b.py" in words  # one -o argument: read only without paths
    assert words[words.index("testpaths=tests/test_a.py tests/test_b.py") - 1] == "-o"
    assert shlex.split(narrowed(command, narrowing(command, "tests/test_a.py")))[-1] == "tests/test_a.py"


def test_no_test_file_no_command() -> None:
    with pytest.raises(ValueError, match="no test file"):
        commands.test_command([])


def test_the_setup_installs_pytest_the_repositorys_extras_and_the_package_editable() -> None:
    command = setup_command("pvlib/pvlib-python", ["test"])
    words = shlex.split(command.split("&&")[-1])
    assert words[-2:] == ["-e", ".[test]"]
    assert "numpy<2" in words and any(w.startswith("pytest") for w in words)
    assert shlex.split(setup_command("unknown/repo", []).split("&&")[-1])[-2:] == ["-e", "."]
    assert "setuptools<70" in shlex.split(command.split("&&")[1])  # pkg_resources, which old conftests import


@pytest.mark.parametrize(("name", "text", "found"), [
    ("setup.py", "extras_require={'tests': ['pytest'], 'docs': []}", ["tests"]),
    ("setup.cfg", "[options.extras_require]\ntest =\n    pytest\n", ["test"]),
    ("pyproject.toml", "[project.optional-dependencies]\ntesting = [\"pytest\"]\n", ["testing"]),
    ("setup.py", "install_requires=['click']", []),
])
def test_the_test_extras_are_read_from_the_package_metadata(tmp_path: Path, name: str, text: str,
                                                            found: list[str]) -> None:
    (tmp_path / name).write_text(text)
    assert extras(tmp_path) == found


@pytest.mark.parametrize(("node_id", "junit"), [
    ("tests/test_x.py::test_y", "tests.test_x::test_y"),
    ("pkg/tests/test_x.py::TestC::test_y[a b]", "pkg.tests.test_x.TestC::test_y[a b]"),
    ("bare_name", "bare_name"),
])
def test_a_node_id_becomes_the_junit_id_the_run_reports(node_id: str, junit: str) -> None:
    assert junit_id(node_id) == junit
