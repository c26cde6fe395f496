"""The setup and test commands of an instance, derived from it (its repository, its tests) as SWE-bench's own
harness derives them: install the package with its test extras into a virtualenv, then run pytest on the
test files that hold the FAIL_TO_PASS and PASS_TO_PASS tests.

Why files, not the test ids: the FAIL_TO_PASS tests are new in the test patch, so on the base tree their ids
do not exist and pytest stops with "not found" (exit 4) before running anything; the base run would then
have no counts and compare nothing. Files run on both trees. The files go in through pytest's `testpaths`
(`-o testpaths=...`), which pytest reads only when no path is given: so the bot's narrowing (which appends
test ids or files: the reproduction run, the Coder's `run_tests`) really narrows. Each test's outcome is
then read from the run, as SWE-bench reads it from the log.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

VENV = "~/venv"
PYTEST = "pytest>=7.4,<8"
SETUPTOOLS = "setuptools<70"  # still ships pkg_resources, which conftests and setup.py files of that time import
# Test requirements per repository that its package metadata does not declare (as SWE-bench's specs list
# them per repository), and pins that keep releases of 2019–2023 importable on today's Python 3.11.
EXTRA_REQUIREMENTS = {
    "sqlfluff/sqlfluff": ("hypothesis",),
    "marshmallow-code/marshmallow": ("pytz", "simplejson", "python-dateutil"),
    "pvlib/pvlib-python": ("numpy<2", "pandas<2", "scipy<1.12", "requests-mock", "pytest-mock", "pytest-timeout",
                           "pytest-rerunfailures", "pytest-remotedata"),
    "pylint-dev/astroid": ("typing_extensions",),
    "pyvista/pyvista": ("numpy<2", "vtk<9.3", "pytest-cov", "imageio", "matplotlib<3.9", "pooch", "scooby"),
    "pydicom/pydicom": ("numpy<2",),
}
TEST_EXTRAS = ("test", "tests", "testing")


def test_files(ids: list[str]) -> list[str]:
    """The test files that hold the tests named by `ids` (`path.py::...`), in first-seen order."""
    files = [test_id.split("::", 1)[0] for test_id in ids]
    return list(dict.fromkeys(f for f in files if f.endswith(".py")))


def test_command(files: list[str]) -> str:
    """pytest in the setup's virtualenv on `files`, given through `testpaths` (see the module)."""
    if not files:
        raise ValueError("the instance names no test file")
    return f"{VENV}/bin/python -m pytest -q -o {shlex.quote('testpaths=' + ' '.join(files))}"


def extras(tree: Path) -> list[str]:
    """The package's test extras (`test`, `tests`, `testing`) that its setup.py / setup.cfg / pyproject.toml names."""
    text = "\n".join(p.read_text(errors="replace") for name in ("setup.py", "setup.cfg", "pyproject.toml")
                     if (p := tree / name).is_file())
    return [name for name in TEST_EXTRAS if re.search(rf"""(^|["'\s]){name}(["']?\s*[:=]|["']\s*,)""", text, re.M)]


def setup_command(repo: str, extra_names: list[str]) -> str:
    """A virtualenv in HOME with pytest, the repository's extra test requirements, and the package (editable)."""
    target = "." + (f"[{','.join(extra_names)}]" if extra_names else "")
    wanted = [PYTEST, *EXTRA_REQUIREMENTS.get(repo, ()), "-e", target]
    quoted = " ".join(shlex.quote(word) for word in wanted)
    return (f"python3 -m venv {VENV} && {VENV}/bin/pip install -q --disable-pip-version-check -U pip "
            f"{shlex.quote(SETUPTOOLS)} wheel && {VENV}/bin/pip install -q --disable-pip-version-check {quoted}")


def junit_id(node_id: str) -> str:
    """A pytest node id (`a/b/test_x.py::TestC::test_y[p]`) as the JUnit id the run reports
    (`a.b.test_x.TestC::test_y[p]`)."""
    path, sep, rest = node_id.partition("::")
    if not sep:
        return node_id
    parts = rest.split("::")
    module = path.removesuffix(".py").replace("/", ".")
    return "::".join([".".join([module, *parts[:-1]]), parts[-1]])
