"""A fake OpenAI-compatible chat server, named as such: it answers every request with the text a test
gives it, after an optional delay. For decisions that depend on what a model says (a rating, a NO)
and for timeouts; the real llama.cpp server is tested beside it (tests/assistant/test_llm.py)."""

from __future__ import annotations

import http.server
import json
import math
import threading
from collections.abc import Callable, Iterator

import pytest


class ScriptedLLMServer(http.server.ThreadingHTTPServer):
    """A fake OpenAI-compatible server that answers every chat request with `content` after
    `delay_s` (for the parsing path and the timeout; the real server is tested beside it). With
    `first_token` ({token: probability}), a request for token probabilities gets them as the
    alternatives of the reply's first token, as llama.cpp and OpenAI send them."""

    daemon_threads = True

    def __init__(self, content: str, delay_s: float = 0.0, first_token: dict[str, float] | None = None) -> None:
        self.content, self.delay_s, self.first_token = content, delay_s, first_token
        self.requests: list[dict] = []
        self.release = threading.Event()
        self.prompts: list[str] = []
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)


class _ScriptedHandler(http.server.BaseHTTPRequestHandler):
    server: ScriptedLLMServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.server.prompts.append(request["messages"][-1]["content"])
        self.server.requests.append(request)
        self.server.release.wait(self.server.delay_s)
        choice: dict = {"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": self.server.content}}
        if request.get("logprobs") and self.server.first_token:
            top = [{"token": t, "logprob": math.log(p), "bytes": list(t.encode())}
                   for t, p in self.server.first_token.items()]
            choice["logprobs"] = {"content": [{**top[0], "top_logprobs": top}]}
        body = json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "fake", "choices": [choice]})
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())
        except OSError:
            pass

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
        pass


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedLLMServer]]:
    servers: list[ScriptedLLMServer] = []

    def start(content: str, delay_s: float = 0.0, first_token: dict[str, float] | None = None) -> ScriptedLLMServer:
        server = ScriptedLLMServer(content, delay_s, first_token)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()
