"""The status board: progress edits coalesce off the step's path, and an older state never lands last."""

from __future__ import annotations

import threading

import pytest

from bot.flow.status_board import StatusBoard


class Comment:
    """A status comment on GitHub that takes as long to edit as the test says: it shows the state read when
    each edit began, and remembers every edit."""

    def __init__(self) -> None:
        self.state = 0  # what the store holds now
        self.shown: list[int] = []  # what each edit wrote, in the order the edits landed
        self.gate = threading.Event()  # an edit in flight waits for it
        self.gate.set()
        self.begun = threading.Semaphore(0)
        self.fail_next = False

    def write(self, run_id: str) -> None:
        read = self.state
        self.begun.release()
        self.gate.wait(10)
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("GitHub did not answer")
        self.shown.append(read)


def test_notes_that_come_during_an_edit_become_one_edit_showing_the_newest() -> None:
    comment = Comment()
    board = StatusBoard(comment.write)
    comment.gate.clear()  # the first edit is slow: GitHub makes it wait its turn
    comment.state = 1
    board.soon("r1")
    assert comment.begun.acquire(timeout=10)
    for state in range(2, 8):  # six more progress notes while it is in flight
        comment.state = state
        board.soon("r1")
    comment.gate.set()
    board.settle("r1")
    assert comment.shown == [1, 7]


def test_the_step_end_edit_is_never_followed_by_an_older_state() -> None:
    comment = Comment()
    board = StatusBoard(comment.write)
    comment.gate.clear()
    comment.state = 1
    board.soon("r1")  # in flight with state 1
    assert comment.begun.acquire(timeout=10)
    comment.state = 2
    board.soon("r1")  # asked, not begun
    comment.state = 3  # the run failed: the failure path edits at once
    ender = threading.Thread(target=board.now, args=("r1",))
    ender.start()
    comment.gate.set()
    ender.join(10)
    board.settle("r1")
    assert comment.shown[-1] == 3
    assert comment.shown == sorted(comment.shown)
    assert 2 not in comment.shown  # the edit asked with state 2 began after state 3 was stored, or not at all


def test_a_failed_background_edit_is_made_again_by_settle_and_raises_when_github_still_fails() -> None:
    comment = Comment()
    board = StatusBoard(comment.write)
    comment.fail_next = True
    comment.state = 4
    board.soon("r1")
    assert board.quiet("r1")
    assert comment.shown == []
    board.settle("r1")  # GitHub answers again: the step's end makes the edit
    assert comment.shown == [4]

    comment.fail_next = True
    board.soon("r1")
    assert board.quiet("r1")
    comment.fail_next = True
    with pytest.raises(ConnectionError):
        board.settle("r1")  # the job fails as it would have with the edit on its path, and is retried


def test_runs_are_edited_separately_and_settle_waits_only_for_its_own() -> None:
    comment_a, comment_b = Comment(), Comment()
    board = StatusBoard(lambda run_id: (comment_a if run_id == "a" else comment_b).write(run_id))
    comment_b.gate.clear()
    comment_b.state = 9
    board.soon("b")
    assert comment_b.begun.acquire(timeout=10)
    comment_a.state = 5
    board.now("a")
    assert comment_a.shown == [5]
    assert not board.quiet("b", timeout=0.05)  # b's edit is still in flight
    comment_b.gate.set()
    board.settle("b")
    assert comment_b.shown == [9]


def test_settle_with_nothing_asked_edits_nothing() -> None:
    comment = Comment()
    board = StatusBoard(comment.write)
    board.settle("r1")
    assert comment.shown == []
