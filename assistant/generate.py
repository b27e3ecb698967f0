"""The `Generator` protocol: retrieved passages → an answer whose every sentence is cited."""

from __future__ import annotations

from typing import Protocol

from assistant.retrieve import Retrieval
from core.types import Answer


class Generator(Protocol):
    """Writes the answer to a question from the retrieved passages, or refuses."""

    name: str

    def generate(self, question: str, retrieval: Retrieval) -> Answer:
        ...
