"""Reading what a test runner printed: its summary counts, and the failing tests of TAP output.

Each runner's summary is read by one small parser; the first that recognises the output wins,
most specific first. The formats, and where each was checked:

* checked against real runs (the outputs are fixtures in tests/unit/sandboxes/fixtures):
  node 20's test runner (`node --test`, TAP by default when not on a terminal, and its `spec`
  reporter), cargo (one `test result:` line per test binary, summed), Maven surefire 3 (the
  aggregate `Tests run:` line after `Results:`, summed over modules), perl's `prove`, raw TAP,
  pytest and unittest;
* from the runners' documentation and published output (not installed where this was written):
  Vitest (`Tests  1 failed | 2 passed (3)`, vitest.dev "Reporters"), RSpec (`3 examples,
  1 failure, 1 pending`, rspec.info feature pages), PHPUnit (`OK (5 tests, 9 assertions)` and
  `Tests: 5, Assertions: 9, Failures: 1.`), Jest (`Tests: 1 failed, 5 passed, 6 total`), Mocha
  (`5 passing`), go test (`--- FAIL: TestX`, `ok`/`FAIL` per package).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["passed", "failed", "error", "skipped"]

MESSAGE_CHARS = 2000
MAX_CASES = 100
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


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
    """One test that did not pass, with a short message."""

    __test__ = False  # not a pytest test class

    name: str
    outcome: Outcome
    message: str


def output_lines(output: str) -> list[str]:
    """The output's lines without colour codes or trailing blanks."""
    return [line.rstrip() for line in _ANSI.sub("", output).splitlines()]


def parse_summary(output: str) -> Counts | None:
    """Counts from a runner's summary in the output, or None when no runner's summary is there."""
    lines = output_lines(output)
    for parser in _PARSERS:
        counts = parser(lines)
        if counts is not None:
            return counts
    return None


# -- words and numbers (pytest, cargo, Jest, Vitest) --------------------------------------------

_WORDS = {"passed": "passed", "xpassed": "passed", "failed": "failed", "error": "errors", "errors": "errors",
          "skipped": "skipped", "xfailed": "skipped", "ignored": "skipped", "pending": "skipped",
          "todo": "skipped"}
_PYTEST_WORDS = frozenset({"passed", "xpassed", "failed", "error", "errors", "skipped", "xfailed"})
_COUNT = re.compile(r"(\d+) ([a-z]+)")
_PYTEST = re.compile(r"^[=\s]*(\d+ [a-z]+(?:, \d+ [a-z]+)*)(?: in [\d.]+s\b.*)?[=\s]*$")
_NO_TESTS = re.compile(r"^[=\s]*no tests ran\b")
_CARGO = re.compile(r"^test result: \w+\. (.*)$")
_JEST = re.compile(r"^Tests:\s+(.*\d+ total)$")
_VITEST = re.compile(r"^\s*Tests\s{2,}(\d+ [a-z]+(?: \| \d+ [a-z]+)*)(?: \(\d+\))?$")


def _tally(text: str) -> Counts:
    found = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0}
    for number, word in _COUNT.findall(text):
        if word in _WORDS:
            found[_WORDS[word]] += int(number)
    return Counts(**found)


def _last(pattern: re.Pattern[str], lines: list[str]) -> re.Match[str] | None:
    return next((m for line in reversed(lines) if (m := pattern.match(line))), None)


def _pytest(lines: list[str]) -> Counts | None:
    """The last `== 2 failed, 10 passed in 0.5s ==` (or plain `N passed, N failed`) line."""
    for line in reversed(lines):
        if _NO_TESTS.match(line):
            return Counts()
        match = _PYTEST.match(line)
        if match and any(word in _PYTEST_WORDS for _, word in _COUNT.findall(match.group(1))):
            return _tally(match.group(1))
    return None


def _cargo(lines: list[str]) -> Counts | None:
    """`test result: FAILED. 3 passed; 1 failed; 1 ignored; ...`, summed over the test binaries and doc-tests."""
    results = [m.group(1) for line in lines if (m := _CARGO.match(line))]
    return sum((_tally(r) for r in results), Counts()) if results else None


