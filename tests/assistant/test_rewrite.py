"""Follow-up questions rewritten by a real LLM (SmolLM2 on llama.cpp), with the rule as the fall-back
whenever the model is down, slow or writes something that is not a rewrite of the question."""

from __future__ import annotations

import pytest

from assistant.conversation import standalone_question
from assistant.llm_server import LlamaServer
from assistant.rewrite import LLMRewriter, acceptable, may_lean_on_history
from core.settings import LLMSettings
from tests.web.support import free_port

HISTORY = ["How many vacation days do I get?"]


def test_only_a_line_that_rewrites_this_question_is_accepted() -> None:
    question = "and for part-timers?"
    good = "How many vacation days do part-timers get?"
    assert acceptable(good, question, HISTORY, "en") == good
    assert acceptable(f"Rewritten question: \"{good}\"", question, HISTORY, "en") == good
    assert acceptable("Sure! Here is the question:\n" + good, question, HISTORY, "en") is None  # two lines
    assert acceptable("What is the capital of France?", question, HISTORY, "en") is None  # another question
    assert acceptable("How many vacation days do I get?", question, HISTORY, "en") is None  # the point is lost
    assert acceptable("", question, HISTORY, "en") is None
    assert acceptable("vacation " * 200, question, HISTORY, "en") is None  # rambling
    assert acceptable("Hoeveel vakantiedagen krijgen parttimers?", "en voor parttimers?",
                      ["Hoeveel vakantiedagen heb ik?"], "nl") == "Hoeveel vakantiedagen krijgen parttimers?"


def test_standalone_questions_cost_no_llm_call() -> None:
    assert may_lean_on_history("en voor parttimers?") and may_lean_on_history("What about that?")
    assert not may_lean_on_history("Hoeveel dagen thuiswerken per week zijn toegestaan volgens het beleid van 2025?")


def test_server_down_falls_back_to_the_rule() -> None:
    rewriter = LLMRewriter(LLMSettings(base_url=f"http://127.0.0.1:{free_port()}/v1", timeout_s=5))
    question = "en als ik parttime werk?"
    history = ["Hoeveel vakantiedagen heb ik?"]
    assert rewriter.rewrite(question, history) == standalone_question(question, history)
    assert rewriter.last_source == "rule"
    assert rewriter.rewrite("Hoeveel vakantiedagen heb ik?", []) == "Hoeveel vakantiedagen heb ik?"
    assert rewriter.last_source == "none"


@pytest.mark.slow
def test_a_real_model_rewrites_or_the_rule_stands_in(smollm2_server: LlamaServer) -> None:
    rewriter = LLMRewriter(LLMSettings(base_url=smollm2_server.base_url, model="smollm2", timeout_s=60))
    result = rewriter.rewrite("and for part-timers?", HISTORY)
    assert rewriter.last_source in ("llm", "rule")
    if rewriter.last_source == "llm":  # the model's line passed the checks: it is about this thread
        assert "\n" not in result and acceptable(result, "and for part-timers?", HISTORY, "en") == result
    else:
        assert result == standalone_question("and for part-timers?", HISTORY)
    assert result != "and for part-timers?"  # either way the question now stands on its own
