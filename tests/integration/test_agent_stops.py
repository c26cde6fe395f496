"""How an agent's run ends when it gives up, loops, or its prompt is cut by the server: what the issue is told."""

from __future__ import annotations

from bot.runs.model import State
from standins.openai import Reply
from tests.world import CODER, FIX, REPO, SAMPLE_PLAN, World


def failure_notice(world: World, step: str) -> str:
    return next(c.body for c in world.bot_comments() if f"stopped at the **{step}** step" in c.body)


def plan_and_approve(world: World, body: str | None = None) -> None:
    world.new_issue(**({"body": body} if body else {}))
    world.openai.script(Reply.json(SAMPLE_PLAN), match="Planner of issuesmith")  # usage: the stand-in counts
    world.label()
    world.drain()
    world.say("/approve", by="carol")
    world.drain()


def test_a_coder_giving_up_fails_the_run_quoting_its_reason_inertly_and_keeping_its_change(world: World) -> None:
    reason = "The plan says to keep @alice's <!-- issuesmith:x --> API, but #1 removed it."
    world.openai.script(Reply.tool_calls([FIX]), Reply.tool_calls([("give_up", {"reason": reason})]), match=CODER)
    plan_and_approve(world)

    run = world.run()
    assert run is not None and run.state == State.FAILED and run.failed_step == "code"
    notice = failure_notice(world, "code")
    assert "the Coder gave up: “The plan says to keep @\u200dalice's &lt;!-- issuesmith:x --> API, but #\u200d1" \
        in notice
    assert "<!-- issuesmith:x" not in notice and "@alice" not in notice
    assert "-    return len(text.split(\" \"))\n+    return len(text.split())" in notice  # the change so far
    assert "<details><summary>The change made before it stopped" in notice
    assert world.github.pulls(REPO) == []
    assert len(world.openai.requests) == 3  # plan, edit, give_up: not retried


def test_a_coder_repeating_itself_is_warned_then_stopped(world: World) -> None:
    view = ("view_file", {"path": "textstats/__init__.py"})
    world.openai.script(*[Reply.tool_calls([view]) for _ in range(4)], match=CODER)
    plan_and_approve(world)

    run = world.run()
    assert run is not None and run.state == State.FAILED and run.failed_step == "code"
    notice = failure_notice(world, "code")
    assert "the Coder made the same call (view_file with the same arguments) 4 times in a row" in notice
    assert "stronger model" in notice
    warned = [m["content"] for m in world.openai.requests[-1]["messages"] if m["role"] == "tool"][-1]
    assert "You made this same call (view_file with the same arguments) 3 times in a row" in warned


def test_a_prompt_cut_by_the_server_stops_the_run_naming_the_setting_to_raise(world: World) -> None:
    world.openai.script(Reply.tool_calls([FIX], usage=(1024, 20)), match=CODER)
    plan_and_approve(world, body="`word_count('a  b')` returns 3, expected 2.\n\n" + "Details of the report. " * 600)

    run = world.run()
    assert run is not None and run.state == State.FAILED and run.failed_step == "code"
    notice = failure_notice(world, "code")
    assert "the model server read only 1,024 prompt tokens of a prompt whose text alone is about" in notice
    assert "num_ctx" in notice and "ISSUESMITH_MODEL_MAX_INPUT_TOKENS" in notice
    assert world.github.pulls(REPO) == []
    assert world.openai.pending() == 0
