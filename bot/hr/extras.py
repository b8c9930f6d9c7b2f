"""The workspace's dashboard, exports, score overrides, notes and webhook delivery log: JSON API
routes under ``/hr/api`` (typed models, in ``/docs``) and pages under ``/hr/``, each role-checked
like the rest (`bot.hr.auth.require_role`).

=======================================================  ===========================
route                                                    who
=======================================================  ===========================
GET  /hr/api/dashboard, /hr/dashboard                    every role
GET  /hr/api/exports/results.{json,csv,xlsx}, /hr/exports  recruiter, admin
GET  /hr/api/interviews/{id}/scores, .../notes           every role
POST /hr/api/interviews/{id}/overrides, .../notes        recruiter, admin
GET  /hr/api/webhooks/deliveries, .../events, /hr/webhooks  every role
POST /hr/api/webhooks/events/{outbox id}/replay          admin
GET  /hr/assets/plotly.min.js                            anyone (the charting library)
=======================================================  ===========================
"""

from __future__ import annotations

import re
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from bot.hr import dashboard as dashboards
from bot.hr import exports
from bot.hr.accounts import record
from bot.hr.auth import READ, AuthError, Principal, require_role
from bot.hr.deliveries import (
    DeliveryAttempt,
    Replayed,
    ReplayError,
    WebhookEvent,
    deliveries,
    events,
    replay,
)
from bot.hr.overrides import (
    InterviewScores,
    NoteCreate,
    NotePublic,
    OverrideCreate,
    OverrideError,
    OverridePublic,
    add_note,
    interview_scores,
    override_score,
    real_notes,
)
from bot.hr.reports import NotFoundError
from bot.hr.schemas import RowId
from bot.runtime import Runtime
from bot.store.models import utcnow

