"""The answer/refusal trade-off curve of `vraagbaak eval answers`: replayed from each answer's
confidence, with an LLM check's "no" standing at every threshold; none for LLM-written answers."""

from __future__ import annotations

from pathlib import Path

from eval.answers import AnswerEvaluation, ItemResult, tradeoff_curve, write_answer_results


def _item(n: int, answerable: bool, confidence: float, answered: bool, reason: str | None = None,
          generator: str = "extractive") -> ItemResult:
    return ItemResult(f"q{n}", f"question {n}", answerable, answered, confidence, [], None, None, 10.0, "", None,
                      None, reason, None, None, generator)


ITEMS = [
    _item(1, True, 0.70, True), _item(2, True, 0.50, True), _item(3, True, 0.45, False, "model_declined"),
    _item(4, True, 0.30, False, "low_evidence"),
    _item(5, False, 0.65, False, "model_declined"), _item(6, False, 0.48, True), _item(7, False, 0.20, False,
                                                                                      "low_evidence"),
]


def test_the_curve_counts_an_llm_no_as_a_refusal_at_every_threshold() -> None:
    curve = {t: (a, r) for t, a, r in tradeoff_curve(ITEMS, (0.40, 0.46, 0.49, 0.60))}
    assert curve[0.40] == (0.5, 0.667)  # q1, q2 answered; q3 declined; q5 declined, q7 low
    assert curve[0.46] == (0.5, 0.667)
    assert curve[0.49] == (0.5, 1.0)  # q6 (0.48) now refused too
    assert curve[0.60] == (0.25, 1.0)


def test_llm_written_answers_get_no_curve(tmp_path: Path) -> None:
    def write(items: list[ItemResult], name: str) -> str:
        result = AnswerEvaluation(name, len(items), 0.5, 0.5, 1.0, 0.5, 10.0, 10.0, items)
        return write_answer_results(result, tmp_path)[1].read_text(encoding="utf-8")

    assert "Trade-off" in write(ITEMS, "extractive")
    llm = [_item(n, i.answerable, 0.0, i.answered, i.refusal_reason, "llm") for n, i in enumerate(ITEMS)]
    assert "Trade-off" not in write(llm, "llm")
