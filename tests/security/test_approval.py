"""Approval stays with writers: the auto-approve label approves a plan only when a writer added it.

GitHub sends no webhook we can trust for a label added *before* the trigger label, so the plan
job looks up who added it (List issue events) and checks that person's permission.
"""

from __future__ import annotations

from bot.runs.model import State
from tests.world import REPO, SAMPLE_PLAN, World, script_implementation


def configure(world: World, text: str) -> None:
    world.github.push_commit(REPO, "main", {".github/issuesmith.yml": text}, by="alice")


def test_a_triager_adding_the_auto_approve_label_before_the_trigger_approves_nothing(world: World) -> None:
    configure(world, "auto_approve_label: trusted\n")
    world.new_issue()
    world.label(label="trusted", by="trish")  # triage role: may label issues, may not approve plans
    world.script_plan(SAMPLE_PLAN)
    script_implementation(world.openai)
    world.label(by="alice")  # an admin only asks for a plan
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL and not run.approved_by
    assert world.github.pulls(REPO) == [] and list(world.github.branches(REPO)) == ["main"]  # nothing implemented
    waiting = [line for line in world.checklist() if line.startswith("⏸️ Waiting for `/approve` of plan v1")]
    assert waiting == ["⏸️ Waiting for `/approve` of plan v1 (the `trusted` label was added by @trish; "
                       "it approves only when a writer adds it)"]
    [reply] = [c.body for c in world.bot_comments() if "only approves a plan when someone with write access" in c.body]
    assert "@trish added the `trusted` label" in reply and "reply `/approve`" in reply

    world.say("/approve", by="carol")  # a writer approves: in their own name
    world.drain()
    run = world.run()
    assert run is not None and run.state == State.PR_OPEN
    assert (run.approved_by, run.approved_via) == ("carol", "comment")


def test_a_writer_adding_the_label_approves_in_the_writers_name_not_the_runs_starter(world: World) -> None:
    configure(world, "auto_approve_label: trusted\n")
    world.new_issue()
    world.label(label="Trusted", by="maya")  # maintain role counts as write; the label's case does not matter
    world.script_plan(SAMPLE_PLAN)
    script_implementation(world.openai)
    world.label(by="alice")
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN
    assert (run.approved_by, run.approved_via, run.approved_version) == ("maya", "label", 1)
    assert "✅ Approved by @maya: plan v1 (auto-approve label)" in world.checklist()


def test_a_triager_re_adding_a_label_a_writer_once_added_does_not_inherit_the_writers_approval(
        world: World) -> None:
    configure(world, "auto_approve_label: trusted\n")
    world.new_issue()
    world.label(label="trusted", by="carol")
    world.github.unlabel_issue(REPO, world.issue, "trusted", "trish")
    world.label(label="trusted", by="trish")  # the label on the issue now is trish's
    world.script_plan(SAMPLE_PLAN)
    world.label(by="alice")
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL and not run.approved_by
    assert any("@trish added the `trusted` label" in c.body for c in world.bot_comments())
    lookups = [ex for ex in world.github.exchanges if ex.method == "GET" and ex.path.endswith("/events")]
    assert lookups, "who added the label is looked up on GitHub, not guessed"


def test_a_comment_edited_into_approve_by_someone_without_write_access_approves_nothing(world: World) -> None:
    """An edit is judged by who made it: a triager turning her own old comment into `/approve` is refused."""
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()
    old = world.say("looks fine to me", by="trish")  # triage is not write
    world.drain()
    world.github.edit_comment(REPO, old, "/approve", by="trish")
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.AWAITING_APPROVAL and run.approved_version == 0
    assert "Only people with write access to this repository can use `/approve`" in world.bot_comments()[-1].body
    assert not [j for j in world.job_ids() if j.startswith("implement")]