Reader = Annotated[Principal, Depends(require_role(*READ))]
Recruiter = Annotated[Principal, Depends(require_role("recruiter"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]
PageReader = Annotated[Principal, Depends(require_role(*READ, page=True))]
PageRecruiter = Annotated[Principal, Depends(require_role("recruiter", page=True))]
PageAdmin = Annotated[Principal, Depends(require_role("admin", page=True))]
ERRORS: dict[int | str, dict[str, object]] = {401: {}, 403: {}, 404: {}, 409: {}, 422: {}}
RoleQuery = Annotated[str | None, Query(max_length=64, description="a role id; none: all roles")]
DateQuery = Annotated[date | None, Query(description="UTC date, YYYY-MM-DD (included)")]
TextDate = Annotated[str, Query(max_length=10)]
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def plotly_js() -> Path:
    """plotly.js as the ``plotly`` package bundles it (served offline, never from a CDN)."""
    return Path(str(files("plotly") / "package_data" / "plotly.min.js"))


def _faq_examples(runtime: Runtime) -> dict[str, str]:
    base = runtime.knowledge.base
    if base is None:
        return {}
    examples = {}
    for entry in base.entries:
        questions = entry.questions.get("en") or next(iter(entry.questions.values()), [])
        if questions:
            examples[entry.id] = questions[0]
    return examples


def _known_role(runtime: Runtime, role: str | None) -> str | None:
    if role and role not in {r.role for r in runtime.catalog.roles}:
        raise LookupError(f"no role {role!r}")
    return role or None


def _check_range(date_from: date | None, date_to: date | None) -> None:
    if date_from and date_to and date_to < date_from:
        raise ValueError("the range ends before it starts: date_to is earlier than date_from")


def _page_date(value: str, name: str) -> date | None:
    if not value:
        return None
    try:
        if not DATE.match(value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise AuthError(422, f"{name}: give a date as YYYY-MM-DD", page=True) from None


async def _dashboard(
    runtime: Runtime, role: str | None, date_from: date | None, date_to: date | None
) -> dashboards.Dashboard:
    async with runtime.db.read() as session:
        return await dashboards.build(
            session,
            runtime.catalog,
            role=role,
            date_from=date_from,
            date_to=date_to,
            now=utcnow(),
            faq_examples=_faq_examples(runtime),
        )


async def _export(
    runtime: Runtime, who: Principal, fmt: str, role: str | None, date_from: date | None, date_to: date | None
) -> exports.ResultsExport:
    """The export's rows; the export itself is audited (personal data leaves the workspace)."""
    async with runtime.db.read() as session:
        found = await exports.collect(
            session,
            runtime.catalog,
            runtime.hr_key,
            role=role,
            date_from=date_from,
            date_to=date_to,
            now=utcnow(),
        )
    async with runtime.db.write() as session:
        record(
            session,
            who.actor,
            "results.exported",
            target=f"role:{role}" if role else "role:*",
            changes={
                "format": fmt,
                "date_from": date_from.isoformat() if date_from else None,
                "date_to": date_to.isoformat() if date_to else None,
                "rows": len(found.rows),
            },
        )
    return found


def _file(found: exports.ResultsExport, fmt: Literal["csv", "xlsx"]) -> Response:
    body = exports.to_csv(found) if fmt == "csv" else exports.to_xlsx(found)
    return Response(
        body,
        media_type=CONTENT_TYPES[fmt],
        headers={
            "Content-Disposition": f'attachment; filename="{exports.file_name(found, fmt)}"',
            "Cache-Control": "no-store",
        },
    )


def extras_api_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/hr/api", tags=["hr workspace"], responses=ERRORS)

    @router.get("/dashboard")
    async def dashboard(
        who: Reader, role: RoleQuery = None, date_from: DateQuery = None, date_to: DateQuery = None
    ) -> dashboards.Dashboard:
        """Funnel, completion time, score distributions, drop-off by question, FAQ topics and
        handoffs waiting, per role or over all roles (practice never counts)."""
        try:
            _check_range(date_from, date_to)
            return await _dashboard(runtime, _known_role(runtime, role), date_from, date_to)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc

    async def export(
        who: Principal, fmt: str, role: str | None, date_from: date | None, date_to: date | None
    ) -> exports.ResultsExport:
        try:
            _check_range(date_from, date_to)
            return await _export(runtime, who, fmt, _known_role(runtime, role), date_from, date_to)
        except LookupError as exc:
            raise HTTPException(404, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc

    @router.get("/exports/results.json")
    async def export_json(
        who: Recruiter, role: RoleQuery = None, date_from: DateQuery = None, date_to: DateQuery = None
    ) -> exports.ResultsExport:
        """Results of real interviews started in the range, as JSON."""
        return await export(who, "json", role, date_from, date_to)

    @router.get(
        "/exports/results.csv",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}, "description": "UTF-8 CSV with a BOM"}},
    )
    async def export_csv(
        who: Recruiter, role: RoleQuery = None, date_from: DateQuery = None, date_to: DateQuery = None
    ) -> Response:
        """Results as CSV; cells that would start a formula are prefixed with an apostrophe."""
        return _file(await export(who, "csv", role, date_from, date_to), "csv")

    @router.get(
        "/exports/results.xlsx",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPES["xlsx"]: {}}, "description": "an Excel workbook"}},
    )
    async def export_xlsx(
        who: Recruiter, role: RoleQuery = None, date_from: DateQuery = None, date_to: DateQuery = None
    ) -> Response:
        """Results as XLSX; text cells never hold formulas."""
        return _file(await export(who, "xlsx", role, date_from, date_to), "xlsx")

    @router.get("/interviews/{interview_id}/scores")
    async def scores(interview_id: RowId, who: Reader) -> InterviewScores:
        """The machine's levels and HR's overrides side by side, with the override history."""
        async with runtime.db.read() as session:
            try:
                return await interview_scores(session, runtime.catalog, interview_id)
            except NotFoundError as exc:
                raise HTTPException(404, str(exc)) from exc

    @router.post("/interviews/{interview_id}/overrides", status_code=201)
    async def override(interview_id: RowId, body: OverrideCreate, who: Recruiter) -> OverridePublic:
        """Override a competency's (or the overall) level with a reason; ``level: null`` withdraws
        it. Audited and sent to the HR system as ``score.overridden``."""
        try:
            return await override_score(
                runtime.db,
                runtime.catalog,
                runtime.hr_key,
                who,
                interview_id,
                body,
                webhook=runtime.webhook is not None,
            )
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        except OverrideError as exc:
            raise HTTPException(422, str(exc)) from exc

    @router.get("/interviews/{interview_id}/notes")
    async def notes(interview_id: RowId, who: Reader) -> list[NotePublic]:
        """HR's notes on the interview, newest first."""
        async with runtime.db.read() as session:
            try:
                return await real_notes(session, interview_id)
            except NotFoundError as exc:
                raise HTTPException(404, str(exc)) from exc

    @router.post("/interviews/{interview_id}/notes", status_code=201)
    async def note(interview_id: RowId, body: NoteCreate, who: Recruiter) -> NotePublic:
        """Add a note (audited)."""
        try:
            return await add_note(runtime.db, runtime.hr_key, who, interview_id, body)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        except OverrideError as exc:
            raise HTTPException(422, str(exc)) from exc

    @router.get("/webhooks/deliveries")
    async def delivery_log(
        who: Reader,
        event: Annotated[str | None, Query(max_length=64)] = None,
        outcome: Literal["delivered", "retry", "refused"] | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[DeliveryAttempt]:
        """Every attempt to deliver an event to the HR system, newest first."""
        async with runtime.db.read() as session:
            return await deliveries(session, event=event, outcome=outcome, limit=limit)

    @router.get("/webhooks/events")
    async def webhook_events(
        who: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 200
    ) -> list[WebhookEvent]:
        """The events queued for the HR system and their state, newest first."""
        async with runtime.db.read() as session:
            return await events(session, limit=limit)

    @router.post("/webhooks/events/{outbox_id}/replay", status_code=201)
    async def replay_event(outbox_id: RowId, who: Admin) -> Replayed:
        """Send an event again (same body and delivery id; audited)."""
        if runtime.webhook is None:
            raise HTTPException(409, "no webhook is configured (hr.webhook_url)")
        try:
            replayed = await replay(runtime.db, who, outbox_id)
        except ReplayError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        runtime.outbox.notify()
        return replayed

    return router


def extras_pages_router(runtime: Runtime) -> APIRouter:
    from bot.hr.pages import render

    router = APIRouter(prefix="/hr", include_in_schema=False)

    @router.get("/assets/plotly.min.js")
    async def plotly() -> FileResponse:
        return FileResponse(
            plotly_js(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    @router.get("/dashboard")
    async def dashboard_page(
        request: Request,
        who: PageReader,
        role: Annotated[str, Query(max_length=64)] = "",
        date_from: TextDate = "",
        date_to: TextDate = "",
    ) -> HTMLResponse:
        start, end = _page_date(date_from, "from"), _page_date(date_to, "to")
        try:
            _check_range(start, end)
            board = await _dashboard(runtime, _known_role(runtime, role), start, end)
        except LookupError as exc:
            raise AuthError(404, str(exc), page=True) from exc
        except ValueError as exc:
            raise AuthError(422, str(exc), page=True) from exc
        return render(
            request,
            "dashboard.html",
            who,
            board=board,
            figures=dashboards.figures(board),
            roles=runtime.catalog.roles,
            filters={"role": role, "date_from": date_from, "date_to": date_to},
        )

    @router.get("/exports")
    async def exports_page(request: Request, who: PageRecruiter) -> HTMLResponse:
        return render(request, "exports.html", who, roles=runtime.catalog.roles)

    @router.get("/exports/download")
    async def exports_download(
        who: PageRecruiter,
        format: Literal["csv", "xlsx", "json"] = "csv",
        role: Annotated[str, Query(max_length=64)] = "",
        date_from: TextDate = "",
        date_to: TextDate = "",
    ) -> Response:
        start, end = _page_date(date_from, "from"), _page_date(date_to, "to")
        try:
            _check_range(start, end)
            found = await _export(runtime, who, format, _known_role(runtime, role), start, end)
        except LookupError as exc:
            raise AuthError(404, str(exc), page=True) from exc
        except ValueError as exc:
            raise AuthError(422, str(exc), page=True) from exc
        if format == "json":
            return Response(
                found.model_dump_json(indent=2),
                media_type="application/json",
                headers={
                    "Content-Disposition": f'attachment; filename="{exports.file_name(found, "json")}"',
                    "Cache-Control": "no-store",
                },
            )
        return _file(found, format)

    @router.post("/interviews/{interview_id}/overrides")
    async def override_form(
        interview_id: RowId,
        who: PageRecruiter,
        competency: Annotated[str, Form(min_length=1, max_length=64)],
        reason: Annotated[str, Form(max_length=2000)] = "",
        level: Annotated[str, Form(max_length=8)] = "",
    ) -> Response:
        try:
            value = float(level) if level.strip() else None
            body = OverrideCreate(competency=competency, level=value, reason=reason)
        except ValueError:
            raise AuthError(
                422, "give a level from 1 to 5 (empty withdraws an override) and a reason", page=True
            ) from None
        try:
            await override_score(
                runtime.db,
                runtime.catalog,
                runtime.hr_key,
                who,
                interview_id,
                body,
                webhook=runtime.webhook is not None,
            )
        except NotFoundError as exc:
            raise AuthError(404, str(exc), page=True) from exc
        except OverrideError as exc:
            raise AuthError(422, str(exc), page=True) from exc
        return RedirectResponse(f"/hr/interviews/{interview_id}#scores", status_code=303)

    @router.post("/interviews/{interview_id}/notes")
    async def note_form(
        interview_id: RowId, who: PageRecruiter, text: Annotated[str, Form(max_length=4000)] = ""
    ) -> Response:
        if not text.strip():
            raise AuthError(422, "the note is empty", page=True)
        try:
            await add_note(runtime.db, runtime.hr_key, who, interview_id, NoteCreate(text=text))
        except NotFoundError as exc:
            raise AuthError(404, str(exc), page=True) from exc
        return RedirectResponse(f"/hr/interviews/{interview_id}#notes", status_code=303)

    @router.get("/webhooks")
    async def webhooks_page(request: Request, who: PageReader) -> HTMLResponse:
        async with runtime.db.read() as session:
            attempts = await deliveries(session, limit=200)
            queued = await events(session, limit=100)
        return render(
            request,
            "webhooks.html",
            who,
            attempts=attempts,
            events=queued,
            configured=runtime.webhook is not None,
            may_replay=who.may() and runtime.webhook is not None,
        )

    @router.post("/webhooks/{outbox_id}/replay")
    async def replay_form(outbox_id: RowId, who: PageAdmin) -> Response:
        if runtime.webhook is None:
            raise AuthError(409, "no webhook is configured (hr.webhook_url)", page=True)
        try:
            await replay(runtime.db, who, outbox_id)
        except ReplayError as exc:
            raise AuthError(exc.status, str(exc), page=True) from exc
        runtime.outbox.notify()
        return RedirectResponse("/hr/webhooks#events", status_code=303)

    return router


async def report_extras(runtime: Runtime, interview_id: int) -> dict[str, Any]:
    """What the candidate page shows beside the report: scores with overrides, and notes."""
    async with runtime.db.read() as session:
        return {
            "scores": await interview_scores(session, runtime.catalog, interview_id),
            "notes": await real_notes(session, interview_id),
        }
