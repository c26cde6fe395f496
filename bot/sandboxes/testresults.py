"""Deciding whether the tests passed, from what the runner produced: code decides, not the model.

In order of trust: the JUnit XML report (pytest `--junitxml`, which `with_junit` adds to
pytest commands), else the runner's summary line in the output (pytest, unittest, Jest,
Mocha, cargo, go test), else the exit code alone.
"""

from __future__ import annotations

import logging
import re
import shlex
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from bot.core import treefiles
from bot.sandboxes.base import CommandResult

Outcome = Literal["passed", "failed", "error", "skipped"]
Source = Literal["junit", "summary", "exit_code"]

MESSAGE_CHARS = 2000
TAIL_CHARS = 4000
MAX_CASES = 100
MAX_JUNIT_BYTES = 64_000_000  # a larger report is not read (the summary line decides)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
log = logging.getLogger("issuesmith.testresults")


@dataclass(frozen=True)
class Counts:
    """How many tests passed, failed, errored and were skipped."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        """All tests counted."""
        return self.passed + self.failed + self.errors + self.skipped

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.passed + other.passed, self.failed + other.failed, self.errors + other.errors,
                      self.skipped + other.skipped)


@dataclass(frozen=True)
class TestCase:
    """One test that did not pass, with a short message (the end of its report)."""

    __test__ = False  # not a pytest test class

    name: str
    outcome: Outcome
    message: str


@dataclass(frozen=True)
class TestReport:
    """The verdict on one test run. `cases` holds only the failed and errored tests (at most 100)."""

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

    @property
    def ok(self) -> bool:
        """Exit code 0, no failures or errors, not timed out, and (when counted) at least one test passed."""
        clean = self.exit_code == 0 and not self.timed_out and self.failed == 0 and self.errors == 0
        return clean and (self.source == "exit_code" or self.passed > 0)


# -- JUnit XML ------------------------------------------------------------------------------------


def parse_junit(xml_text: str) -> tuple[Counts, list[TestCase]]:
    """Counts and the failed/errored cases of a JUnit XML report; ValueError when it is not one.

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
    counts, cases = Counts(), list[TestCase]()
    for element in root.iter("testcase"):
        outcome, detail = _outcome(element)
        counts += _one(outcome)
        if outcome in ("failed", "error") and len(cases) < MAX_CASES:
            cases.append(TestCase(_case_name(element), outcome, detail))
    return counts, cases


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


# -- summary lines --------------------------------------------------------------------------------

_WORDS = {"passed": "passed", "xpassed": "passed", "failed": "failed", "error": "errors", "errors": "errors",
          "skipped": "skipped", "xfailed": "skipped", "ignored": "skipped", "pending": "skipped",
          "todo": "skipped"}
_PYTEST_WORDS = frozenset({"passed", "xpassed", "failed", "error", "errors", "skipped", "xfailed"})
_COUNT = re.compile(r"(\d+) ([a-z]+)")
_PYTEST = re.compile(r"^[=\s]*(\d+ [a-z]+(?:, \d+ [a-z]+)*)(?: in [\d.]+s\b.*)?[=\s]*$")
_NO_TESTS = re.compile(r"^[=\s]*no tests ran\b")
_CARGO = re.compile(r"^test result: \w+\. (.*)$")
_JEST = re.compile(r"^Tests:\s+(.*)$")
_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in ")
_UNITTEST_END = re.compile(r"^(OK|FAILED)(?: \((.*)\))?\s*$")
_MOCHA = re.compile(r"^\s*(\d+) (passing|failing|pending)\b")
_GO_CASE = re.compile(r"^--- (PASS|FAIL|SKIP): ")
_GO_PACKAGE = re.compile(r"^(ok|FAIL)\s+\S+\s+(?:[\d.]+s|\(cached\))")


def parse_summary(output: str) -> Counts | None:
    """Counts from a runner's summary in the output (pytest, unittest, Jest, Mocha, cargo, go), or None."""
    lines = [line.rstrip() for line in _ANSI.sub("", output).splitlines()]
    for parser in (_cargo, _jest, _pytest, _unittest, _mocha, _go):
        counts = parser(lines)
        if counts is not None:
            return counts
    return None


def _tally(text: str) -> Counts:
    found = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    for number, word in _COUNT.findall(text):
        if word in _WORDS:
            found[_WORDS[word]] += int(number)
    return Counts(**found)