def _jest(lines: list[str]) -> Counts | None:
    """`Tests:       1 failed, 2 skipped, 5 passed, 8 total`."""
    match = _last(_JEST, lines)
    return _tally(match.group(1)) if match else None


def _vitest(lines: list[str]) -> Counts | None:
    """`      Tests  1 failed | 2 passed | 1 skipped (4)` (the line under `Test Files`)."""
    match = _last(_VITEST, lines)
    return _tally(match.group(1)) if match else None


# -- unittest, Mocha, go ----------------------------------------------------------------------

_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in ")
_UNITTEST_END = re.compile(r"^(OK|FAILED)(?: \((.*)\))?\s*$")
_MOCHA = re.compile(r"^\s*(\d+) (passing|failing|pending)\b")
_GO_CASE = re.compile(r"^--- (PASS|FAIL|SKIP): ")
_GO_PACKAGE = re.compile(r"^(ok|FAIL)\s+\S+\s+(?:[\d.]+s|\(cached\))")
_GO_NO_TESTS = re.compile(r"^\?\s+\S+\s+\[no test files\]$")


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
    """`--- PASS: TestX` lines of `go test -v` (top level only), else `ok`/`FAIL` lines per package.

    Only `?  pkg  [no test files]` lines: no test ran.
    """
    cases = [m.group(1) for line in lines if (m := _GO_CASE.match(line))]
    if cases:
        return Counts(cases.count("PASS"), cases.count("FAIL"), 0, cases.count("SKIP"))
    packages = [m.group(1) for line in lines if (m := _GO_PACKAGE.match(line))]
    if packages:
        return Counts(packages.count("ok"), packages.count("FAIL"))
    return Counts() if any(_GO_NO_TESTS.match(line) for line in lines) else None


# -- Maven surefire, PHPUnit, RSpec, prove ------------------------------------------------------

_SUREFIRE = r"Tests run: (\d+), Failures: (\d+), Errors: (\d+), Skipped: (\d+)"
_MAVEN_TOTAL = re.compile(rf"^(?:\[\w+\] )?{_SUREFIRE}$")
_MAVEN_CLASS = re.compile(rf"^(?:\[\w+\] )?{_SUREFIRE}, Time elapsed")
_PHPUNIT_OK = re.compile(r"^OK \((\d+) tests?, \d+ assertions?\)$")
_PHPUNIT = re.compile(r"^Tests: (\d+), Assertions: \d+((?:, [A-Za-z ]+: \d+)*)\.$")
_PHPUNIT_NONE = re.compile(r"^No tests executed!$")
_RSPEC = re.compile(r"^(\d+) examples?, (\d+) failures?(?:, (\d+) pending)?"
                    r"(?:, (\d+) errors? occurred outside of examples)?$")
_PROVE_FILES = re.compile(r"^Files=\d+, Tests=(\d+), ")
_PROVE_FAILED = re.compile(r"^\S.*\(Wstat: .*Tests: \d+ Failed: (\d+)\)$")
_PROVE_PARSE_ERROR = re.compile(r"^\s+Parse errors: ")


def _maven(lines: list[str]) -> Counts | None:
    """The aggregate `Tests run: 5, Failures: 1, Errors: 0, Skipped: 1` after `Results:`, summed over modules.

    The per-class lines (`..., Time elapsed: 0.1 s -- in demo.CalcTest`) count only when no
    aggregate was printed (a build stopped between classes).
    """
    totals = [m for line in lines if (m := _MAVEN_TOTAL.match(line))]
    found = totals or [m for line in lines if (m := _MAVEN_CLASS.match(line))]
    counts = Counts()
    for match in found:
        run, failures, errors, skipped = (int(group) for group in match.groups())
        counts += Counts(max(run - failures - errors - skipped, 0), failures, errors, skipped)
    return counts if found else None


