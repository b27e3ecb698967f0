"""Language detection, sentence splitting and BM25 terms for Dutch and English."""

from __future__ import annotations

import pytest

from core.language import detect_language
from core.lexical import BM25Encoder, term_index, terms
from core.sentences import split_sentences


@pytest.mark.parametrize("text,expected", [
    ("Hoeveel vakantiedagen heb ik?", "nl"),
    ("Hoe vraag ik verlof aan?", "nl"),
    ("How many vacation days do I get?", "en"),
    ("What is the visitor policy?", "en"),
    ("Een medewerker met een volledig dienstverband heeft recht op 25 vakantiedagen.", "nl"),
])
def test_language_of_questions_and_passages(text: str, expected: str) -> None:
    assert detect_language(text) == expected


def test_sentences_respect_abbreviations_and_keep_spans() -> None:
    text = "Je krijgt o.a. een laptop, bijv. een ThinkPad. De vergoeding is €0,23 per km. Zie art. 3.1!"
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == [
        "Je krijgt o.a. een laptop, bijv. een ThinkPad.", "De vergoeding is €0,23 per km.", "Zie art. 3.1!"]
    assert all(text[s.start:s.end] == s.text for s in sentences)


def test_dutch_terms_are_stemmed_without_stopwords() -> None:
    assert terms("De vakantiedagen van de medewerkers", "nl") == terms("vakantiedagen medewerker", "nl")
    assert "de" not in terms("de het een", "nl")


def test_query_vector_contains_both_languages_stems() -> None:
    encoder = BM25Encoder()
    vector = encoder.encode_query("holidays", "en")
    assert term_index(terms("holidays", "en")[0]) in vector.indices
    weights = dict(zip(vector.indices, vector.values, strict=True))
    assert weights[term_index(terms("holidays", "en")[0])] == 1.0


def test_document_weights_saturate_with_term_frequency() -> None:
    encoder = BM25Encoder()
    once = encoder.encode_document("verlof aanvragen", "nl")
    many = encoder.encode_document("verlof verlof verlof verlof aanvragen", "nl")
    index = term_index(terms("verlof", "nl")[0])
    w_once = dict(zip(once.indices, once.values, strict=True))[index]
    w_many = dict(zip(many.indices, many.values, strict=True))[index]
    assert w_once < w_many < w_once * 4