def _has_pytest_words(text: str) -> bool:
    return any(word in _PYTEST_WORDS for _, word in _COUNT.findall(text))


def _pytest(lines: list[str]) -> Counts | None:
    """The last `== 2 failed, 10 passed in 0.5s ==` (or plain `N passed, N failed`) line."""
    for line in reversed(lines):
        if _NO_TESTS.match(line):
            return Counts()
        match = _PYTEST.match(line)
        if match and _has_pytest_words(match.group(1)):
            return _tally(match.group(1))
    return None


def _cargo(lines: list[str]) -> Counts | None:
    """`test result: FAILED. 3 passed; 1 failed; 0 ignored; ...`, summed over the test binaries."""
    results = [m.group(1) for line in lines if (m := _CARGO.match(line))]
    return sum((_tally(r) for r in results), Counts()) if results else None


def _jest(lines: list[str]) -> Counts | None:
    """`Tests:       1 failed, 2 skipped, 5 passed, 8 total`."""
    for line in reversed(lines):
        match = _JEST.match(line)
        if match:
            return _tally(match.group(1))
    return None


def _unittest(lines: list[str]) -> Counts | None:
    """`Ran 5 tests in 0.01s` followed by `OK`, `OK (skipped=1)` or `FAILED (failures=1, errors=2)`."""
    for i in range(len(lines) - 1, -1, -1):
        ran = _UNITTEST_RAN.match(lines[i])
        if not ran:
            continue
        end = next((m for line in lines[i + 1:] if (m := _UNITTEST_END.match(line))), None)
        if end is None:
            return None
        detail = {key.strip(): int(value) for key, _, value in
                  (part.partition("=") for part in (end.group(2) or "").split(",")) if value.strip().isdigit()}
        failed = detail.get("failures", 0) + detail.get("unexpected successes", 0)
        errors = detail.get("errors", 0)
        skipped = detail.get("skipped", 0) + detail.get("expected failures", 0)
        return Counts(max(int(ran.group(1)) - failed - errors - skipped, 0), failed, errors, skipped)
    return None


def _mocha(lines: list[str]) -> Counts | None:
    """`  5 passing (10ms)`, `  2 failing`, `  1 pending`."""
    found = {m.group(2): int(m.group(1)) for line in lines if (m := _MOCHA.match(line))}
    if not found:
        return None
    return Counts(found.get("passing", 0), found.get("failing", 0), 0, found.get("pending", 0))


def _go(lines: list[str]) -> Counts | None:
    """`--- PASS: TestX` lines of `go test -v` (top level only), else `ok`/`FAIL` lines per package."""
    cases = [m.group(1) for line in lines if (m := _GO_CASE.match(line))]
    if cases:
        return Counts(cases.count("PASS"), cases.count("FAIL"), 0, cases.count("SKIP"))
    packages = [m.group(1) for line in lines if (m := _GO_PACKAGE.match(line))]
    return Counts(packages.count("ok"), packages.count("FAIL")) if packages else None


# -- the report -----------------------------------------------------------------------------------


def build_report(command: str, result: CommandResult, junit_path: Path | None) -> TestReport:
    """The verdict: JUnit XML if `junit_path` exists and parses, else the summary line, else the exit code.

    Pass a path that did not exist before the run (a stale report would be read as this one).
    """
    junit = _read_junit(junit_path)
    if junit is not None:
        return _report(command, result, junit[0], "junit", junit[1])
    summary = parse_summary(result.output)
    if summary is not None:
        return _report(command, result, summary, "summary")
    return _report(command, result, Counts(), "exit_code")


def _report(command: str, result: CommandResult, counts: Counts, source: Source,
            cases: list[TestCase] | None = None) -> TestReport:
    return TestReport(command=command, passed=counts.passed, failed=counts.failed, errors=counts.errors,
                      skipped=counts.skipped, source=source, exit_code=result.exit_code, timed_out=result.timed_out,
                      output_tail=result.output[-TAIL_CHARS:], cases=cases or [])


def _read_junit(path: Path | None) -> tuple[Counts, list[TestCase]] | None:
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
        return parse_junit(text)
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
    if _SHELL_SYNTAX.search(command):
        return command
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    if not _is_pytest(words):
        return command
    return f"{command} --junitxml={shlex.quote(str(junit_path))} -o junit_family=xunit2"


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
