"""The app factory. Components are made once in the lifespan and shared by all requests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from assistant.records import AnswerLog
from assistant.service import Assistant
from core.accounts import Accounts
from core.db import Database
from core.embedding import Embedder, load_embedder
from core.errors import ErrorCode, VraagbaakError
from core.settings import Settings
from core.store import QdrantStore
from ingest.jobs import Jobs, SourceRunner
from ingest.registry import Registry
from ingest.schedule import Scheduler
from ingest.sources.catalog import SourceCatalog
from web import privacy
from web.errors import COMMON_ERRORS, install_error_handlers
from web.pending import PendingQuestions
from web.ratelimit import install_limits
from web.routes import admin, admin_pages, api, auth, compliance, learning, pages, review, sso

log = logging.getLogger(__name__)
HERE = Path(__file__).parent

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def create_app(settings: Settings | None = None, *, store: QdrantStore | None = None,
               embedder: Embedder | None = None) -> FastAPI:
    """Build the app. `store` and `embedder` may be handed in (tests share one model load)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_store = store is None
        app.state.store = store or QdrantStore.open(settings)
        app.state.embedder = embedder or load_embedder(settings.embedding, settings.models_dir)
        try:
            app.state.store.ensure_collection(app.state.embedder.dim)
        except VraagbaakError as exc:  # serve anyway: requests get a clear 503 until the store is back
            if exc.code is not ErrorCode.STORE_UNAVAILABLE:
                raise
            log.warning("store unavailable at start-up", extra={"ctx": {"error": exc.message}})
        app.state.database = Database.open(settings.database_url)
        app.state.accounts = Accounts(app.state.database, settings.auth)
        app.state.pending = PendingQuestions(app.state.database)  # questions waiting for their stream, any process
        app.state.answer_log = AnswerLog.build(settings, app.state.database)
        app.state.assistant = Assistant.build(settings, app.state.store, app.state.embedder, app.state.answer_log)
        app.state.registry = Registry(app.state.database)
        app.state.catalog = SourceCatalog(app.state.registry, settings.sources_file)
        try:
            app.state.catalog.sync_file()
        except VraagbaakError as exc:  # a broken sources file must not stop answering questions
            log.warning("sources file not read", extra={"ctx": {"error": exc.message}})
        app.state.jobs = Jobs(app.state.database, settings.ingest)  # ingest.worker=external: only queues jobs
        app.state.jobs.interrupted()
        app.state.ingestor = None
        app.state.runner = SourceRunner(app.state.jobs, app.state.catalog, app.state.registry, app.state.store,
                                        app.state.embedder, settings.ingest)
        app.state.scheduler = Scheduler(app.state.catalog, app.state.jobs, app.state.runner.start,
                                        tick_s=settings.ingest.schedule_tick_s)
        app.state.scheduler.start()
        learning.start(app)  # the gap dashboard's service, its jobs listener, xAPI statements
        compliance.start(app)  # seal older answer records into the audit chain; apply retention
        privacy.start(app)  # no client addresses or query strings in the access log; purge expired data
        log.info("app ready")
        try:
            yield
        finally:
            app.state.scheduler.stop()
            learning.stop(app)
            app.state.answer_log.close()  # one last try at records still waiting to be written
            if own_store:
                app.state.store.close()
            app.state.database.close()

    app = FastAPI(title="Vraagbaak", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Answers questions from the organisation's own documents, with citations.",
                  responses=COMMON_ERRORS)  # the error statuses any API route can answer, in the OpenAPI spec
    app.state.settings = settings
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    install_error_handlers(app)

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request):  # type: ignore[no-untyped-def]
        """The OpenAPI explorer, served from vendored files (works offline, no inline script)."""
        return app.state.templates.TemplateResponse(request, "docs.html", {})

    for area in (auth, sso, pages, api, admin, admin_pages, compliance, learning, review):
        app.include_router(area.router)
    install_limits(app, settings.limits)  # rate limits per user and address, body size (web/ratelimit.py)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        for header, value in SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        return response

    return app
