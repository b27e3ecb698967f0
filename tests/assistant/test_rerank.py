"""Rerankers: the sentence-transformers cross-encoder plumbing (with a tiny model this test makes
and saves itself: no cross-encoder weights are on PyPI), the LLM reranker against the real
llama.cpp server with SmolLM2 (plumbing: SmolLM2 rates badly) and against a scripted fake server
for its parsing, timeout and fall-back; the settings and `eval run` plumbing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.llm_server import LlamaServer
from assistant.rerank import (
    CrossEncoderReranker,
    LLMReranker,
    build_reranker,
    order_by,
    parse_ratings,
    rerank_top,
)
from core.errors import VraagbaakError
from core.settings import LLMSettings, RetrievalSettings, Settings
from core.types import Hit, Passage
from eval.runs import configured, parse_config
from tests.assistant.fake_llm import ScriptedLLMServer

TEXTS = [
    "The canteen is open from 11:30 to 14:00 and lunch is free for employees.",
    "Visitors must sign in at the reception desk and wear a badge.",
    "Employees park in garage P2; visitors park in front of the main entrance.",
    "The bicycle allowance is 12 cents per kilometre, paid monthly.",
    "Holidays: full-time employees get 25 days of leave a year.",
]


def _hits(texts: list[str] = TEXTS) -> list[Hit]:
    return [Hit(Passage(chunk_id=f"chunk-{i}", doc_id=f"doc-{i}", version="v1", title=f"Page {i}", uri=f"{i}.md",
                        media_type="text/markdown", source_id="handbook", section_path=(), page=None, text=text,
                        language="en", start=0, end=len(text), ordinal=0, groups=("everyone",)),
                score=1.0 / i, dense_score=0.9, rank=i)
            for i, text in enumerate(texts, start=1)]


# ------------------------------------------------------------------------------ ordering


def test_order_by_sorts_by_score_and_keeps_ties_in_their_order() -> None:
    hits = _hits()
    assert [h.passage.chunk_id for h in order_by(hits, [0.1, 0.9, 0.1, 0.5, 0.9])] == [
        "chunk-2", "chunk-5", "chunk-4", "chunk-1", "chunk-3"]
    assert order_by([], []) == []


class ReversingReranker:
    """A stand-in reranker that reverses its input (to test rerank_top's bookkeeping)."""

    name = "reverse"

    def rerank(self, question: str, hits: list[Hit]) -> list[Hit]:
        return list(reversed(hits))


def test_rerank_top_reorders_only_the_top_n_and_re_ranks() -> None:
    hits = _hits()
    out = rerank_top(ReversingReranker(), "q", hits, 3)
    assert [h.passage.chunk_id for h in out] == ["chunk-3", "chunk-2", "chunk-1", "chunk-4", "chunk-5"]
    assert [h.rank for h in out] == [1, 2, 3, 4, 5]
    assert rerank_top(ReversingReranker(), "q", [], 3) == []


# ------------------------------------------------------------------------------ cross-encoder


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny test-made cross-encoder (BERT, 2 layers, hidden size 32, random weights from a fixed
    seed, a word-level vocabulary of this file's texts): real plumbing, meaningless relevance."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    folder = tmp_path_factory.mktemp("tiny-cross-encoder")
    words = sorted({w.strip(".,:;?").lower() for t in [*TEXTS, "where do visitors park when is lunch"] for w in t.split()})
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    tokenizer = BertTokenizer(str(folder / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(7)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=1)
    model = BertForSequenceClassification(config)
    with torch.no_grad():  # spread the scores so the order is clear
        model.classifier.weight.mul_(50)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_the_cross_encoder_orders_passages_by_its_own_scores(tiny_cross_encoder: Path) -> None:
    reranker = CrossEncoderReranker(tiny_cross_encoder, batch_size=2)
    hits = _hits()
    scores = reranker.scores("where do visitors park", hits)
    assert len(scores) == len(hits) and len(set(scores)) == len(scores)  # distinct: the order is defined
    expected = [hits[i].passage.chunk_id for i in sorted(range(len(hits)), key=lambda i: -scores[i])]
    first = reranker.rerank("where do visitors park", hits)
    assert [h.passage.chunk_id for h in first] == expected
    assert expected != [h.passage.chunk_id for h in hits]  # it did reorder
    again = CrossEncoderReranker(tiny_cross_encoder, batch_size=5).rerank("where do visitors park", hits)
    assert [h.passage.chunk_id for h in again] == expected  # same model, another batch size: same order
    assert reranker.rerank("where do visitors park", []) == []


def test_the_cross_encoder_truncates_long_passages(tiny_cross_encoder: Path) -> None:
    reranker = CrossEncoderReranker(tiny_cross_encoder, max_length=16)
    long = "visitors park " + " ".join(["lunch"] * 2000)  # far past the model's 128 positions
    other = "visitors park " + " ".join(["lunch"] * 40)
    a, b = reranker.scores("where do visitors park", _hits([long, other]))
    assert a == pytest.approx(b, abs=1e-5)  # both cut to the same first 16 tokens


def test_a_cross_encoder_folder_without_a_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(VraagbaakError, match="no config.json"):
        CrossEncoderReranker(tmp_path)
    with pytest.raises(VraagbaakError, match="RERANKER_MODEL"):
        build_reranker(RetrievalSettings(reranker="cross-encoder"), LLMSettings())


def test_build_reranker_follows_the_setting(tiny_cross_encoder: Path) -> None:
    assert build_reranker(RetrievalSettings(), LLMSettings()) is None
    built = build_reranker(RetrievalSettings(reranker="cross-encoder", reranker_model=tiny_cross_encoder), LLMSettings())
    assert isinstance(built, CrossEncoderReranker)
    with pytest.raises(VraagbaakError, match="LLM_BASE_URL"):
        build_reranker(RetrievalSettings(reranker="llm"), LLMSettings())
    assert isinstance(build_reranker(RetrievalSettings(reranker="llm"), LLMSettings(base_url="http://127.0.0.1:9/v1")),
                      LLMReranker)


# ------------------------------------------------------------------------------ LLM: parsing and failures


@pytest.mark.parametrize(("text", "ratings"), [
    ("[1] 0\n[2] 3\n[3] 1", {0: 0, 1: 3, 2: 1}),
    ("1: 2\n2: 0\n7: 3", {0: 2, 1: 0}),  # a number it was not given is ignored
    ("[2] rating: 3\n[2] 0", {1: 3}),  # the first rating of a passage counts
    ("I cannot rate these.", {}),
])
def test_llm_ratings_are_parsed(text: str, ratings: dict[int, int]) -> None:
    assert parse_ratings(text, 3) == ratings


def _llm_reranker(server: ScriptedLLMServer | str, timeout_s: float = 10.0) -> LLMReranker:
    url = server if isinstance(server, str) else f"http://127.0.0.1:{server.server_address[1]}/v1"
    return LLMReranker(LLMSettings(base_url=url, model="fake"), timeout_s)


def test_the_llm_reranker_orders_by_the_ratings(scripted: Callable[..., ScriptedLLMServer]) -> None:
    server = scripted("[1] 1\n[2] 0\n[3] 3\n[4] 1\n[5] 0")
    out = _llm_reranker(server).rerank("Where do visitors park?", _hits())
    assert [h.passage.chunk_id for h in out] == ["chunk-3", "chunk-1", "chunk-4", "chunk-2", "chunk-5"]
    prompt = server.prompts[0]
    assert "Where do visitors park?" in prompt and "[5] Page 5: Holidays" in prompt


def test_the_llm_reranker_keeps_the_order_when_the_server_answers_nonsense(scripted: Callable[..., ScriptedLLMServer]) -> None:
    hits = _hits()
    assert _llm_reranker(scripted("Sure! Here are my thoughts.")).rerank("q", hits) == hits


def test_the_llm_reranker_keeps_the_order_when_the_server_is_down() -> None:
    hits = _hits()
    started = time.monotonic()
    assert _llm_reranker("http://127.0.0.1:9/v1").rerank("q", hits) == hits
    assert time.monotonic() - started < 5


def test_the_llm_reranker_gives_up_after_its_timeout(scripted: Callable[..., ScriptedLLMServer]) -> None:
    hits = _hits()
    server = scripted("[1] 0\n[2] 3", delay_s=10.0)
    started = time.monotonic()
    assert _llm_reranker(server, timeout_s=0.5).rerank("q", hits) == hits
    assert time.monotonic() - started < 5
    assert len(server.prompts) == 1  # asked once, no retries


def test_the_llm_reranker_leaves_fewer_than_two_hits_alone() -> None:
    reranker = _llm_reranker("http://127.0.0.1:9/v1")
    assert reranker.rerank("q", []) == [] and len(reranker.rerank("q", _hits()[:1])) == 1


# ------------------------------------------------------------------------------ LLM: the real server


def test_the_llm_reranker_returns_the_same_passages_from_a_real_server(smollm2_server: LlamaServer) -> None:
    hits = _hits()
    reranker = LLMReranker(LLMSettings(base_url=smollm2_server.base_url, model="smollm2"), timeout_s=60)
    started = time.monotonic()
    out = reranker.rerank("Where do visitors park?", hits)
    assert time.monotonic() - started < 60
    assert sorted(h.passage.chunk_id for h in out) == sorted(h.passage.chunk_id for h in hits)  # a permutation


# ------------------------------------------------------------------------------ eval run


def test_eval_configs_take_the_reranker_and_the_passage_options(base_settings: Settings, tiny_cross_encoder: Path) -> None:
    config = parse_config("ce=reranker=cross-encoder,rerank_n=5,dedupe=off,merge=on,generator=none")
    assert (config.reranker, config.rerank_n, config.dedupe, config.merge) == ("cross-encoder", 5, False, True)
    with_model = base_settings.model_copy(update={"retrieval": base_settings.retrieval.model_copy(
        update={"reranker_model": tiny_cross_encoder})})
    retrieval = configured(with_model, config).retrieval
    assert (retrieval.reranker, retrieval.rerank_top_n, retrieval.dedupe, retrieval.merge_neighbours) == (
        "cross-encoder", 5, False, True)
    assert configured(base_settings, parse_config("plain")).retrieval.dedupe == base_settings.retrieval.dedupe
    for bad, why in (("x=reranker=bge", "no reranker"), ("x=dedupe=maybe", "on or off"), ("x=rerank_n=0", "1..100")):
        with pytest.raises(VraagbaakError, match=why):
            parse_config(bad)
    with pytest.raises(VraagbaakError, match="RERANKER_MODEL"):
        configured(base_settings.model_copy(update={"retrieval": base_settings.retrieval.model_copy(
            update={"reranker_model": None})}), parse_config("ce=reranker=cross-encoder"))
    with pytest.raises(VraagbaakError, match="reranker=llm needs LLM_BASE_URL"):
        configured(base_settings, parse_config("l=reranker=llm,generator=none"))
