"""HR's workspace: pages under ``/hr/``, the JSON API under ``/hr/api`` and the first HR endpoints
(``/hr/handoffs`` ...), behind accounts with roles (`bot.hr.auth`, `bot.hr.accounts`).

`install` mounts it all on the app. Modules: ``accounts`` (users, passwords, sessions, tokens, the
rate limit, the audit log), ``auth`` (the dependencies, `require_role`), ``reports`` (candidate
tables and reports), ``decisions``, ``webhooks`` (signed events to the HR system), ``api``,
``pages``, ``legacy``, ``i18n`` (English and Chinese pages, each user's time zone) and ``nul``
(NUL characters refused before any route); ``extras`` routes the dashboard (``dashboard``), exports
(``exports``), score overrides and notes (``overrides``) and the webhook delivery log
(``deliveries``); ``flowtools`` (a flow's structure, diffs, clarifications), ``preview`` (a flow
run in a sandbox), ``faq``, ``validity`` (hires and the validity report), served by
``workspace_api`` and ``workspace_pages``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from bot.runtime import Runtime


def install(app: FastAPI, runtime: Runtime) -> None:
    """Mount the workspace's routes, its static files and its error pages on ``app``."""
    from fastapi import Request
    from fastapi.responses import JSONResponse, RedirectResponse, Response
    from fastapi.staticfiles import StaticFiles

    from bot.hr.api import api_router
    from bot.hr.auth import AuthError, HrAuth, sign_in_url
    from bot.hr.extras import extras_api_router, extras_pages_router
    from bot.hr.i18n import N_
    from bot.hr.legacy import legacy_router
    from bot.hr.nul import RefuseNul
    from bot.hr.pages import pages_router, render

    auth = HrAuth.from_runtime(runtime)
    app.state.hr_auth = auth

    @app.exception_handler(AuthError)
    async def _refused(request: Request, exc: AuthError) -> Response:
        headers = {}
        if exc.retry_after is not None:
            headers["Retry-After"] = str(int(exc.retry_after + 0.999))
        if exc.page:
            if exc.status == 401:
                return RedirectResponse(sign_in_url(request), status_code=303)
            titles = {403: N_("Not allowed"), 404: N_("Not found"), 429: N_("Too many attempts")}
            return render(
                request,
                "error.html",
                None,
                status=exc.status,
                title=titles.get(exc.status, N_("Refused")),
                message=exc.message,
            )
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)

    app.add_middleware(RefuseNul)
    app.mount("/hr/static", StaticFiles(packages=[("bot.hr", "static")]), name="hr-static")
    app.include_router(legacy_router(runtime))
    app.include_router(api_router(runtime))
    app.include_router(extras_api_router(runtime))
    app.include_router(pages_router(runtime, auth))
    app.include_router(extras_pages_router(runtime))
    # flow structure, versions and diff, preview, FAQ, hires and validity (bot.hr.workspace_api)
    from bot.hr.preview import Previews
    from bot.hr.workspace_api import workspace_api_router
    from bot.hr.workspace_pages import workspace_pages_router

    app.state.hr_previews = Previews(runtime)
    app.include_router(workspace_api_router(runtime))
    app.include_router(workspace_pages_router(runtime))
