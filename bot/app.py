"""The FastAPI application: health, OpenAPI and the enabled channels' routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.hr import hr_router
from bot.metrics import snapshot
from bot.runtime import Runtime
from bot.settings import Settings


def create_app(settings: Settings, *, load_samples: bool = False, runtime: Runtime | None = None) -> FastAPI:
    runtime = runtime or Runtime(settings, load_samples=load_samples)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

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
        (answers that arrive earlier are stored and scored when their scorer is ready), and the
        messages set aside after failing (how many, the latest error)."""
        return {
            "status": "ok" if runtime.ready else "starting",
            "roles": [role.role for role in runtime.catalog.roles],
            "scoring": {
                role.role: runtime.scoring.ready(role.flow_version_id) for role in runtime.catalog.roles
            },
            "database": "sqlite" if runtime.db.is_sqlite else "postgresql",
            "failed_messages": await runtime.conversations.failures(),
        }

    @app.get("/metrics", tags=["operations"])
    async def metrics() -> dict[str, Any]:
        """This process's CPU time, the part spent inside the embedding models, turns processed
        and peak memory (for capacity planning and `bench/turns.py`)."""
        return snapshot(runtime.embeddings, runtime.conversations.turns)

    app.include_router(hr_router(runtime))
    for channel in runtime.channels():
        router = channel.router()
        if router is not None:
            app.include_router(router)
    return app
