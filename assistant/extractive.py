"""The extractive generator: the answer is the sentences from the retrieved passages that best
answer the question, in reading order, each cited. Works offline, needs no LLM, and every
sentence shown is a literal quote from a source.

A sentence's evidence combines its embedding similarity to the question, the similarity of its
passage, and how many of the question's key terms it (with its section heading) contains. When
the best evidence is weak, the assistant refuses and offers the closest documents instead.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from assistant.cite import citation, suggestions
from assistant.messages import language_name, message
from assistant.retrieve import Retrieval
from assistant.verify import LLMAnswerCheck
from core.embedding import Embedder
from core.lexical import terms
from core.logging import kv
from core.sentences import split_sentences
from core.settings import AnswerSettings
from core.types import Answer, AnswerSentence, Citation, Hit

log = logging.getLogger(__name__)

# e5 cosine similarities live in a narrow band; these map them onto 0..1.
_COS_FLOOR, _COS_CEIL = 0.78, 0.92
_MAX_PASSAGES = 3  # candidate sentences come from the top 3 passages (precision and latency; docs/assistant.md)
# Evidence weights, fitted on the demo question set (docs/assistant.md has the trade-off curve).
_W_SENTENCE, _W_PASSAGE, _W_COVERAGE = 0.6, 0.1, 0.3
_REDUNDANT = 0.7  # word overlap (Jaccard) from which two sentences count as saying the same
_MORE_SAME_PASSAGE = 0.12  # how far below the best a further sentence of the same passage may score
_MORE_OTHER_PASSAGE = 0.04  # ... and one of another passage
# BM25 alone agreeing on the top passage (Retrieval.agreement: 1) raises the evidence by half this,
# agreeing on its document only leaves it, disagreeing lowers it by half (docs/assistant.md:
# refusal); across languages it is neutral. Fitted on the demo set with the threshold.
_W_AGREEMENT = 0.3
# A sentence that cannot hold the kind of answer the question asks for (an amount for "hoeveel" /
# "how much", a time or period for "wanneer" / "when", a person or role for "wie" / "who") loses this
# much evidence: 1.0 means it is never the answer (docs/assistant.md: expected answer type; 0.15,
# 0.25 and 1.0 gave the same figures on the demo set, and only 1.0 refuses a close paraphrase).
_TYPE_PENALTY = 1.0

_ASKS_AMOUNT = re.compile(
    r"\b(hoeveel|hoe (hoog|duur|groot|veel)|wat kost|wat kosten|welk bedrag|welk percentage|"
    r"how (much|many|high|expensive)|what does\b.{0,40}\bcost|what amount|what percentage)\b", re.IGNORECASE)
_ASKS_TIME = re.compile(r"\b(wanneer|hoe laat|hoe lang|hoe snel|when|what time|how long|how soon|how quickly|"
                        r"until what time|by when)\b", re.IGNORECASE)
_ASKS_PERSON = re.compile(r"^\W*(wie|who|bij wie|aan wie|to whom)\b", re.IGNORECASE)
_AMOUNT = re.compile(
    r"\d|€|\$|%|\b(één|twee|drie|vier|vijf|zes|zeven|acht|negen|tien|elf|twaalf|twintig|dertig|veertig|vijftig|"
    r"honderd|duizend|half|halve|helft|gratis|kosteloos|volledig|one|two|three|four|five|six|seven|eight|nine|"
    r"ten|twelve|twenty|hundred|thousand|free|fully)\b", re.IGNORECASE)
_TIME = re.compile(
    r"\d|\b(januari|februari|maart|april|mei|juni|juli|augustus|september|oktober|november|december|january|"
    r"february|march|june|july|august|october|maandag|dinsdag|woensdag|donderdag|vrijdag|zaterdag|zondag|monday|"
    r"tuesday|wednesday|thursday|friday|saturday|sunday|dag|dagen|week|weken|maand|maanden|jaar|jaren|uur|uren|"
    r"minuut|minuten|kwartier|day|days|weeks|month|months|year|years|hour|hours|minute|minutes|voorjaar|najaar|"
    r"zomer|winter|kwartaal|spring|autumn|summer|quarter|direct|meteen|onmiddellijk|immediately|dagelijks|"
    r"wekelijks|maandelijks|jaarlijks|daily|weekly|monthly|annually|yearly|ochtend|middag|avond|morning|"
    r"afternoon|evening|werkdag|werkdagen|weekend|vandaag|morgen|today|tomorrow)\b", re.IGNORECASE)
_ROLE = re.compile(
    r"@|\b(leidinggevende|manager|teamleider|hr|servicedesk|officer|ciso|fg|functionaris|directeur|director|"
    r"directie|bestuurder|coördinator|coordinator|afdeling|department|team|receptie|reception|bhv|board|voorzitter|"
    r"chair|secretaris|adviseur|coach|arts|bedrijfsarts|buddy|gastheer|host|beheerder)\b", re.IGNORECASE)
_NAME = re.compile(r"\b[A-Z][a-zà-ÿ]+(?:\s+(?:van|de|der|den|el)?\s*[A-Z][a-zà-ÿ]+)+")

# The unit an amount question asks for ("hoeveel weken", "how many vacation days", "wat kost"); the
# answer's sentence must give a number in it (or an equivalent unit: leave is given in days or hours).
_UNIT_WORDS = {
    "day": "dag|dagen|days?", "hour": "uur|uren|hours?", "week": "weken|week|weeks?",
    "month": "maanden|maand|months?", "year": "jaren|jaar|years?", "minute": "minuten|minuut|minutes?",
    "percent": "procent|percent|percentage",
}
_ACCEPTED_UNITS = {"day": ("day", "hour"), "hour": ("hour", "day", "minute"), "minute": ("minute", "hour"),
                   "week": ("week",), "month": ("month",), "year": ("year",), "percent": ("percent",)}
_ASKS_UNIT = re.compile(r"\b(?:hoeveel|how many|how much)\s+(?:[\w-]+\s+){0,2}?[\w-]*?(?P<unit>"
                        + "|".join(f"(?P<{name}>{words})" for name, words in _UNIT_WORDS.items()) + r")\b",
                        re.IGNORECASE)
_ASKS_MONEY = re.compile(
    r"\b(wat kost|wat kosten|hoeveel kost|hoeveel kosten|hoe duur|welk bedrag|wat is de prijs|hoe hoog is de (boete|prijs)|"
    r"how expensive|what does\b.{0,40}\bcost|how much does\b.{0,40}\bcost|how much do\b.{0,40}\bcost|"
    r"what is the (price|fee|fine)|how much is the (price|fee|fine))\b", re.IGNORECASE)
_MONEY = re.compile(r"€|\$|%|\b(euro|eur|cent|procent|percent|gratis|kosteloos|niets|free|nothing|"
                    r"no charge|geen kosten)\b|\d+,\d{2}\b", re.IGNORECASE)
_COUNT = (r"(?:\d+(?:[.,]\d+)?|één|een|twee|drie|vier|vijf|zes|zeven|acht|negen|tien|elf|twaalf|twintig|dertig|"
          r"veertig|vijftig|honderd|half|halve|anderhalve|one|a|an|two|three|four|five|six|seven|eight|nine|ten|"
          r"eleven|twelve|twenty|thirty|forty|fifty|hundred)")
_NUMBER_IN = {unit: re.compile(rf"\b{_COUNT}\s*(?:[\w-]+\s+)?[\w-]*?(?:{words})\b" if unit != "percent"
                               else rf"\d\s*%|\b{_COUNT}\s*(?:{words})\b", re.IGNORECASE)
              for unit, words in _UNIT_WORDS.items()}


# What a question pins down that its answer must be about: a year ("in 2027"), a version ("versie 4.3",
# "MijnHR 4.2.1") or a code of letters and digits ("P1", "Q4"). A passage that names none of them is about
# another year, version or thing however close it reads ("wanneer komt versie 4.3" is not answered by
# "update naar versie 4.2"). Plain numbers are left out: "ik werk 32 uur" gives a parameter, not a subject;
# so are amounts and clock times ("1.000 euro", "om 17.30": a version's minor part has one digit here),
# and a year of the asker's own history ("geboren in 1965", "ik werk hier sinds 2019").
_SPECIFIC = re.compile(r"\b(?:(?:19|20)\d{2}|\d+\.\d(?:\.\d+)*|[^\W\d_]+\d+)\b")
_OWN_YEAR = re.compile(r"\b(?:geboren|born|begonnen|gestart|started|joined|in dienst(?: sinds)?|werkt? (?:hier )?sinds|"
                       r"(?:have )?worked (?:here )?since|employed since)(?:\s+(?:in|op|per|from|on))?\s*$", re.IGNORECASE)


def question_specifics(question: str) -> tuple[str, ...]:
    """The years, versions and codes a question names (`_SPECIFIC`), lower-cased, in order."""
    found = (m for m in _SPECIFIC.finditer(question)
             if not (m.group().isdigit() and _OWN_YEAR.search(question[:m.start()])))
    return tuple(dict.fromkeys(m.group().lower() for m in found))


def _specific_pattern(specific: str) -> str:
    if specific[0].isdigit():  # a year or a version: "4.2" is also written "4,2"
        body = re.escape(specific).replace(r"\.", "[.,]")
    else:  # a code: "windows11" is also written "Windows 11" or "Windows-11"
        split = next(i for i, c in enumerate(specific) if c.isdigit())
        body = re.escape(specific[:split]) + r"[\s-]?" + re.escape(specific[split:])
    return r"(?<![\w.,])" + body + r"(?![\w]|[.,]\d)"


def names_specifics(text: str, specifics: Sequence[str]) -> bool:
    """Does the text name every one of the question's specifics? Versions match with a dot or a comma
    ("4.2" / "4,2"), codes with or without a space or hyphen ("P1" / "P 1"); nothing matches inside a
    longer number or word ("2027" is not in "20270", "p1" not in "p12")."""
    lowered = text.lower()
    return all(re.search(_specific_pattern(s), lowered) for s in specifics)


def asked_unit(question: str) -> str | None:
    """The unit an amount question asks for: `money` ("wat kost", "how much does … cost"), or
    `day`, `hour`, `week`, `month`, `year`, `minute`, `percent` ("hoeveel vakantiedagen",
    "how many minutes"); None when it names none."""
    if _ASKS_MONEY.search(question):
        return "money"
    found = _ASKS_UNIT.search(question)
    if found is None:
        return None
    return next(name for name in _UNIT_WORDS if found.group(name))


@dataclass(frozen=True)
class Candidate:
    hit_index: int
    start: int
    end: int
    text: str
    similarity: float = 0.0
    coverage: float = 0.0
    evidence: float = 0.0
    answer_type_ok: bool = True  # can hold the asked-for kind of answer, and its passage names the question's specifics


def _scale(cos: float) -> float:
    return float(np.clip((cos - _COS_FLOOR) / (_COS_CEIL - _COS_FLOOR), 0.0, 1.0))


def candidate_sentences(hits: tuple[Hit, ...]) -> list[Candidate]:
    """Sentences (and table rows) of the top passages, with their spans in the passage text."""
    found = []
    for index, hit in enumerate(hits[:_MAX_PASSAGES]):
        text = hit.passage.text
        for sentence in split_sentences(text):
            offset = sentence.start
            for line in sentence.text.split("\n"):
                start = text.find(line, offset)
                offset = start + len(line)
                stripped = line.strip(" •")
                if len(stripped.split()) >= 3 or any(c.isdigit() for c in stripped):
                    found.append(Candidate(index, start, start + len(line), line))
    return found


def score_candidates(question: str, language: str, retrieval: Retrieval, candidates: list[Candidate],
                     embedder: Embedder) -> list[Candidate]:
    """Attach similarity, key-term coverage and combined evidence to each candidate."""
    if not candidates:
        return []
    hits = retrieval.hits
    vectors = embedder.embed_passages([f"{hits[c.hit_index].passage.title}: {c.text}" for c in candidates])
    similarities = vectors @ retrieval.query_vector
    key_terms = set(terms(question, language)) | set(terms(question, "en" if language == "nl" else "nl"))
    kind = expected_answer(question)
    specifics = question_specifics(question)
    named = {i: names_specifics(f"{hits[i].passage.title} {' '.join(hits[i].passage.section_path)} {hits[i].passage.text}",
                                specifics) for i in {c.hit_index for c in candidates}}
    scored = []
    for candidate, cos in zip(candidates, similarities, strict=True):
        passage = hits[candidate.hit_index].passage
        context = f"{candidate.text} {passage.title} {' '.join(passage.section_path)}"
        present = set(terms(context, passage.language)) | set(terms(context, language))
        coverage = len(key_terms & present) / len(key_terms) if key_terms else 0.0
        passage_sim = _scale(hits[candidate.hit_index].dense_score)
        if passage.language and passage.language != language:
            # across languages no term can match: judge on the embeddings alone
            evidence = (_W_SENTENCE * _scale(float(cos)) + _W_PASSAGE * passage_sim) / (_W_SENTENCE + _W_PASSAGE)
        else:
            evidence = _W_SENTENCE * _scale(float(cos)) + _W_PASSAGE * passage_sim + _W_COVERAGE * coverage
        # a sentence that cannot hold the asked-for kind of answer, or whose passage is about another
        # year, version or code than the question names, is not the answer
        typed = holds_answer(kind, candidate.text, question) and named[candidate.hit_index]
        if not typed:
            evidence -= _TYPE_PENALTY
        scored.append(Candidate(candidate.hit_index, candidate.start, candidate.end, candidate.text,
                                float(cos), coverage, evidence, typed))
    return scored


def expected_answer(question: str) -> str | None:
    """The kind of answer the question word asks for: `amount` (hoeveel, how much/many, wat kost),
    `time` (wanneer, hoe lang, when, how long), `person` (wie, who), or None (anything else)."""
    if _ASKS_AMOUNT.search(question):
        return "amount"
    if _ASKS_TIME.search(question):
        return "time"
    if _ASKS_PERSON.search(question):
        return "person"
    return None


def holds_answer(kind: str | None, sentence: str, question: str = "") -> bool:
    """Can the sentence hold an answer of that kind? An amount needs a number (digits, a number
    word, "gratis"/"free", "volledig"/"fully"), and when the question names its unit a number in that
    unit ("hoeveel weken" → "16 weken"; days and hours stand for each other) or, for a price, money
    (€, euro, %, "gratis"); a time a number, a date word, a unit of time or a
    period; a person a role, an e-mail address or a name that is not just the question's own words
    (the company's name is no answer to "who is the CEO of …?")."""
    if kind == "amount":
        unit = asked_unit(question)
        if unit == "money":
            return bool(_MONEY.search(sentence))
        if unit is not None:
            return any(_NUMBER_IN[accepted].search(sentence) for accepted in _ACCEPTED_UNITS[unit])
        return bool(_AMOUNT.search(sentence))
    if kind == "time":
        return bool(_TIME.search(sentence))
    if kind == "person":
        if _ROLE.search(sentence):
            return True
        asked = {w.strip("?,.!'").lower() for w in question.split()}
        return any(not {w.lower().removesuffix("'s") for w in name.split()} & asked for name in _NAME.findall(sentence))
    return True


class SentenceVectors:
    """The embedder's passage vectors of candidate sentences, kept in a bounded least-recently-used
    cache of `limit` entries (`answer.sentence_cache`; 0 = off): a candidate's vector depends on its
    text (title and sentence) alone, and the passages that questions retrieve repeat, so most answers
    need few or no new sentence embeddings. Thread-safe."""

    def __init__(self, embedder: Embedder, limit: int) -> None:
        self.embedder = embedder
        self.name, self.dim = embedder.name, embedder.dim
        self.limit = limit
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._vectors)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.embedder.embed_queries(texts)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for text in texts:
                if text in self._vectors:
                    self._vectors.move_to_end(text)
                    found[text] = self._vectors[text]
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            vectors = self.embedder.embed_passages(missing)
            found.update(zip(missing, vectors, strict=True))
            with self._lock:
                self._vectors.update(zip(missing, vectors, strict=True))
                while len(self._vectors) > self.limit:
                    self._vectors.popitem(last=False)
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.stack([found[t] for t in texts])