def _phpunit(lines: list[str]) -> Counts | None:
    """`OK (5 tests, 9 assertions)`, or `Tests: 5, Assertions: 9, Errors: 1, Failures: 1, Skipped: 1.`."""
    for line in reversed(lines):
        if match := _PHPUNIT_OK.match(line):
            return Counts(passed=int(match.group(1)))
        if _PHPUNIT_NONE.match(line):
            return Counts()
        if match := _PHPUNIT.match(line):
            detail = {key.strip().lower(): int(value) for key, value in re.findall(r", ([A-Za-z ]+): (\d+)",
                                                                                   match.group(2))}
            failed, errors = detail.get("failures", 0), detail.get("errors", 0)
            skipped = detail.get("skipped", 0) + detail.get("incomplete", 0)
            return Counts(max(int(match.group(1)) - failed - errors - skipped, 0), failed, errors, skipped)
    return None


def _rspec(lines: list[str]) -> Counts | None:
    """`3 examples, 1 failure, 1 pending` (and `, 1 error occurred outside of examples` when files failed to load)."""
    match = _last(_RSPEC, lines)
    if match is None:
        return None
    examples, failures = int(match.group(1)), int(match.group(2))
    pending, outside = int(match.group(3) or 0), int(match.group(4) or 0)
    return Counts(max(examples - failures - pending, 0), failures, outside, pending)


def _prove(lines: list[str]) -> Counts | None:
    """`Files=2, Tests=4, ...` with the `Tests: 3 Failed: 1` of each failing file in the summary report."""
    match = _last(_PROVE_FILES, lines)
    if match is None:
        return None
    failed = sum(int(m.group(1)) for line in lines if (m := _PROVE_FAILED.match(line)))
    errors = sum(1 for line in lines if _PROVE_PARSE_ERROR.match(line))
    return Counts(max(int(match.group(1)) - failed, 0), failed, errors)


# -- TAP (node --test, perl, and any TAP producer) ----------------------------------------------

_NODE_COUNT = re.compile(r"^[#ℹ] (tests|pass|fail|cancelled|skipped|todo) (\d+)$")
_TAP_PLAN = re.compile(r"^1\.\.(\d+)\b")
_TAP_LINE = re.compile(r"^( *)(not )?ok\b(?: \d+)?(?: -)?(.*?)(?:\s+#\s*(skip|todo)\b.*)?$", re.IGNORECASE)
_TAP_VERSION = re.compile(r"^TAP version \d+$")


def _node(lines: list[str]) -> Counts | None:
    """node's test runner: `# pass 3`, `# fail 1`, ... after a TAP run (`ℹ pass 3` with the spec reporter).

    Node counts every test, subtests included; `cancelled` tests (stopped by a timeout or a
    failing parent) count as errors, `todo` as skipped.
    """
    found: dict[str, int] = {}
    for line in lines:
        if match := _NODE_COUNT.match(line):
            found[match.group(1)] = found.get(match.group(1), 0) + int(match.group(2))
    if "pass" not in found or "fail" not in found:
        return None
    return Counts(found["pass"], found["fail"], found.get("cancelled", 0),
                  found.get("skipped", 0) + found.get("todo", 0))


def _tap(lines: list[str]) -> Counts | None:
    """Top-level `ok`/`not ok` lines of TAP (with a plan or a `TAP version` line, so stray "ok" output is not TAP).

    `# SKIP` and `# TODO` results count as skipped; planned tests that never reported count as errors.
    """
    results = [m for line in lines if (m := _TAP_LINE.match(line)) and not m.group(1)]
    plans = [int(m.group(1)) for line in lines if (m := _TAP_PLAN.match(line))]
    if not results or not (plans or any(_TAP_VERSION.match(line) for line in lines)):
        return None
    skipped = sum(1 for m in results if m.group(4))
    failed = sum(1 for m in results if m.group(2) and not m.group(4))
    missing = max(sum(plans) - len(results), 0)
    return Counts(len(results) - skipped - failed, failed, missing, skipped)


