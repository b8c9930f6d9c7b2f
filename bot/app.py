"""The FastAPI application: health, OpenAPI and the enabled channels' routes."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.campaigns.api import campaign_router, slot_router, unsubscribe_router
from bot.campaigns.pages import campaign_pages_router, slot_page_router
from bot.hr import install as install_hr
from bot.metrics import snapshot
from bot.outbox import outbox_counts
from bot.runtime import Runtime
from bot.settings import LOAD_SAMPLES_ENV, Settings, configure_logging, load_settings

log = logging.getLogger(__name__)


def worker_app() -> FastAPI:
    """The app of one worker process of ``interviewer serve --workers N``: uvicorn starts each
    worker in a fresh interpreter and builds its app here, from config.yml (``INTERVIEWER_CONFIG``)
    and the environment."""
    configure_logging()
    return create_app(load_settings(), load_samples=os.environ.get(LOAD_SAMPLES_ENV) == "1")


def create_app(settings: Settings, *, load_samples: bool = False, runtime: Runtime | None = None) -> FastAPI:
    runtime = runtime or Runtime(settings, load_samples=load_samples)

    @asynccontextmanager
    async def lifespan(served: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()
            previews = getattr(served.state, "hr_previews", None)
            if previews is not None:  # the workspace's preview sandbox (bot.hr.preview)
                await previews.close()

    app = FastAPI(
        title="Interviewer",
        version="0.1.0",
        summary="A conversational interviewer: structured interviews, practice and rubric scoring.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": ".".join(str(p) for p in e.get("loc", ())[1:]) or "body", "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        return JSONResponse(status_code=422, content={"error": "invalid request", "details": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            status_code=exc.status_code,
            content={"error": str(exc.detail)},
            headers=getattr(exc, "headers", None),
        )

    @app.get("/health", tags=["operations"])
    async def health() -> dict[str, Any]:
        """Liveness and readiness: models loaded, flows published, which roles' scorers are built
        (answers that arrive earlier are stored and scored when their scorer is ready); the outbox's
        messages waiting, being sent and given up (``failed``: see `bot.outbox.list_outbox`); the
        messages set aside after failing (how many, the latest error); this process's id and
        whether it is the leader that runs the once-only jobs."""
        return {
            "status": "ok" if runtime.ready else "starting",
            "roles": [role.role for role in runtime.catalog.roles],
            "scoring": {
                role.role: runtime.scoring.ready(role.flow_version_id) for role in runtime.catalog.roles
            },
            "database": "sqlite" if runtime.db.is_sqlite else "postgresql",
            "outbox": await _outbox_counts(runtime),
            "failed_messages": await runtime.conversations.failures(),
            "process": {"pid": os.getpid(), "leader": runtime.leader.is_leader},
        }

    @app.get("/metrics", tags=["operations"])
    async def metrics() -> dict[str, Any]:
        """This process's CPU time, the part spent inside the embedding models, turns processed
        and peak memory (for capacity planning and `bench/turns.py`)."""
        return snapshot(runtime.embeddings, runtime.conversations.turns)

    install_hr(app, runtime)
    app.include_router(campaign_router(runtime.campaigns))
    app.include_router(unsubscribe_router(runtime.campaigns))
    app.include_router(slot_router(runtime.campaigns.rounds))
    app.include_router(campaign_pages_router(runtime.campaigns))
    app.include_router(slot_page_router(runtime.campaigns.rounds))
    for channel in runtime.channels():
        router = channel.router()
        if router is not None:
            app.include_router(router)
    return app


async def _outbox_counts(runtime: Runtime) -> dict[str, int] | None:
    try:
        return await outbox_counts(runtime.db)
    except Exception as exc:  # the database is away; /health still answers, and says so
        log.warning("health: cannot count the outbox (%s)", type(exc).__name__)
        return None
