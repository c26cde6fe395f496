"""Deciding whether the tests passed, from what the runner produced: code decides, not the model.

In order of trust: a JUnit XML report (pytest's `--junitxml`, which `with_junit` adds to
pytest commands; Maven surefire's `target/surefire-reports/TEST-*.xml`), else the runner's
summary in the output (see `bot.sandboxes.runneroutput` for the runners read), else the exit
code alone. A report also says when no test ran, and when the command failed before any test
ran (not found, an import error, a build error): `TestReport.what` says which, in words.
"""

from __future__ import annotations

import logging
import re
import shlex
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Literal

from bot.core import treefiles
from bot.core.walk import remove_tree
from bot.sandboxes.base import CommandResult
from bot.sandboxes.runneroutput import (
    MAX_CASES,
    MESSAGE_CHARS,
    Counts,
    Outcome,
    TestCase,
    failed_before_tests,
    parse_summary,
    tap_failures,
)

Source = Literal["junit", "summary", "exit_code"]

TAIL_CHARS = 4000
MAX_FAILING_IDS = 1000  # ids of failing tests kept per run (to match with the base's; see bot.sandboxes.baseline)
ID_CHARS = 300  # of one test id
MAX_JUNIT_BYTES = 64_000_000  # a larger report is not read (the summary line decides)
SUREFIRE_REPORTS = "target/surefire-reports"
MAX_SUREFIRE_FILES = 2000  # report files read at most, together within MAX_JUNIT_BYTES
log = logging.getLogger("issuesmith.testresults")

__all__ = ["MAX_CASES", "MAX_FAILING_IDS", "MESSAGE_CHARS", "Counts", "Junit", "Outcome", "TestCase", "TestReport",
           "build_report", "clear_surefire_reports", "is_plain_pytest", "parse_junit", "parse_summary",
           "read_junit_text", "surefire_reports", "with_junit"]


