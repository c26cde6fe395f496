"""Acting on review of the bot's pull request: revision rounds, the bound, merge and close."""

from __future__ import annotations

import subprocess

from bot.config.repo import RepoConfig
from bot.flow.revise import RoundJournal
from bot.runs.journal import RedisJournal
from bot.runs.model import State
from bot.runs.queueing import enqueue_step
from standins.openai import Reply
from tests.integration.test_implement import ADD_TEST, BRANCH, approve, branch_file
from tests.world import APPROVE, BOT, CODER, REPO, REVIEWER, TESTER, World, script_implementation

STRIP = ("replace_text", {"path": "textstats/__init__.py", "old_text": "return len(text.split())",
                          "new_text": "return len(text.strip().split())"})


def open_pull(world: World, **config: object) -> tuple[str, int, str, str]:
    """Drive a run to its pull request; returns (run id, PR number, branch, head sha).

    The sample repository's tests run unsandboxed here: these tests are about the pull request,
    and the sandbox is covered by test_implement and test_sandbox_backends.
    """
    world.services.settings.sandbox = "unsandboxed"
    script_implementation(world.openai)
    run_id = approve(world)
    if config:
        world.services.store.update(run_id, config=RepoConfig.model_validate(config).snapshot())
    [pull] = world.github.pulls(REPO)
    branch = BRANCH.format(n=world.issue)
    assert world.run().state == State.PR_OPEN  # type: ignore[union-attr]
    return run_id, pull.number, branch, pull.head_sha


def script_round(world: World, answers: list[dict[str, object]], *edits: tuple[str, dict]) -> None:
    """Model replies for one revision round: Coder edits and answers, review approves, no new tests."""
    world.openai.script(Reply.tool_calls(list(edits), usage=(900, 80)),
                        Reply.json({"summary": "Strip the text; test tabs and newlines.", "answers": answers},
                                   usage=(1100, 60)), match=CODER)
    world.openai.script(Reply.json(APPROVE, usage=(1500, 120)), match=REVIEWER)
    world.openai.script(Reply.json({"summary": "Covered.", "tests_added": []}, usage=(800, 40)), match=TESTER)


def git(world: World, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=world.github.repo_path(REPO), capture_output=True, text=True,
                          check=True).stdout.strip()


def pr_comments(world: World, number: int) -> list[str]:
    return [c.body for c in world.github.comments(REPO, number) if c.user == BOT]


def git_pushes(world: World) -> int:
    return len([p for p in world.github.pushes if p.via == "git"])


def test_changes_requested_with_inline_comments_gives_a_new_commit_and_thread_replies(world: World) -> None:
    run_id, number, branch, head = open_pull(world)
    world.github.review_pull(REPO, number, "carol", "REQUEST_CHANGES", "Two things, please.", comments=[
        ("textstats/__init__.py", 6, "Leading and trailing spaces should not matter."),
        ("tests/test_textstats.py", 1, "Please test tabs and newlines too.")])
    first, second = world.github.review_comments(REPO, number)
    script_round(world, [{"comment_id": first.id, "note": "word_count strips the text before splitting."},
                         {"comment_id": second.id, "note": "Added test_word_count_tabs_and_newlines."}],
                 STRIP, ADD_TEST)
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN and run.pr_round == 1, world.services.store.entries(
        run_id)[-6:]
    [pull] = world.github.pulls(REPO)  # one PR only, same branch
    new_head = world.github.branches(REPO)[branch]
    assert pull.head == branch and pull.head_sha == new_head != head
    assert git(world, "rev-parse", f"{new_head}^") == head  # on top, not forced
    assert "text.strip().split()" in branch_file(world, branch, "textstats/__init__.py")
    assert "test_word_count_tabs_and_newlines" in branch_file(world, branch, "tests/test_textstats.py")
    replies = {c.in_reply_to: c for c in world.github.review_comments(REPO, number) if c.user == BOT}
    assert set(replies) == {first.id, second.id}
    assert "strips the text" in replies[first.id].body and new_head[:12] in replies[first.id].body
    assert "### Revisions" in pull.body
    assert "**Round 1**: review by @carol with 2 inline comments: Two things" in pull.body
    assert "Strip the text" in pull.body and f"Closes #{world.issue}" in pull.body
    [results] = [b for b in pr_comments(world, number) if "### Revision round 1 of 2" in b]
    assert "**Answered threads:** 2" in results and "passed" in results
    events = [(e["event"], e.get("round")) for e in world.services.store.entries(run_id) if e["step"] == "revise"]
    for expected in [("started", None), ("requested", 1), ("round_started", 1), ("review_received", 1),
                     ("pushed", 1), ("replied", 1), ("round_finished", 1), ("finished", None)]:
        assert expected in events, expected
    assert world.checklist()[-1] == (f"✅ Revision round 1 (review by @carol): pushed `{new_head[:7]}`, "
                                     "2 comments answered")
    assert world.checklist()[:3] == ["✅ Planned: plan v1", "✅ Approved by @carol: plan v1", "✅ Coded"]
    coder_request = [r for r in world.openai.requests if CODER in r["messages"][0]["content"]][-2]
    prompt = coder_request["messages"][-1]["content"]
    assert f"Inline comment id {first.id} on `textstats/__init__.py` line 6" in prompt
    assert "Please test tabs and newlines too." in prompt and "Two things, please." in prompt

    # the same review delivered again: no second round
    pushes, calls = git_pushes(world), len(world.openai.requests)
    [delivery] = [d for d in world.github.deliveries if d.event == "pull_request_review" and not d.redelivery
                  and d.payload["review"]["user"]["login"] == "carol"]
    world.github.redeliver(delivery.guid)
    world.drain()
    assert world.run().pr_round == 1 and git_pushes(world) == pushes  # type: ignore[union-attr]
    assert len(world.openai.requests) == calls

    # the round's job runs again after it pushed: nothing pushed twice, no second reply
    RoundJournal(world.services.store, 1).forget(run_id, ["publish", "report"])
    world.services.redis_text.hset(f"issuesmith:run:{run_id}", "state", "TESTING")
    enqueue_step(world.services.queues, "revise", run_id, 1, 7, world.services.policy)
    world.drain()
    assert world.run().state == State.PR_OPEN and git_pushes(world) == pushes  # type: ignore[union-attr]
    assert len([c for c in world.github.review_comments(REPO, number) if c.user == BOT]) == 2
    assert world.github.pulls(REPO)[0].body.count("**Round 1**") == 1
    assert RedisJournal(world.services.store).outputs(run_id)["publish"]["number"] == number  # implement kept


