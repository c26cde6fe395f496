"""The excerpts follow the budget: more and longer ones when it is big, fewer and tighter when small."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from bot.localize.context import build_context
from bot.localize.render import ExcerptPlan


def make_repo(root: Path) -> Path:
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    filler = "".join(f"def helper_{n}(value):\n    return value + {n}  # unrelated arithmetic\n\n" for n in range(60))
    for number in range(16):
        body = (f"def gauge_reading_{number}(sensor):\n    \"\"\"Read the fuel gauge sensor.\"\"\"\n"
                f"    level = sensor.fuel_level() * {number}\n    return level\n\n")
        (root / "pkg").mkdir(exist_ok=True)
        (root / f"pkg/gauge{number}.py").write_text(filler + body + filler)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one"], cwd=root,
                   check=True)
    return root


def test_a_bigger_budget_shows_more_files_and_never_goes_over(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r")
    issue = "The fuel gauge sensor reading is wrong: `gauge_reading_3` and `fuel_level`"
    shown = {}
    for budget in (2_000, 4_000, 8_000, 12_000, 16_000):
        context = build_context(root, issue, budget, cache_dir=False)
        assert context.tokens <= budget
        shown[budget] = len(context.excerpts)
        assert context.excerpts[0][0] == "pkg/gauge3.py"
        assert "gauge_reading_3" in context.excerpts[0][1]  # the named definition is in the window
    assert shown[2_000] < shown[4_000] < shown[8_000] < shown[12_000] <= shown[16_000]


def test_plan_scales_with_the_budget() -> None:
    small, default, large = (ExcerptPlan.for_budget(b) for b in (3_000, 9_000, 12_000))
    assert small.files < default.files < large.files
    assert small.longest < default.longest < large.longest
    assert small.context_lines < default.context_lines < large.context_lines


def test_line_weights_count_the_query_terms_of_each_line_as_terms_does() -> None:
    from bot.localize.render import line_weights
    from bot.localize.text import terms

    rng = random.Random(7)
    vocabulary = ["parseHTTPResponse", "http_code", "self", "Engine", "run", "the", "x1", "café", "ÄÖ", "tokenCache"]
    lines = [" ".join(rng.choice(vocabulary) + rng.choice(["", "(", ".", "_v2"]) for _ in range(rng.randrange(9)))
             for _ in range(300)]
    query = {"http", "response", "code", "engine", "token", "cache", "run", "v2"}
    assert line_weights(lines, query) == [float(len(set(terms(line)) & query)) for line in lines]
    assert any(line_weights(lines, query))
    assert line_weights(lines, {"absent"}) == [0.0] * len(lines)
