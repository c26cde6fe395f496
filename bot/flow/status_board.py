"""The status comment kept up to date off a step's path: progress edits coalesce, and the latest state wins.

A step says what it is doing several times a run. Editing the comment each time, on the step's path, cost the
run a GitHub write each time (a second apiece where writes are spaced, as GitHub asks), and GitHub a burst of
edits. Here a progress note only asks for an edit (`soon`): one thread per process makes it, reading the run
as stored when the edit begins, so the notes that came while an edit was in flight (or waiting for its turn to
write) become one edit showing the newest.

The end of a step still edits the comment at once (`now`), and returns only when the newest state is on
GitHub (or raises what GitHub raised). Every edit of one run holds that run's lock while it reads and writes,
so an edit that read an older state can never land after one that read a newer state. `settle` is the end of
a job's step: it waits for the edits asked for, and makes one itself, raising, when the last one failed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("issuesmith.status")
IDLE_SECONDS = 10.0  # the thread ends after this long with nothing asked


class StatusBoard:
    """Edits of each run's status comment, made by `write(run_id)`, coalesced on one background thread."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._write = write
        self._changed = threading.Condition()
        self._asked: list[str] = []  # runs whose comment should be edited, oldest first
        self._busy: set[str] = set()  # runs the thread is editing now
        self._failed: set[str] = set()  # runs whose last edit by the thread failed
        self._locks: dict[str, threading.Lock] = {}
        self._thread: threading.Thread | None = None

    def soon(self, run_id: str) -> None:
        """Have the run's comment edited to what is stored by then; returns at once."""
        with self._changed:
            if run_id not in self._asked:
                self._asked.append(run_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="status-board", daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def now(self, run_id: str) -> None:
        """Edit the run's comment to what is stored now, before returning; raises what the write raised.

        An edit asked for earlier and not begun is dropped (this one shows more); one in flight ends first."""
        with self._changed:
            if run_id in self._asked:
                self._asked.remove(run_id)
        with self._lock(run_id):
            self._write(run_id)
            with self._changed:
                self._failed.discard(run_id)

    def settle(self, run_id: str, timeout: float = 120.0) -> None:
        """Wait until the edits asked for the run are made; when the last one failed (or did not end within
        `timeout` seconds), edit the comment here, raising what GitHub raised."""
        with self._changed:
            done = self._changed.wait_for(lambda: run_id not in self._asked and run_id not in self._busy, timeout)
            failed = run_id in self._failed or not done
        if failed:
            self.now(run_id)

    def quiet(self, run_id: str, timeout: float = 30.0) -> bool:
        """Wait (at most `timeout` seconds) for the edits asked for the run, without editing or raising; whether
        they ended. For a job that is ending anyway (its failure path has edited the comment itself)."""
        with self._changed:
            return self._changed.wait_for(lambda: run_id not in self._asked and run_id not in self._busy, timeout)

    def _lock(self, run_id: str) -> threading.Lock:
        with self._changed:
            return self._locks.setdefault(run_id, threading.Lock())

    def _serve(self) -> None:
        while True:
            with self._changed:
                if not self._changed.wait_for(lambda: bool(self._asked), IDLE_SECONDS):
                    self._thread = None  # the next `soon` starts another
                    return
                run_id = self._asked.pop(0)
                self._busy.add(run_id)
            failed = False
            try:
                with self._lock(run_id):
                    self._write(run_id)
            except Exception:
                failed = True
                log.warning("could not edit the status comment; the step's end edits it again", exc_info=True,
                            extra={"run": run_id})
            with self._changed:
                self._busy.discard(run_id)
                if failed:
                    self._failed.add(run_id)
                else:
                    self._failed.discard(run_id)
                self._changed.notify_all()