def test_revise_comment_on_the_pull_request_then_the_bound(world: World) -> None:
    _run_id, number, branch, head = open_pull(world, max_revisions=1)
    script_round(world, [], STRIP)
    world.github.comment(REPO, number, "/revise ignore leading and trailing spaces", "carol")
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN and run.pr_round == 1
    new_head = world.github.branches(REPO)[branch]
    assert new_head != head and git(world, "rev-parse", f"{new_head}^") == head
    assert "text.strip().split()" in branch_file(world, branch, "textstats/__init__.py")
    [pull] = world.github.pulls(REPO)
    assert "`/revise` by @carol: ignore leading and trailing spaces" in pull.body
    assert any("revision round 1 of 1" in b for b in pr_comments(world, number))

    # past the bound: a note that a person should take over, nothing else
    pushes, calls = git_pushes(world), len(world.openai.requests)
    world.github.comment(REPO, number, "/revise one more thing", "alice")
    world.drain()
    assert any("@alice this pull request has had 1 revision round" in b and "take it over" in b
               for b in pr_comments(world, number))
    assert git_pushes(world) == pushes and len(world.openai.requests) == calls
    assert world.run().pr_round == 1 and world.run().state == State.PR_OPEN  # type: ignore[union-attr]


def test_commands_other_than_revise_on_the_pull_request_do_nothing(world: World) -> None:
    _run_id, number, _, _ = open_pull(world)
    comments_before = len(world.github.comments(REPO, number))
    world.github.comment(REPO, number, "/cancel", "alice")
    world.drain()
    assert world.run().state == State.PR_OPEN  # type: ignore[union-attr]
    assert len(world.github.comments(REPO, number)) == comments_before + 1  # only alice's own comment


def test_review_by_a_read_only_user_is_refused(world: World) -> None:
    _run_id, number, branch, head = open_pull(world)
    world.github.review_pull(REPO, number, "mallory", "REQUEST_CHANGES", "Rewrite it all.")
    world.drain()

    assert any("@mallory thanks! Only people with write access" in b for b in pr_comments(world, number))
    assert world.github.branches(REPO)[branch] == head
    run = world.run()
    assert run is not None and run.state == State.PR_OPEN and run.pr_round == 0


def test_merged_with_delete_branch_ends_the_run_and_deletes_the_branch(world: World) -> None:
    run_id, number, branch, _ = open_pull(world, delete_branch=True)
    world.github.merge_pull(REPO, number, "alice")
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.MERGED
    assert branch not in world.github.branches(REPO)
    note = world.bot_comments()[-1].body
    assert f"Pull request #{number} was merged by @alice" in note and "was deleted" in note
    assert world.checklist()[-1] == "✅ Merged by @alice · branch deleted" and "**Done.**" in world.status()
    [decision] = [e for e in world.services.store.entries(run_id)
                  if e["event"] == "decision" and e["kind"] == "delete_branch"]
    assert decision["allowed"] and decision["target"] == branch