@dataclass(frozen=True)
class TestReport:
    """The verdict on one test run.

    `cases` holds only the failed and errored tests (at most 100, with their messages); `failing`
    the ids of the failed and errored tests (at most `MAX_FAILING_IDS`), for matching them with
    the base's: complete only when it has `failed + errors` entries.
    """

    __test__ = False

    command: str
    passed: int
    failed: int
    errors: int
    skipped: int
    source: Source
    exit_code: int | None
    timed_out: bool
    output_tail: str
    cases: list[TestCase] = field(default_factory=list)
    before_tests: str = ""  # why the command failed before any test ran ("" when it did not)
    failing: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Exit code 0, no failures or errors, not timed out, and (when counted) at least one test passed."""
        clean = self.exit_code == 0 and not self.timed_out and self.failed == 0 and self.errors == 0
        return clean and (self.source == "exit_code" or self.passed > 0)

    @property
    def counted(self) -> bool:
        """Whether the counts come from the runner (a report or its summary), not from the exit code alone."""
        return self.source != "exit_code"

    @property
    def total(self) -> int:
        """All tests counted."""
        return self.passed + self.failed + self.errors + self.skipped

    @property
    def what(self) -> str:
        """What happened, in a few words: the counts, or why there are none."""
        if self.timed_out:
            return "timed out" + (f" after {self._counts()}" if self.counted and self.total else "")
        if self.before_tests:
            return f"the command failed before any test ran (exit {self.exit_code}: {self.before_tests})"
        if not self.counted:
            return f"counts unknown (exit {self.exit_code})"
        if self.total == 0:
            return "no tests ran" + (f" (exit {self.exit_code})" if self.exit_code else "")
        return self._counts()

    def _counts(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.errors} errors, {self.skipped} skipped"


# -- JUnit XML ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Junit:
    """What a JUnit XML report says: the counts, the failed/errored cases and their ids (each capped)."""

    counts: Counts = field(default_factory=Counts)
    cases: list[TestCase] = field(default_factory=list)
    failing: tuple[str, ...] = ()

    def __add__(self, other: Junit) -> Junit:
        return Junit(self.counts + other.counts, (self.cases + other.cases)[:MAX_CASES],
                     (self.failing + other.failing)[:MAX_FAILING_IDS])


def parse_junit(xml_text: str) -> tuple[Counts, list[TestCase]]:
    """Counts and the failed/errored cases of a JUnit XML report; ValueError when it is not one."""
    report = read_junit_text(xml_text)
    return report.counts, report.cases


def read_junit_text(xml_text: str) -> Junit:
    """A JUnit XML report's counts, failed/errored cases and failing ids; ValueError when it is not one.

    Documents with a DOCTYPE or entity declarations are refused (no entity expansion).
    """
    if re.search(r"<!\s*(DOCTYPE|ENTITY)", xml_text, re.IGNORECASE):
        raise ValueError("JUnit XML with a DOCTYPE or ENTITY declaration is refused")
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed XML: {exc}") from exc
    if root.tag not in ("testsuites", "testsuite"):
        raise ValueError(f"not a JUnit report (root element <{root.tag}>)")
    counts, cases, failing = Counts(), list[TestCase](), list[str]()
    for element in root.iter("testcase"):
        outcome, detail = _outcome(element)
        counts += _one(outcome)
        if outcome in ("failed", "error") and len(failing) < MAX_FAILING_IDS:
            failing.append(_case_name(element)[:ID_CHARS])
        if outcome in ("failed", "error") and len(cases) < MAX_CASES:
            cases.append(TestCase(_case_name(element), outcome, detail))
    return Junit(counts, cases, tuple(failing))


_CHILDREN: tuple[tuple[str, Outcome], ...] = (("failure", "failed"), ("error", "error"), ("skipped", "skipped"))


def _outcome(case: ET.Element) -> tuple[Outcome, str]:
    """A failure wins over an error (a failed test whose teardown also failed), an error over a skip."""
    for tag, outcome in _CHILDREN:
        found = case.find(tag)
        if found is not None:
            return outcome, _message(found)
    return "passed", ""


def _message(element: ET.Element) -> str:
    """The message attribute and the end of the text (where the assertion is), within 2000 characters."""
    message = (element.get("message") or "").strip()
    text = (element.text or "").strip()
    if text.startswith(message):
        message = ""
    room = MESSAGE_CHARS - len(message) - 1
    if room <= 0:
        return message[:MESSAGE_CHARS]
    if len(text) > room:
        text = "…" + text[len(text) - room + 1:]
    return f"{message}\n{text}".strip()


def _case_name(case: ET.Element) -> str:
    classname, name = case.get("classname", ""), case.get("name", "?")
    return f"{classname}::{name}" if classname else name


def _one(outcome: Outcome) -> Counts:
    return Counts(passed=int(outcome == "passed"), failed=int(outcome == "failed"), errors=int(outcome == "error"),
                  skipped=int(outcome == "skipped"))


def _read_surefire(tree: Path, folder: str) -> Junit | None:
    """The `TEST-*.xml` reports in `folder` of the tree, together; None when there are none or none parses.

    The tree is the repository's: the folder is listed and each report read through
    `bot.core.treefiles` (no link followed, regular files only), at most 2000 files and 64 MB.
    """
    try:
        names = sorted(name for name, kind in treefiles.list_folder(tree, folder)
                       if kind == "file" and name.startswith("TEST-") and name.endswith(".xml"))
    except (treefiles.TreeFileError, OSError):
        return None
    together, budget, read = Junit(), MAX_JUNIT_BYTES, 0
    for name in names[:MAX_SUREFIRE_FILES]:
        try:
            text = treefiles.read_text(tree, f"{folder}/{name}", budget)
            found = read_junit_text(text)
        except (treefiles.TreeFileError, OSError, ValueError) as exc:
            log.warning(f"a surefire report was not read: {exc}")
            continue
        budget -= len(text)
        together, read = together + found, read + 1
    return together if read else None


def surefire_reports(command: str) -> str:
    """Where Maven's surefire writes its reports in the tree when `command` runs Maven (`mvn`, `mvnw`), else ""."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return SUREFIRE_REPORTS if any(PurePosixPath(w).name in ("mvn", "mvnw") for w in words) else ""


