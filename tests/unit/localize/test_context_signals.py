"""Each ranking signal of the context builder, on small made-up repositories."""

from __future__ import annotations

from pathlib import Path

from bot.localize.cache import load_index
from bot.localize.context import build_context, explain, rank_files
from bot.localize.issue import extract
from bot.localize.parsing import parse_file
from bot.localize.scoring import (
    bm25_signal,
    definition_signal,
    graph_signal,
    kind_of,
    module_signal,
    name_signal,
    path_signal,
)
from tests.gitrepos import make_repo

LIBRARY = {
    "pkg/__init__.py": "from pkg.core import Engine\n",
    "pkg/core.py": "from pkg.helpers import clamp\n\n\nclass Engine:\n    def start(self, speed):\n"
                   "        return clamp(speed)\n\n    def stop(self):\n        return 0\n",
    "pkg/helpers.py": "def clamp(value):\n    return max(0, min(value, 10))\n\n\ndef unrelated():\n    return 1\n",
    "pkg/other/core.py": "def idle():\n    return None\n",
    "pkg/report.py": "from pkg.core import Engine\n\n\ndef summary(engine: Engine):\n    return 'fuel gauge reading'\n",
    "pkg/rules/R042.py": "def check(line):\n    return line\n",
    "tests/test_core.py": "from pkg.core import Engine\n\n\ndef test_start():\n    assert Engine().start(3) == 3\n",
    "docs/engine.md": "The Engine starts and stops.\n",
}


def signal_paths(index_paths: list[str], values: dict[int, float]) -> dict[str, float]:
    return {index_paths[number]: value for number, value in values.items()}


def test_issue_mentions_are_extracted() -> None:
    mentions = extract("Engine.start fails in `pkg/core.py`\n```\nfrom pkg.helpers import clamp\n"
                       'File "/venv/site-packages/pkg/helpers.py", line 2, in clamp\n```\nthe version is 1.0')
    assert [m.fragment for m in mentions.paths] == ["/venv/site-packages/pkg/helpers.py", "pkg/core.py"]
    assert mentions.paths[0].in_traceback and mentions.paths[0].function == "clamp"
    assert "pkg.helpers.clamp" in mentions.dotted and ("Engine", "start") in mentions.qualified
    assert mentions.identifiers["Engine"] == 2.0  # code-like and in the title
    assert mentions.identifiers["clamp"] == 1.0
    assert "version" not in mentions.identifiers  # bug-report boilerplate
    assert mentions.query["engine"] == 2  # title terms count twice


def test_path_signal_prefers_the_exact_file_and_the_innermost_frame(tmp_path: Path) -> None:
    index = load_index(make_repo(tmp_path, LIBRARY), None)
    named = signal_paths(index.paths, path_signal(index, extract("see pkg/other/core.py")))
    assert named == {"pkg/other/core.py": 1.0}
    ambiguous = signal_paths(index.paths, path_signal(index, extract("see core.py")))
    assert ambiguous == {"pkg/core.py": 0.5, "pkg/other/core.py": 0.5}
    trace = ('Traceback:\n  File "/usr/lib/site-packages/pkg/core.py", line 6, in start\n'
             '  File "/usr/lib/site-packages/pkg/helpers.py", line 2, in clamp\nValueError')
    frames = signal_paths(index.paths, path_signal(index, extract(trace)))
    assert frames["pkg/helpers.py"] == 0.5 and 0 < frames["pkg/core.py"] < 0.5


def test_module_signal_resolves_dotted_names(tmp_path: Path) -> None:
    index = load_index(make_repo(tmp_path, LIBRARY), None)
    scores = signal_paths(index.paths, module_signal(index, extract("calling pkg.helpers.clamp(11) and pkg.Engine")))
    assert scores["pkg/helpers.py"] == 1.0
    assert scores["pkg/__init__.py"] < 0.5  # the package root says little


def test_name_signal_matches_file_names(tmp_path: Path) -> None:
    index = load_index(make_repo(tmp_path, LIBRARY), None)
    assert signal_paths(index.paths, name_signal(index, extract("Rule R042 misfires"))) == {"pkg/rules/R042.py": 1.0}