class ExtractiveGenerator:
    """Quotes the best-supported sentences; refuses when no sentence carries enough evidence."""

    name = "extractive"

    def __init__(self, embedder: Embedder, settings: AnswerSettings) -> None:
        self.embedder = embedder
        self.settings = settings
        self.sentence_vectors = SentenceVectors(embedder, settings.sentence_cache)
        self.check: LLMAnswerCheck | None = None
        """With an LLM configured for extractive answers (`Assistant.build`): asked whether the passages
        the answer would quote answer the question; its judgement moves the confidence against the
        check's bar (`LLMAnswerCheck.stands`): an answer it takes away is refused as `model_declined`."""

    def generate(self, question: str, retrieval: Retrieval) -> Answer:
        started = time.perf_counter()
        language = retrieval.language
        scored = score_candidates(question, language, retrieval,
                                  candidate_sentences(retrieval.hits), self.sentence_vectors)
        offset = agreement_offset(retrieval)
        chosen = self._select(scored, offset)
        timings = {"generate": round((time.perf_counter() - started) * 1000, 1)}
        # never below 0: a sentence that cannot hold the asked-for answer carries a penalty of 1
        confidence = round(max(max(c.evidence for c in scored) + offset, 0.0), 4) if scored else 0.0
        reason = None if chosen else "no_results" if not retrieval.hits else "low_evidence"
        judged = outcome = None
        # the LLM reads the passages the answer would quote (at the check's floor when the evidence alone
        # falls short: a confident YES can lift it over the check's bar)
        quotes = chosen or (self._select(scored, offset, self.check.floor) if self.check is not None else [])
        if quotes and self.check is not None and self.check.applies(confidence):
            checked = time.perf_counter()
            passages = [retrieval.hits[i].passage for i in sorted({c.hit_index for c in quotes})]
            judged = self.check.answers(question, [f"{p.title}: {p.text}" for p in passages])
            timings["check"] = round((time.perf_counter() - checked) * 1000, 1)
            outcome = self.check.outcome(confidence, judged)
            stands = outcome["stands"]
            log.info("llm answer check", extra=kv(p_yes=None if judged is None else judged.p_yes,
                                                   confidence=confidence, stands=stands))
            if stands:
                chosen, reason = quotes, None
            elif chosen:
                chosen, reason = [], "model_declined"
        if reason is not None:
            answer = refusal(question, language, retrieval, reason, self.name, timings)
            return Answer(**{**answer.__dict__, "confidence": confidence, "llm_outcome": outcome})
        numbers: dict[int, int] = {}
        citations: list[Citation] = []
        sentences = []
        for candidate in sorted(chosen, key=lambda c: (c.hit_index, c.start)):
            hit = retrieval.hits[candidate.hit_index]
            if candidate.hit_index not in numbers:
                numbers[candidate.hit_index] = len(numbers) + 1
                citations.append(citation(numbers[candidate.hit_index], hit, candidate.start, candidate.end))
            sentences.append(AnswerSentence(candidate.text.strip(" •"), (numbers[candidate.hit_index],)))
        # several quotes from one passage: the citation's span covers them all
        citations = [_widen(c, [x for x in chosen if numbers[x.hit_index] == c.number]) for c in citations]
        notice = None
        other = sorted({c.language for c in citations if c.language and c.language != language})
        if other:
            notice = message("source_language", language,
                             source_language=" / ".join(language_name(code, language) for code in other))
        return Answer(question=question, language=language, answered=True, sentences=tuple(sentences),
                      citations=tuple(citations), generator=self.name, notice=notice, confidence=confidence,
                      timings_ms=timings, llm_outcome=outcome)

    def _select(self, scored: list[Candidate], offset: float = 0.0, bar: float | None = None) -> list[Candidate]:
        """The best sentence, plus up to `max_sentences - 1` that are nearly as good and say
        something else: from the same passage (context), or from another passage only when they
        are almost as strong as the best. `offset` (retriever agreement) moves every sentence's
        evidence against the threshold (`bar`, default `min_relevance`)."""
        ranked = sorted(scored, key=lambda c: -c.evidence)
        threshold = (self.settings.min_relevance if bar is None else bar) - offset
        if not ranked or ranked[0].evidence < threshold:
            return []
        best = ranked[0]
        chosen = [best]
        for candidate in ranked[1:]:
            if len(chosen) >= self.settings.max_sentences:
                break
            if candidate.evidence < max(threshold, best.evidence - _MORE_SAME_PASSAGE):
                break
            if any(_redundant(candidate.text, c.text) for c in chosen):
                continue
            if candidate.hit_index == best.hit_index or candidate.evidence >= best.evidence - _MORE_OTHER_PASSAGE:
                chosen.append(candidate)
        return chosen


