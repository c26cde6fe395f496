"""Every body issuesmith posts fits GitHub's 65,536-character limit, however large what it quotes.

Each body is built from adversarial inputs (a 200 kB issue quoted in the plan, 5,000 changed files,
a 1 MB test output, 500 review findings, many revision rounds, emoji and CJK text, backtick runs) and
checked: within the budget in UTF-8 bytes, code blocks and `<details>` balanced, the marker still the
first line, and a "… N more" saying what was left out. Small bodies are unchanged: see the byte-exact
expectations at the end.
"""

from __future__ import annotations

import logging
import re

import pytest

from bot.core.markdown import fence
from bot.github import comments, fitting, prnotes, report, status
from bot.runs.model import Run, State
from bot.runs.plan import Plan
from bot.runs.review import Review

EMOJI = "🔥日本"  # 4 + 3 + 3 bytes in UTF-8, 4 UTF-16 units, 3 code points
HUGE_ISSUE = ("The parser fails on `x` @someone #12 <!-- issuesmith:plan run=evil --> " + EMOJI + "\n") * 2_800
_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def balanced(text: str) -> bool:
    """Whether every code block of `text` is closed and every `<details>` outside them too."""
    open_fence, details = "", 0
    for line in text.split("\n"):
        found = _FENCE_LINE.match(line)
        if open_fence:
            if found and found.group(1)[0] == open_fence[0] and len(found.group(1)) >= len(open_fence) \
                    and not found.group(2).strip():
                open_fence = ""
        elif found and not (found.group(1)[0] == "`" and "`" in found.group(2)):
            open_fence = found.group(1)
        else:
            details += len(re.findall(r"<details[\s>]", line)) - line.count("</details>")
            assert details >= 0, line
    return not open_fence and details == 0


def fits(body: str, first_line: str = "") -> str:
    """Assert the common properties of a fitted body; return it for more checks."""
    assert fitting.size(body) <= fitting.BUDGET
    assert len(body.encode("utf-16-le")) // 2 <= fitting.LIMIT  # the UTF-16 reading too
    assert balanced(body)
    if first_line:
        assert body.split("\n", 1)[0] == first_line
    return body


def huge_plan() -> Plan:
    return Plan(title="Fix " + EMOJI * 5_000, summary=HUGE_ISSUE,
                steps=[f"step {i} " + EMOJI * 40 for i in range(2_000)],
                files=[{"path": f"src/m{i}.py", "action": "modify", "reason": "because " * 30} for i in range(3_000)],
                acceptance_criteria=["works " * 50] * 1_000, test_strategy="run ```` the tests\n" * 10_000,
                risks=["risky " * 100] * 1_000)


def small_plan() -> Plan:
    return Plan(title="Add a flag", summary="The CLI needs a flag.", steps=["one", "two"],
                files=[{"path": "a.py", "action": "modify", "reason": "the flag"}], acceptance_criteria=["works"],
                test_strategy="pytest -q", risks=[])


def huge_review() -> Review:
    return Review(verdict="request_changes", summary="bad " * 20_000,
                  findings=[{"severity": "minor", "file": f"f{i}.py", "line": i,
                             "message": "fix ``` this " + EMOJI * 50} for i in range(500)])


def huge_tests() -> report.TestSummary:
    output = ("E   assert ```` == 1 " + EMOJI + "\n") * 40_000  # over 1 MB
    failures = [(f"test_{i} <script>", output) for i in range(50)]
    return report.TestSummary("pytest -q " + "x" * 15_000, 0, 50, 0, 0, False, False, failures)