def test_closed_without_merge_keeps_the_branch(world: World) -> None:
    _run_id, number, branch, head = open_pull(world)
    world.github.close_issue(REPO, number, "alice")
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.CLOSED
    assert world.github.branches(REPO)[branch] == head
    note = world.bot_comments()[-1].body
    assert "closed without merging" in note and "was kept" in note and "Add the label again" in note
    assert world.checklist()[-1] == "🛑 Pull request closed without merging by @alice"


def test_a_failed_round_is_retried_with_retry(world: World) -> None:
    _run_id, number, branch, head = open_pull(world)
    script_round(world, [], STRIP)
    world.github.fail_next("PATCH", rf"/pulls/{number}$", 422, body={"message": "Validation Failed"})
    world.github.comment(REPO, number, "/revise ignore leading and trailing spaces", "carol")
    world.drain()
    run = world.run()
    assert run is not None and run.state == State.FAILED and run.failed_step == "revise-publish"
    assert "stopped at the **revise-publish** step" in world.bot_comments()[-1].body
    calls = len(world.openai.requests)

    world.say("/retry", by="alice")
    world.drain()
    run = world.run()
    assert run is not None and run.state == State.PR_OPEN and run.pr_round == 1
    assert len(world.openai.requests) == calls  # code and test were not redone
    assert "**Round 1**" in world.github.pulls(REPO)[0].body
    assert git(world, "rev-parse", f"{world.github.branches(REPO)[branch]}^") == head


def test_a_pull_request_comment_edited_into_revise_starts_a_round_and_a_second_edit_does_not(world: World) -> None:
    _run_id, number, branch, head = open_pull(world)
    script_round(world, [], STRIP)
    typo = world.github.comment(REPO, number, "/revse ignore leading and trailing spaces", "carol")
    world.drain()
    assert world.run().pr_round == 0  # type: ignore[union-attr]
    world.github.edit_comment(REPO, typo, "/revise ignore leading and trailing spaces", by="carol")
    world.drain()
    run = world.run()
    assert run is not None and run.state == State.PR_OPEN and run.pr_round == 1
    assert world.github.branches(REPO)[branch] != head

    calls = len(world.openai.requests)
    world.github.edit_comment(REPO, typo, "/revise and tabs too", by="carol")
    world.drain()
    assert world.run().pr_round == 1 and len(world.openai.requests) == calls  # type: ignore[union-attr]
    assert any("do not run it again" in b for b in pr_comments(world, number))


def test_the_coder_runs_the_tests_in_a_revision_round_and_is_held_to_them(world: World) -> None:
    run_id, number, branch, _head = open_pull(world)
    broken = ("replace_text", {"path": "textstats/__init__.py", "old_text": "return len(text.split())",
                               "new_text": "return 0"})
    mended = ("replace_text", {"path": "textstats/__init__.py", "old_text": "return 0",
                               "new_text": "return len(text.strip().split())"})
    answer = Reply.json({"summary": "Strip the text.", "answers": []})
    world.openai.script(Reply.tool_calls([broken, ("run_tests", {"selector": ""})]), answer,
                        Reply.tool_calls([mended, ("run_tests", {"selector": ""})]), answer, match=CODER)
    world.openai.script(Reply.json(APPROVE), match=REVIEWER)
    world.openai.script(Reply.json({"summary": "Covered.", "tests_added": []}), match=TESTER)
    world.github.comment(REPO, number, "/revise ignore leading and trailing spaces", "carol")
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN and run.pr_round == 1
    coder = [r for r in world.openai.requests if CODER in r["messages"][0]["content"]][-1]
    results = [m["content"] for m in coder["messages"] if m["role"] == "tool"]
    ran_broken, ran_mended = (r for r in results if r.startswith("Command: python -m pytest -q"))
    # the new failure against where the branch left main, named as pytest takes it back; the old one apart
    assert "Result: 1 passed, 1 failing, 1 already failing on main" in ran_broken
    assert "--- tests/test_textstats.py::test_word_count_simple (failed)" in ran_broken
    assert "Result: 3 passed, 0 failed" in ran_mended
    said = [str(m.get("content")) for m in coder["messages"] if m["role"] == "user"]
    assert any("not finished: your latest test run" in text for text in said)  # the first answer was refused
    ran = [e for e in world.services.store.entries(run_id) if e["event"] == "coder_tests"]
    assert len(ran) >= 2 and not ran[0]["ok"] and ran[-1]["ok"]
    assert "text.strip().split()" in branch_file(world, branch, "textstats/__init__.py")