def clear_surefire_reports(tree: Path, command: str) -> None:
    """Before a Maven run: remove the reports a previous run left in the tree, so they are not read as this run's.

    Nothing is removed when a link is on the way (`target` may point anywhere); the reports
    are then not read either (`_read_surefire` follows no link).
    """
    folder = surefire_reports(command)
    if folder and treefiles.kind(tree, folder) == "folder":
        remove_tree(tree / folder)


# -- the report -----------------------------------------------------------------------------------


def build_report(command: str, result: CommandResult, junit_path: Path | None,
                 tree: Path | None = None) -> TestReport:
    """The verdict: JUnit XML (at `junit_path`, or surefire's in `tree`), else the summary, else the exit code.

    Pass a `junit_path` that did not exist before the run, and a `tree` whose surefire reports
    were removed before it (a stale report would be read as this run's).
    """
    junit = _read_junit(junit_path)
    if junit is None and tree is not None and surefire_reports(command):
        junit = _read_surefire(tree, surefire_reports(command))
    if junit is not None:
        return _report(command, result, "junit", junit)
    summary = parse_summary(result.output)
    if summary is not None:
        cases = tap_failures(result.output)
        return _report(command, result, "summary",
                       Junit(summary, cases, tuple(case.name[:ID_CHARS] for case in cases)))
    return _report(command, result, "exit_code", Junit())


def _report(command: str, result: CommandResult, source: Source, found: Junit) -> TestReport:
    counts = found.counts
    report = TestReport(command=command, passed=counts.passed, failed=counts.failed, errors=counts.errors,
                        skipped=counts.skipped, source=source, exit_code=result.exit_code,
                        timed_out=result.timed_out, output_tail=result.output[-TAIL_CHARS:], cases=found.cases,
                        failing=found.failing)
    ran = report.passed + report.failed + report.skipped
    if report.timed_out or report.exit_code in (0, None) or ran:
        return report
    return replace(report, before_tests=failed_before_tests(result.output, report.exit_code))


def _read_junit(path: Path | None) -> Junit | None:
    """The parsed report, or None when it is absent, unusable, or not a regular file in its folder.

    The tests wrote the report, so they may have replaced it by a symlink (to a key, a FIFO, a
    device): it is opened through `bot.core.treefiles`, which refuses anything but a regular file.
    """
    if path is None:
        return None
    try:
        text = treefiles.read_text(path.parent, path.name, MAX_JUNIT_BYTES)
    except treefiles.Missing:
        return None
    except (treefiles.TreeFileError, OSError) as exc:
        log.warning(f"the JUnit report was not read: {exc}")
        return None
    try:
        return read_junit_text(text)
    except ValueError:
        return None


_WRAPPERS = (("uv", "run"), ("poetry", "run"), ("pipenv", "run"), ("pdm", "run"), ("hatch", "run"))
_SHELL_SYNTAX = re.compile(r"[;&|<>`$()\n]")


def with_junit(command: str, junit_path: Path) -> str:
    """`command` with `--junitxml=PATH -o junit_family=xunit2` when it is a plain pytest command, else unchanged.

    Recognised: `pytest`, `py.test`, `python -m pytest` (any python, any path), also after
    `VAR=value` assignments and `uv/poetry/pipenv/pdm/hatch run`. Commands with shell syntax
    (`&&`, `;`, pipes, redirections) are left alone, since the option could reach the wrong program.
    """
    if not is_plain_pytest(command):
        return command
    return f"{command} --junitxml={shlex.quote(str(junit_path))} -o junit_family=xunit2"


def is_plain_pytest(command: str) -> bool:
    """Whether `command` is one pytest command without shell syntax (what `with_junit` extends; see there)."""
    if _SHELL_SYNTAX.search(command):
        return False
    try:
        words = shlex.split(command)
    except ValueError:
        return False
    return _is_pytest(words)


def _is_pytest(words: list[str]) -> bool:
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        words = words[1:]
    for wrapper in _WRAPPERS:
        if tuple(words[:2]) == wrapper:
            words = words[2:]
            break
    if not words:
        return False
    program = PurePosixPath(words[0]).name
    if program in ("pytest", "py.test"):
        return True
    return bool(re.fullmatch(r"python[\d.]*", program)) and words[1:3] == ["-m", "pytest"]
