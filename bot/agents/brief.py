"""What every implementing agent is told: the issue and the approved plan (restated each phase)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.agents.prompting import untrusted
from bot.runs.issue import IssueInfo
from bot.runs.plan import Plan


@dataclass(frozen=True)
class Brief:
    """The goal of an implement run, handed from agent to agent."""

    repo: str
    branch: str
    base_sha: str
    issue: IssueInfo
    plan: Plan
    version: int
    plan_hash: str
    test_command: str = ""
    guidance: str = ""  # the repository's instructions (.github/issuesmith.yml, AGENTS.md)

    def plan_text(self) -> str:
        """The plan as readable text for prompts."""
        p = self.plan
        steps = "\n".join(f"{i}. {s}" for i, s in enumerate(p.steps, 1))
        files = "\n".join(f"- {f.path} ({f.action}): {f.reason}" for f in p.files)
        return untrusted(f"{p.title}\n\n{p.summary}\n\nSteps:\n{steps}\n\nFiles:\n{files}\n\n"
                         f"Testing: {p.test_strategy}")

    def criteria_text(self) -> str:
        """The acceptance criteria as a list."""
        return untrusted("\n".join(f"- {c}" for c in self.plan.acceptance_criteria))

    def issue_fields(self) -> dict[str, str]:
        """Template fields describing the issue, made safe to quote."""
        return {"number": str(self.issue.number), "author": untrusted(self.issue.author),
                "title": untrusted(self.issue.title), "body": untrusted(self.issue.body or "(no description)")}
