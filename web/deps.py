"""Dependencies: the components made once in the lifespan, handed to routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from assistant.service import Assistant
from core.settings import Settings
from core.store import QdrantStore


def _assistant(request: Request) -> Assistant:
    return request.app.state.assistant


def _store(request: Request) -> QdrantStore:
    return request.app.state.store


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _templates(request: Request) -> Jinja2Templates:
    return request.app.state.templates


AssistantDep = Annotated[Assistant, Depends(_assistant)]
StoreDep = Annotated[QdrantStore, Depends(_store)]
SettingsDep = Annotated[Settings, Depends(_settings)]
TemplatesDep = Annotated[Jinja2Templates, Depends(_templates)]