def agreement_offset(retrieval: Retrieval) -> float:
    """How much retriever agreement moves the evidence: ±_W_AGREEMENT/2, 0 when it says nothing."""
    agreement = retrieval.agreement
    return 0.0 if agreement is None else _W_AGREEMENT * (agreement - 0.5)


def _redundant(a: str, b: str) -> bool:
    """Two sentences that share most of their words say the same thing."""
    wa, wb = set(a.lower().split()), set(b.lower().split())
    return len(wa & wb) / max(len(wa | wb), 1) >= _REDUNDANT


def _widen(cite: Citation, quotes: list[Candidate]) -> Citation:
    if len(quotes) <= 1:
        return cite
    start, end = min(q.start for q in quotes), max(q.end for q in quotes)
    return Citation(**{**cite.__dict__, "quote": cite.passage[start:end], "quote_start": start, "quote_end": end})


def refusal(question: str, language: str, retrieval: Retrieval, reason: str, generator: str,
            timings: dict[str, float]) -> Answer:
    """A plain "not found in the documents" answer, with the closest documents to look at."""
    return Answer(question=question, language=language, answered=False,
                  sentences=(AnswerSentence(message("not_found", language), ()),), citations=(),
                  generator=generator, refusal_reason=reason, suggestions=suggestions(retrieval.ranked),
                  timings_ms=timings)
