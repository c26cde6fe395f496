"""Failure patterns where the right file lost its place (issue 18), each on a small made-up repository.

Each test ranked the wrong file first (or let a wrong file in) before its fix.
"""

from __future__ import annotations

from pathlib import Path

from bot.localize.cache import load_index
from bot.localize.context import rank_files
from bot.localize.issue import extract
from bot.localize.scoring import name_signal, path_signal
from tests.gitrepos import make_repo


def top(root: Path, issue: str, count: int = 1) -> list[str]:
    _, _, ranked = rank_files(root, issue, False)
    return [entry.path for entry in ranked[:count]]


def test_a_fence_language_tag_is_not_a_file_name(tmp_path: Path) -> None:
    files = {
        "lib/__init__.py": "",
        "lib/python.py": "def interpreter():\n    return 'python'\n",
        "lib/widget.py": "class Widget:\n    def resize(self, size):\n        return size\n",
        "lib/panel.py": "class Panel:\n    def resize(self, size):\n        return size\n",
    }
    issue = "Resizing misbehaves\n\n```python\nw = Widget()\nw.resize(-1)\n```\n"
    assert "python" not in extract(issue).identifiers
    index = load_index(make_repo(tmp_path, files), None)
    assert name_signal(index, extract(issue)) == {}
    assert top(tmp_path, issue) == ["lib/widget.py"]


def test_the_projects_own_name_is_not_a_file_name(tmp_path: Path) -> None:
    files = {
        "django/__init__.py": "",
        "django/template/__init__.py": "",
        "django/template/backends/__init__.py": "",
        "django/template/backends/django.py": "class DjangoTemplates:\n    def render(self):\n        pass\n",
        "django/forms/__init__.py": "",
        "django/forms/fields.py": "class DecimalField:\n    def clean_value(self, value):\n        return value\n",
    }
    issue = ("DecimalField rejects a valid value\n\n```python\nimport django\ndjango.setup()\n"
             "DecimalField().clean_value('1.0')\n```\n")
    root = make_repo(tmp_path, files)
    index = load_index(root, None)
    assert not [index.paths[n] for n in name_signal(index, extract(issue))]
    assert top(root, issue) == ["django/forms/fields.py"]


def test_a_reproducers_imports_do_not_outrank_what_it_uses(tmp_path: Path) -> None:
    files = {
        "lib/mpl/__init__.py": "",
        "lib/mpl/pyplot.py": "def subplots():\n    return None\n\n\ndef show():\n    return None\n",
        "lib/mpl/legend.py": "class Legend:\n    def set_draggable(self, state):\n        self.state = state\n",
        "lib/mpl/axes.py": "class Axes:\n    def plot(self):\n        pass\n",
    }
    issue = ("Legend cannot be made draggable\n\n```python\nimport mpl.pyplot as plt\nfig, ax = plt.subplots()\n"
             "leg = ax.make_legend()\nleg.set_draggable(True)\nplt.show()\n```\n")
    assert "mpl.pyplot" in extract(issue).imported
    assert top(make_repo(tmp_path, files), issue) == ["lib/mpl/legend.py"]


def test_a_src_layout_package_init_is_a_package_root(tmp_path: Path) -> None:
    files = {
        "src/pkg/__init__.py": "from pkg.core import Engine\n\n__all__ = ['Engine']\n",
        "src/pkg/core.py": "class Engine:\n    def start(self):\n        return 1\n"
                           + "".join(f"\n    def step_{n}(self, x):\n        return x * {n}\n" for n in range(30)),
        "src/pkg/helpers.py": "def clamp(value):\n    return value\n",
    }
    assert top(make_repo(tmp_path, files), "pkg.Engine crashes on start\n\nCalling pkg.Engine fails.") == [
        "src/pkg/core.py"]


def test_user_script_and_site_packages_frames_do_not_match_by_basename(tmp_path: Path) -> None:
    files = {
        "manage.py": "import sys\n",
        "pkg/__init__.py": "",
        "pkg/utils.py": "def get_netrc_auth(url):\n    return None\n",
        "pkg/sessions.py": "from pkg.utils import get_netrc_auth\n\n\ndef merge_environment_settings(url):\n"
                           "    return get_netrc_auth(url)\n",
    }
    issue = ('Settings merge crashes\n\nTraceback (most recent call last):\n'
             '  File "/home/me/project/manage.py", line 22, in <module>\n'
             '  File "/home/me/project/shop/views.py", line 5, in index\n'
             '  File "/usr/lib/python3/site-packages/requests/utils.py", line 200, in get_netrc_auth\n'
             'KeyError: HOME\n')
    index = load_index(make_repo(tmp_path, files), None)
    assert path_signal(index, extract(issue)) == {}
    inside = ('Traceback (most recent call last):\n'
              '  File "/usr/lib/python3/site-packages/pkg/utils.py", line 2, in get_netrc_auth\n')
    assert [index.paths[n] for n in path_signal(index, extract(inside))] == ["pkg/utils.py"]


