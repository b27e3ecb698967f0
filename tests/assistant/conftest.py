"""Fixtures of the assistant's tests."""

from tests.assistant.fake_llm import scripted  # noqa: F401 - the fake LLM server fixture, by name