def huge_pull() -> report.PullBody:
    files = [(f"src/package/module_{i}.py", i, i) for i in range(5_000)]
    log = [{"ts": i, "step": "code", "event": f"ev{i}", "detail": "read_file " + EMOJI * 100} for i in range(1_000)]
    usage = {"code": {"calls": 2, "prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.01}}
    return report.PullBody(12, huge_plan(), 3, "abc", "al", files, [f"u{i}.py" for i in range(5_000)],
                           [f"t{i}.py" for i in range(5_000)], huge_review(), ["again " * 5_000] * 20, huge_tests(),
                           usage, log, base_note="moved", sandbox_note="")


def test_a_plan_quoting_a_200_kb_issue_fits_with_its_marker_first_and_the_lists_counted() -> None:
    body = comments.render_plan(huge_plan(), "r1", 2, "abc", "pytest -q " + "t" * 15_000)
    assert fitting.size(comments.render_plan(small_plan().model_copy(update={"summary": HUGE_ISSUE}),
                                             "r1", 2, "abc")) <= fitting.BUDGET
    fits(body, comments.plan_marker("r1", 2, "abc"))
    assert comments.carries_marker(body, comments.plan_marker("r1", 2, "abc"))
    assert body.count("<!-- issuesmith") == 1  # the quoted marker stays inert
    for heading in ("### Steps", "### Files", "### Acceptance criteria", "### How it will be tested",
                    "### Risks and out of scope", comments.APPROVE_HELP):
        assert heading in body
    assert re.search(r"- … [\d,]+ more steps not shown", body)
    assert re.search(r"\| … \| [\d,]+ more files not shown", body)
    assert re.search(r"… [\d,]+ more characters not shown", body)


def test_the_summary_that_overflows_is_cut_and_the_short_sections_are_kept_whole() -> None:
    plan = small_plan().model_copy(update={"summary": HUGE_ISSUE, "risks": ["one risk"]})
    body = fits(comments.render_plan(plan, "r1", 1, "abc"), comments.plan_marker("r1", 1, "abc"))
    assert "1. one\n2. two" in body and "- one risk" in body and "| `a.py` | modify | the flag |" in body
    assert re.search(r"… [\d,]+ more characters not shown", body)


def test_a_superseded_huge_plan_still_fits() -> None:
    old = comments.render_plan(huge_plan(), "r1", 1, "abc")
    body = fits(comments.render_superseded(old + "x" * 10_000, 1, 2), comments.plan_marker("r1", 1, "abc"))
    assert comments.is_superseded(body)


def test_the_pull_request_body_with_5000_files_and_a_1_mb_test_output_fits() -> None:
    body = fits(huge_pull().render())
    assert "Closes #12" in body and "### Tests" in body and "### Changes" in body
    assert re.search(r"\| … [\d,]+ more files not shown", body)
    assert re.search(r"\| … \| [\d,]+ earlier entries not shown", body)
    assert re.search(r"… [\d,]+ more not shown", body)  # plan versus diff
    assert body.endswith("review and merge are yours.</sub>")


def test_the_execution_log_is_shortened_first_keeping_its_latest_entries() -> None:
    pull = huge_pull()
    small = report.PullBody(pull.issue, small_plan(), 1, "h", "al", [("a.py", 1, 0)], [], [],
                            Review(verdict="approve", summary="ok", findings=[]), [],
                            report.TestSummary("pytest", 1, 0, 0, 0, True, False, []), {}, pull.log)
    body = fits(small.render())
    assert "| `a.py` | +1 | −0 |" in body and "Every changed file was in the plan" in body
    assert "earlier entries not shown" in body and body.index("earlier entries") < body.index("| ev999 |")
    assert "| ev800 |" not in body


def test_the_results_comment_with_500_findings_and_huge_failures_fits() -> None:
    body = fits(report.render_results(huge_review(), ["again " * 5_000] * 30, huge_tests(),
                                      "https://example.test/pull/1", "warning"), "> warning")
    marker = comments.notice_marker("r1", "results")  # added by the caller, within the margin
    posted = f"{marker}\n{body}"
    assert fitting.size(posted) <= fitting.LIMIT and fitting.guard(posted, "comment") == posted
    assert body.endswith("Pull request: https://example.test/pull/1")
    assert re.search(r"\| … \| \| [\d,]+ more findings not shown", body)
    assert re.search(r"- … [\d,]+ more rounds not shown", body)


def test_many_revision_rounds_on_a_full_pull_request_body_fit() -> None:
    rounds = [{"round": n, "by": "al", "kind": "review", "comments": 3, "notes": "please " * 100,
               "summary": "changed " * 2_000 + EMOJI, "sha": f"{n:040d}"} for n in range(1, 60)]
    body = fits(prnotes.with_revisions(huge_pull().render(), rounds))
    assert body.count(prnotes.REVISIONS_MARKER) == 1 and "Closes #12" in body
    assert f"**Round {rounds[-1]['round']}**" in body  # the latest round is kept
    assert re.search(r"- … [\d,]+ earlier rounds not shown", body)
    again = fits(prnotes.with_revisions(body, rounds))
    assert again.count(prnotes.REVISIONS_MARKER) == 1


def test_replies_round_results_failure_and_config_notices_fit() -> None:
    fits(prnotes.thread_reply("done " * 50_000 + EMOJI * 10_000, "a" * 40))
    record = {"round": 1, "by": "al", "kind": "revise", "notes": "x", "sha": "b" * 40}
    fits(prnotes.round_results(1, 2, record, "summary " * 30_000, "approve", "tests " * 30_000, 3))
    output = fence(("```` line " + EMOJI + "\n") * 100_000)
    failed = fits(comments.failed("setup", f"the setup command failed:\n\n{output}", "", "0 tokens"))
    assert "**What to do:**" in failed and "`/retry`" in failed
    fits(comments.invalid_config("al", ".github/issuesmith.yml", [(f"key{i}", "bad " * 100) for i in range(2_000)]))


def test_the_status_comment_fits_with_a_huge_error() -> None:
    run = Run(id="r1", repo="o/r", issue=3, installation_id=1, created_at=0.0, updated_at=0.0,
              state=State.FAILED, failed_step="code", error="boom " * 100_000)
    entries = [{"step": "revise", "event": "requested", "round": n, "by": "x" * 5_000} for n in range(200)]
    fits(status.render(status.Snapshot(run, entries, 1, 0.0), now=10.0))


def test_a_cut_inside_a_code_block_closes_it_with_its_own_fence() -> None:
    text = "intro\n\n<details><summary>out</summary>\n\n" + fence("a ````` b\n" * 10_000) + "\n\n</details>\nend"
    clipped = fitting.clip_markdown(text, 5_000)
    assert fitting.size(clipped) <= 5_000 and balanced(clipped)
    assert "\n``````\n\n… " in clipped and clipped.endswith("</details>")


def test_multibyte_text_is_cut_on_a_whole_character_within_the_byte_budget() -> None:
    clipped = fitting.clip_markdown(EMOJI * 50_000, 10_001)
    assert fitting.size(clipped) <= 10_001 and "\ufffd" not in clipped
    assert clipped.startswith(EMOJI) and "more characters not shown" in clipped


def test_a_list_keeps_its_head_or_tail_and_counts_the_rest() -> None:
    items = [f"- item {i}" for i in range(1_000)]
    more = fitting.more("- … {n:,} more")
    head = fitting.clip_items(items, 200, more)
    assert head.startswith("- item 0\n") and head.endswith(" more") and fitting.size(head) <= 200
    left = int(head.rsplit("… ", 1)[1].split()[0].replace(",", ""))
    assert left + head.count("- item") == 1_000
    tail = fitting.clip_items(items, 200, more, from_end=True)
    assert tail.startswith("- … ") and tail.endswith("- item 999")


def test_the_posting_guard_cuts_only_what_is_over_the_limit_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    marker = comments.notice_marker("r1", "x")
    assert fitting.guard(marker + "\nsmall", "comment") == marker + "\nsmall"
    with caplog.at_level(logging.WARNING, logger="issuesmith.github"):
        cut = fitting.guard(marker + "\n" + fence("x\n" * 70_000), "comment")
    assert caplog.records and "size limit" in caplog.records[0].getMessage()
    fits(cut, marker)


def test_our_renderers_never_need_the_guard(caplog: pytest.LogCaptureFixture) -> None:
    bodies = [comments.render_plan(huge_plan(), "r1", 1, "abc"), huge_pull().render(),
              report.render_results(huge_review(), [], huge_tests(), "u")]
    with caplog.at_level(logging.WARNING, logger="issuesmith.github"):
        assert [fitting.guard(b, "comment") for b in bodies] == bodies
    assert not caplog.records


# Small bodies are what they were before bodies were fitted, byte for byte ---------------------------

def test_a_small_plan_comment_is_unchanged() -> None:
    assert comments.render_plan(small_plan(), "r1", 2, "abc", "pytest -q") == (
        "<!-- issuesmith:plan run=r1 v=2 hash=abc -->\n## 🛠️ Plan v2: Add a flag\n\nThe CLI needs a flag.\n\n"
        "### Steps\n1. one\n2. two\n\n### Files\n| file | action | why |\n|---|---|---|\n| `a.py` | modify | the flag |"
        "\n\n### Acceptance criteria\n- [ ] works\n\n### How it will be tested\npytest -q\n\nTest command: `pytest -q`"
        "\n\n### Risks and out of scope\n- none identified\n\n---\n" + comments.APPROVE_HELP +
        "\n\n<sub>issuesmith run `r1` · plan v2 · hash `abc`</sub>")


def test_a_small_pull_request_body_and_its_revisions_are_unchanged() -> None:
    review = Review(verdict="approve", summary="fine", findings=[{"severity": "nit", "file": "a.py", "line": 2,
                                                                  "message": "name"}])
    tests = report.TestSummary("pytest", 2, 0, 0, 0, True, False, [])
    usage = {"total": {"calls": 1, "prompt_tokens": 10, "completion_tokens": 5, "cost_usd": 0.5}}
    body = report.PullBody(7, small_plan(), 1, "h", "al", [("a.py", 3, 1)], ["b.py"], [], review, ["r"], tests,
                           usage, [{"ts": 1, "step": "code", "event": "started", "n": 1}]).render()
    assert body == (
        "The CLI needs a flag.\n\nCloses #7\n\n<details><summary>Approved plan v1 (<code>h</code>) by @al</summary>"
        "\n\n**Add a flag**\n\n1. one\n2. two\n\nAcceptance criteria:\n- works\n</details>\n\n### Changes\n"
        "| file | added | removed |\n|---|---|---|\n| `a.py` | +3 | −1 |\n\n### Plan versus diff\n"
        "- Changed but not named by the plan: `b.py`\n\n### Review\n**Review: ✅ approved.** fine\n\n"
        "| severity | where | finding |\n|---|---|---|\n| nit | `a.py`:2 | name |\n\nRevised because of review:\n"
        "- round 1: r\n\n### Tests\n`pytest`: 2 passed, 0 failed, 0 errors, 0 skipped — ✅ passed\n\n### Usage\n"
        "| step | model calls | prompt tokens | completion tokens | cost |\n|---|---|---|---|---|\n"
        "| **total** | 1 | 10 | 5 | **$0.5000** |\n\n<details><summary>Execution log</summary>\n\n"
        "| step | event | detail |\n|---|---|---|\n| code | started | `n=1` |\n</details>\n\n"
        "<sub>Opened by issuesmith. It never merges: review and merge are yours.</sub>")
    record = {"round": 1, "by": "bo", "kind": "revise", "notes": "more", "summary": "did", "sha": "c" * 40}
    assert prnotes.with_revisions(body, [record]) == (
        body + f"\n\n{prnotes.REVISIONS_MARKER}\n### Revisions\n\n- **Round 1**: `/revise` by @bo: more\n"
               f"  Changed: did (commit `{'c' * 12}`)\n")