def test_a_common_word_names_its_file_weakly(tmp_path: Path) -> None:
    users = {f"pkg/mod{n}.py": f"def step{n}(path):\n    return path\n" for n in range(8)}
    files = {
        **users,
        "pkg/__init__.py": "",
        "pkg/path.py": "def join(head, tail):\n    return head + tail\n",
        "pkg/config.py": "def load_config(path):\n    return open(path)\n"
                         + "".join(f"\n\ndef option_{n}(settings):\n    return settings[{n}]\n" for n in range(30)),
    }
    issue = "Config is not found\n\nPassing a `path` to `load_config` fails when the directory is relative."
    root = make_repo(tmp_path, files)
    index = load_index(root, None)
    named = {index.paths[n]: value for n, value in name_signal(index, extract(issue)).items()}
    assert 0 < named["pkg/path.py"] <= 0.5  # a word most files use names its file weakly ...
    rare = {index.paths[n]: value for n, value in name_signal(index, extract("the `config` is wrong")).items()}
    assert rare["pkg/config.py"] == 1.0  # ... a rare one fully
    assert top(root, issue) == ["pkg/config.py"]


def test_a_large_file_keeps_its_definitions(tmp_path: Path) -> None:
    filler = "".join(f"def helper_{n}(x):\n    return x + {n}\n\n\n" for n in range(12_000))
    files = {
        "pkg/__init__.py": "",
        "pkg/_axes.py": filler + "class Axes:\n    def histogram_stack(self, data):\n        return data\n",
        "pkg/other.py": "def unrelated():\n    return 'histogram'\n",
    }
    assert len(files["pkg/_axes.py"]) > 300_000
    assert top(make_repo(tmp_path, files), "histogram_stack ignores weights\n\n`Axes.histogram_stack` drops them.") == [
        "pkg/_axes.py"]


def test_vendored_and_minified_files_stay_below_a_python_issues_files(tmp_path: Path) -> None:
    sources = {f"pkg/part{n}.py": f"def part{n}():\n    return {n}\n" for n in range(6)}
    words = "select option value dropdown widget render "
    files = {
        **sources,
        "pkg/__init__.py": "",
        "pkg/widgets.py": "class Select:\n    def render_option(self, value):\n        return value\n",
        "pkg/static/select2.js": ("function selectOption(value) { return dropdownWidget(value); }\n" * 40
                                  + f"// {words * 50}\n"),
        "pkg/static/bundle.min.js": "var a=" + ";".join(f"selectOption{n}(value)" for n in range(400)) + "\n",
        "pkg/_speedups.c": "int select_option_value(int value) { return value; }\n" * 20,
    }
    issue = "Select widget drops the selected option value\n\nThe dropdown renders every option value unselected."
    ranked = top(make_repo(tmp_path, files), issue, 5)
    assert ranked[0] == "pkg/widgets.py"
    assert "pkg/static/bundle.min.js" not in ranked
    about_c = top(tmp_path, "select_option_value overflows\n\nIn `_speedups.c` the value wraps.")
    assert about_c == ["pkg/_speedups.c"]


def test_a_long_tracebacks_outer_frames_do_not_crowd_out_the_named_code(tmp_path: Path) -> None:
    chain = ["cli", "runner", "loader", "walker", "reader"]
    files = {"pkg/__init__.py": ""}
    for position, name in enumerate(chain):
        callee = chain[position + 1] if position + 1 < len(chain) else ""
        body = f"    return {callee}_step(x)\n" if callee else "    raise ValueError(x)\n"
        imports = f"from pkg.{callee} import {callee}_step\n\n\n" if callee else ""
        files[f"pkg/{name}.py"] = f"{imports}def {name}_step(x):\n{body}"
    files["pkg/headers.py"] = "class HeaderParser:\n    def split_fields(self, line):\n        return line.split(';')\n"
    frames = "".join(f'  File "/home/me/src/pkg/{name}.py", line 3, in {name}_step\n' for name in chain)
    issue = ("Reading a file with an empty header fails\n\n`HeaderParser.split_fields` returns an empty field "
             "for a trailing `;`, and the reader then raises:\n\nTraceback (most recent call last):\n"
             + frames + "ValueError: ''\n")
    ranked = top(make_repo(tmp_path, files), issue, 3)
    assert "pkg/headers.py" in ranked
    assert ranked[0] == "pkg/headers.py" or ranked[0] == "pkg/reader.py"  # the named code, or the innermost frame


def test_a_traceback_frames_source_line_is_not_a_mention() -> None:
    issue = ('to_json fails\n\nTraceback (most recent call last):\n'
             '  File "/usr/lib/python3/dist-packages/pkg/values.py", line 348, in convert\n'
             '    return wrap(text, kind=pkg.valuerep.IS)\n'
             'TypeError: no\n\nI call `Dataset.to_json` here.')
    assert extract(issue).dotted == ["Dataset.to_json"]
