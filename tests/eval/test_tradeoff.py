"""The answer/refusal trade-off curves of `vraagbaak eval answers`: over `min_relevance`, replayed from
each answer's confidence; with the LLM answer check, over its bar, replayed from the confidence and
the LLM's probability of YES; none for LLM-written answers."""

from __future__ import annotations

import math
from pathlib import Path

from eval.answers import AnswerEvaluation, ItemResult, check_curve, tradeoff_curve, write_answer_results


def _item(n: int, answerable: bool, confidence: float, answered: bool, reason: str | None = None,
          generator: str = "extractive", p_yes: float | None = None) -> ItemResult:
    return ItemResult(f"q{n}", f"question {n}", answerable, answered, confidence, [], None, None, 10.0, "", None,
                      None, reason, None, None, generator, p_yes)


ITEMS = [
    _item(1, True, 0.70, True), _item(2, True, 0.50, True), _item(3, True, 0.45, False, "low_evidence"),
    _item(4, True, 0.30, False, "low_evidence"),
    _item(5, False, 0.65, True), _item(6, False, 0.48, True), _item(7, False, 0.20, False, "low_evidence"),
]


def test_the_curve_answers_exactly_the_questions_whose_confidence_reaches_the_threshold() -> None:
    curve = {t: (a, r) for t, a, r in tradeoff_curve(ITEMS, (0.40, 0.46, 0.49, 0.60))}
    assert curve[0.40] == (0.75, 0.333)  # q1, q2, q3 answered; q7 refused
    assert curve[0.46] == (0.5, 0.333)
    assert curve[0.49] == (0.5, 0.667)  # q6 (0.48) now refused too
    assert curve[0.60] == (0.25, 0.667)


def _odds(p: float) -> float:
    return math.log(p / (1 - p))


CHECKED = [  # confidence + 0.2 · log-odds(P(YES)) is the score against the bar
    _item(1, True, 0.60, True, p_yes=0.9),  # 0.60 + 0.2·2.197 = 1.039
    _item(2, True, 0.45, True, p_yes=0.95),  # 0.45 + 0.589 = 1.039: lifted over the threshold by the LLM
    _item(3, True, 0.70, False, "model_declined", p_yes=0.2),  # 0.70 − 0.277 = 0.423
    _item(4, True, 0.10, False, "low_evidence"),  # under the floor: not asked, refused at every bar
    _item(5, False, 0.80, False, "model_declined", p_yes=0.3),  # 0.80 − 0.169 = 0.631
    _item(6, False, 0.55, True, p_yes=0.8),  # 0.55 + 0.277 = 0.827
]


def test_a_checked_run_has_its_curve_over_the_checks_bar() -> None:
    assert all(abs(0.2 * _odds(p) - d) < 1e-3 for p, d in [(0.9, 0.439), (0.2, -0.277), (0.3, -0.169)])
    curve = {t: (a, r) for t, a, r in check_curve(CHECKED, 0.2, (0.4, 0.65, 0.85, 1.1))}
    assert curve[0.4] == (0.75, 0.0)  # q1, q2, q3 (0.423) answered; q5 and q6 answered
    assert curve[0.65] == (0.5, 0.5)  # q3 out; q5 (0.631) refused
    assert curve[0.85] == (0.5, 1.0)  # q6 (0.827) refused
    assert curve[1.1] == (0.0, 1.0)


def test_each_run_gets_the_curve_that_describes_it(tmp_path: Path) -> None:
    def write(items: list[ItemResult], name: str, weight: float | None = None) -> str:
        result = AnswerEvaluation(name, len(items), 0.5, 0.5, 1.0, 0.5, 10.0, 10.0, items, llm_check_weight=weight)
        return write_answer_results(result, tmp_path)[1].read_text(encoding="utf-8")

    plain = write(ITEMS, "extractive")
    assert "| threshold |" in plain and "bar" not in plain
    checked = write(CHECKED, "checked", 0.2)
    assert "| bar |" in checked and "| 0.70 | 0.500 | 0.500 |" in checked  # the default bar's row
    llm = [_item(n, i.answerable, 0.0, i.answered, i.refusal_reason, "llm") for n, i in enumerate(ITEMS)]
    assert "Trade-off" not in write(llm, "llm")