def tap_failures(output: str) -> list[TestCase]:
    """The `not ok` tests of TAP output (any depth, TODO excepted), each with its diagnostics.

    The message is the `#` lines just above the result (where node puts what a test file
    printed before it died) and the YAML block or `#` lines below it (the assertion).
    """
    lines = output_lines(output)
    cases: list[TestCase] = []
    for i, line in enumerate(lines):
        match = _TAP_LINE.match(line)
        if not match or not match.group(2) or (match.group(4) or "").lower() == "todo":
            continue
        indent = match.group(1)
        text = "\n".join([*_comments_above(lines, i, indent), *_diagnostics_below(lines, i, indent)])
        cases.append(TestCase(match.group(3).strip() or f"test {len(cases) + 1}", "failed", _head(text)))
        if len(cases) == MAX_CASES:
            break
    return cases


def _is_comment(line: str, indent: str) -> bool:
    rest = line[len(indent):]
    return line.startswith(indent) and rest.startswith("#") and not rest.startswith("# Subtest:")


def _comments_above(lines: list[str], i: int, indent: str) -> list[str]:
    start = i
    while start > 0 and (_is_comment(lines[start - 1], indent) or lines[start - 1].startswith(f"{indent}# Subtest:")):
        start -= 1
    return [line.strip() for line in lines[start:i] if _is_comment(line, indent)]


def _diagnostics_below(lines: list[str], i: int, indent: str) -> list[str]:
    """The YAML block (without its `---`/`...` markers and the duration) or `#` lines after a result."""
    below = []
    for line in lines[i + 1:]:
        if not (line.startswith(indent + " ") or _is_comment(line, indent) or not line):
            break
        if line.strip() not in ("---", "...") and not line.strip().startswith("duration_ms:"):
            below.append(line[len(indent):])
    return below


def _head(text: str) -> str:
    """The start of a message (TAP diagnostics lead with the error, the stack follows), within 2000 characters."""
    text = text.strip()
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS - 1] + "…"


# -- a command that failed before any test ran ------------------------------------------------

# What the output shows when the command failed before running a test, each said in fixed words
# (never the output's own, which is the repository's). The first that matches names it.
_BEFORE_TESTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"command not found|^(?:/bin/)?(?:ba|da)?sh: \d+: .*: not found$", re.M), "command not found"),
    (re.compile(r"No rule to make target"), "make has no such target"),
    (re.compile(r"Missing script: |missing script: "), "npm has no such script"),
    (re.compile(r"ERROR collecting |errors? during collection"), "the tests could not be collected"),
    (re.compile(r"\b(?:ModuleNotFoundError|ImportError)\b|Cannot find (?:module|package) |"
                r"ERR_MODULE_NOT_FOUND|\bMODULE_NOT_FOUND\b|cannot load such file"), "a module could not be imported"),
    (re.compile(r"could not compile `|COMPILATION ERROR|\[build failed\]|\[setup failed\]|"
                r"^error TS\d+:", re.M), "the build failed"),
    (re.compile(r"Unsupported engine|UnsupportedClassVersionError|requires (?:a different )?[Pp]ython|"
                r"requires rustc \d|is not supported by this version"), "a required version is missing"),
    (re.compile(r"\bSyntaxError\b"), "a syntax error"),
    (re.compile(r"\bno test files\b|No tests found|[Nn]o tests to run"), "no test files were found"),
)
_BY_EXIT = {126: "the command could not be executed", 127: "command not found"}


def failed_before_tests(output: str, exit_code: int) -> str:
    """Why a command that counted no test and exited `exit_code` failed before any test ran, or "".

    Read from the output's end (where the failure is), or from the shell's exit codes 126 and 127.
    """
    tail = "\n".join(output_lines(output[-20_000:]))
    found = next((why for pattern, why in _BEFORE_TESTS if pattern.search(tail)), "")
    return found or _BY_EXIT.get(exit_code, "")


_PARSERS: tuple[Callable[[list[str]], Counts | None], ...] = (
    _cargo, _maven, _phpunit, _jest, _vitest, _rspec, _node, _prove, _pytest, _unittest, _mocha, _go, _tap)
