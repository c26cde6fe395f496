"""Final answers as models really write them: reasoning first, fences, prose around, examples, cut-offs."""

from __future__ import annotations

import json

import pytest

from bot.agents.coder import CoderReport
from bot.models.parsing import parse_answer, without_reasoning
from bot.runs.plan import Plan
from tests.world import SAMPLE_PLAN

PLAN = json.dumps(SAMPLE_PLAN, indent=2)
REPORT = '{"summary": "Split on any whitespace.", "notes": ""}'

R1_DISTILL = (  # DeepSeek-R1 distills: a closed think block, then the answer in a fence
    "<think>\nOkay, so I need to plan a fix for word_count. The user says `word_count('a  b')` returns 3.\n"
    "Looking at textstats/__init__.py, it does text.split(\" \"). I should answer with JSON like "
    '{"title": "..."}.\nWait, the schema also needs steps and files. Let me write it.\n</think>\n\n'
    f"```json\n{PLAN}\n```")
QWEN3_TEMPLATE_OPENED = (  # Qwen3 / R1 chat templates put "<think>\n" in the prompt: the reply has only its end
    "Let me think about which files change. The function is in textstats/__init__.py and the tests are "
    "in tests/test_textstats.py {maybe more}.\n</think>\n\n" + PLAN)
UNCLOSED = "<think>\nThe plan is simple.\n\n" + PLAN  # the model never closed its reasoning
PROSE_AND_FENCE = ("Sure! Here is the plan for the issue:\n\n```json\n" + PLAN + "\n```\n\n"
                   "Let me know if you want me to change anything.")
EXAMPLE_FIRST = ('The answer has the form {"summary": ..., "notes": ...}; for example {"notes": "x"}. '
                 "Mine:\n```\n" + REPORT + "\n```")


@pytest.mark.parametrize("reply", [R1_DISTILL, QWEN3_TEMPLATE_OPENED, UNCLOSED, PROSE_AND_FENCE],
                         ids=["r1-think-then-fence", "qwen3-think-end-only", "unclosed-think", "prose-and-fence"])
def test_the_plan_is_found_in_what_models_really_write(reply: str) -> None:
    plan, problem = parse_answer(Plan, reply)
    assert problem == "" and plan is not None and plan.model_dump(mode="json") == Plan.model_validate(
        SAMPLE_PLAN).model_dump(mode="json")


def test_the_first_object_that_validates_wins_over_examples_before_it() -> None:
    report, _ = parse_answer(CoderReport, EXAMPLE_FIRST)
    assert report is not None and report.summary == "Split on any whitespace."


def test_objects_nested_in_a_wrong_object_are_not_taken_for_the_answer() -> None:
    report, problem = parse_answer(CoderReport, '{"result": ' + REPORT + "}")
    assert report is not None  # the inner object is complete and valid: taken
    plan, problem = parse_answer(Plan, '{"plan": {"title": "only a title"}}')
    assert plan is None and "Field required" in problem  # the first object's problem is the one reported


@pytest.mark.parametrize(("reply", "said"), [
    ("", "the reply was empty"),
    ("<think>\nI am not sure what to do.\n</think>\n", "empty apart from its reasoning"),
    ("I cannot help with that.", "holds no complete JSON object"),
    ('{"title": "Count words", "summary": "word_count spl',
     "holds no complete JSON object (it looks cut off: Unterminated string"),
])
def test_replies_without_an_answer_say_why(reply: str, said: str) -> None:
    plan, problem = parse_answer(Plan, reply)
    assert plan is None and said in problem


def test_reasoning_is_removed_and_the_rest_kept() -> None:
    assert without_reasoning("<think>a</think>b<THINK>c</THINK>d").strip() == "bd"
    assert without_reasoning("reasoning {x}\n</think>\nanswer") == "\nanswer"
    assert without_reasoning("<think>\nanswer") == "\nanswer"