def test_definition_signal_favours_rare_and_qualified_names(tmp_path: Path) -> None:
    files = {**LIBRARY, "pkg/alt.py": "class Other:\n    def start(self):\n        pass\n"}
    index = load_index(make_repo(tmp_path, files), None)
    scores = signal_paths(index.paths, definition_signal(index, extract("x\nCalling `Engine.start` misbehaves")))
    assert scores["pkg/core.py"] > scores["pkg/alt.py"] > 0
    prose = signal_paths(index.paths, definition_signal(index, extract("x\nthe summary is wrong")))
    code = signal_paths(index.paths, definition_signal(index, extract("x\nthe `summary()` is wrong")))
    assert 0 < prose["pkg/report.py"] < code["pkg/report.py"]


def test_graph_signal_follows_calls_and_imports(tmp_path: Path) -> None:
    root = make_repo(tmp_path, LIBRARY)
    index = load_index(root, None)
    mentions = extract("x\n`Engine.start` returns the wrong speed")
    raw = {"path": {}, "module": {}, "name": {}, "definition": definition_signal(index, mentions)}
    scores = signal_paths(index.paths, graph_signal(index, mentions, raw, root))
    assert scores["pkg/helpers.py"] > scores["pkg/report.py"] > 0  # callee of start() beats an importer
    assert "pkg/core.py" not in scores  # seeds get no graph score


def test_bm25_splits_identifiers_and_scales_to_one(tmp_path: Path) -> None:
    index = load_index(make_repo(tmp_path, LIBRARY), None)
    scores = signal_paths(index.paths, bm25_signal(index, extract("the fuel gauge shows no reading")))
    assert max(scores, key=lambda p: scores[p]) == "pkg/report.py" and scores["pkg/report.py"] == 1.0


def test_kinds_and_the_combined_ranking(tmp_path: Path) -> None:
    assert [kind_of(p) for p in ("pkg/core.py", "tests/test_core.py", "docs/engine.md", "a/conftest.py")] == [
        "source", "test", "doc", "test"]
    _, _, ranked = rank_files(make_repo(tmp_path, LIBRARY), "Engine.start is wrong\n`Engine.start(3)` fails", False)
    assert ranked[0].path == "pkg/core.py"
    assert ranked.index(next(r for r in ranked if r.path == "tests/test_core.py")) > 0
    for entry in ranked:
        assert abs(sum(entry.signals.values()) - entry.score) < 1e-3
        assert len({"path", "module", "name"} & set(entry.signals)) <= 1


def test_tree_sitter_parses_several_languages() -> None:
    go = parse_file("a.go", b'package a\nimport "fmt"\ntype Cart struct{}\nfunc (c Cart) Total() int { return 0 }\n')
    assert [d.name for d in go.definitions] == ["Cart", "Total"] and go.imports == ("fmt",)
    ts = parse_file("a.ts", b"import { x } from './x';\nexport class Cart { total(): number { return 0 } }\n")
    assert [(d.name, d.kind, d.parent) for d in ts.definitions] == [("Cart", "class", ""),
                                                                     ("total", "method", "Cart")]
    assert ts.imports == ("./x",)
    py = parse_file("pkg/sub/m.py", b"from ..base import A, B as C\nimport os.path\nclass K:\n    def f(self): pass\n")
    assert py.imports == ("pkg.base", "pkg.base.A", "pkg.base.B", "os.path")
    assert [(d.name, d.kind, d.parent, d.start, d.end) for d in py.definitions] == [
        ("K", "class", "", 3, 4), ("f", "method", "K", 4, 4)]


def test_context_excerpts_the_mentioned_definition_and_explains(tmp_path: Path) -> None:
    fillers = "\n".join(f"def filler_{n}():\n    return {n}\n" for n in range(400))
    long_file = fillers + "\ndef target_fn():\n    return 1\n"
    root = make_repo(tmp_path, {**LIBRARY, "pkg/big.py": long_file})
    context = build_context(root, "x\n`target_fn` returns 1", budget_tokens=1500, cache_dir=False)
    path, excerpt = context.excerpts[0]
    assert path == "pkg/big.py" and "def target_fn():" in excerpt and "filler_1()" not in excerpt
    assert context.tokens <= 1500
    report = explain(context, 3)
    assert "pkg/big.py" in report and "definition=" in report
