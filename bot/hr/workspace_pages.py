"""The workspace's pages for flow structure, versions and diff, rollback, clarifications, the
preview, the FAQ, hires and the validity report (server-rendered; forms carry the CSRF token)."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from bot.hr.auth import READ, AuthError, Principal, require_role
from bot.hr.faq import FaqError, entries, remove, save, scopes
from bot.hr.flows import MAX_FLOW_CHARS
from bot.hr.flows import versions as flow_versions
from bot.hr.flowtools import FlowEditError, diff, structure
from bot.hr.i18n import reader_of
from bot.hr.pages import render
from bot.hr.preview import PreviewError
from bot.hr.reports import NotFoundError
from bot.hr.schemas import RowId
from bot.hr.seeding import FEW_EXEMPLARS, RatingCreate, latest_question, promote, question_answers, rate
from bot.hr.validity import hire, hire_of, validity_report
from bot.hr.workspace_api import accept_weights, clarify, previews, rollback, version_text
from bot.hr.workspace_schemas import FaqEntryBody
from bot.runtime import Runtime

Reader = Annotated[Principal, Depends(require_role(*READ, page=True))]
Recruiter = Annotated[Principal, Depends(require_role("recruiter", page=True))]
Version = Annotated[int | None, Query(ge=1, le=2_147_483_647)]


def _missing(exc: Exception) -> AuthError:
    return AuthError(404, str(exc), page=True)


def workspace_pages_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/hr", include_in_schema=False)

    @router.get("/flows/{role}/structure")
    async def structure_page(
        request: Request, role: str, who: Reader, version: Version = None, message: str | None = None
    ) -> HTMLResponse:
        try:
            row = await version_text(runtime, role, version)
        except NotFoundError as exc:
            raise _missing(exc) from exc
        return render(
            request,
            "flow_structure.html",
            who,
            role=role,
            version=row.version,
            flow=structure(row.source, role),
            message=message,
            may_publish=who.may("recruiter"),
            newest=version is None,
        )

    @router.post("/flows/{role}/questions/{question_id}/clarification")
    async def clarification_form(
        request: Request,
        role: str,
        question_id: str,
        who: Recruiter,
        en: Annotated[str, Form(max_length=2000)] = "",
        zh: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        given = {"en": en, "zh": zh}
        try:
            published = await clarify(runtime, who, role, question_id, given)
        except NotFoundError as exc:
            raise _missing(exc) from exc
        except (FlowEditError, HTTPException) as exc:
            detail = str(exc.detail) if isinstance(exc, HTTPException) else str(exc)
            status = exc.status_code if isinstance(exc, HTTPException) else exc.status
            raise AuthError(status, detail, page=True) from exc
        note = f"Published version {published.version}." if published.created else "Unchanged."
        return RedirectResponse(
            f"/hr/flows/{quote(role)}/structure?message={quote(note)}#q-{quote(question_id)}", status_code=303
        )

    @router.get("/flows/{role}/versions")
    async def versions_page(
        request: Request,
        role: str,
        who: Reader,
        old: Version = None,
        new: Version = None,
        message: str | None = None,
    ) -> HTMLResponse:
        async with runtime.db.read() as session:
            history = await flow_versions(session, role)
        if not history:
            raise AuthError(404, f"no flow for role {role!r}", page=True)
        newest = history[0].version
        new = new or newest
        old = old or max(1, new - 1)
        try:
            before = await version_text(runtime, role, old)
            after = await version_text(runtime, role, new)
        except NotFoundError as exc:
            raise _missing(exc) from exc
        return render(
            request,
            "flow_versions.html",
            who,
            role=role,
            versions=history,
            old=old,
            new=new,
            newest=newest,
            diff=diff(before.source, after.source, f"version {old}", f"version {new}"),
            message=message,
            may_publish=who.may("recruiter"),
        )

    @router.post("/flows/{role}/rollback")
    async def rollback_form(
        role: str, who: Recruiter, version: Annotated[int, Form(ge=1, le=2_147_483_647)]
    ) -> Response:
        try:
            published = await rollback(runtime, who, role, version)
        except NotFoundError as exc:
            raise _missing(exc) from exc
        note = (
            f"Version {version} published again as version {published.version}."
            if published.created
            else f"Version {version} is the newest text already."
        )
        return RedirectResponse(f"/hr/flows/{quote(role)}/versions?message={quote(note)}", status_code=303)

    @router.get("/flows/{role}/preview")
    async def preview_page(request: Request, role: str, who: Reader) -> HTMLResponse:
        if role not in {r.role for r in runtime.catalog.roles}:
            raise AuthError(404, f"no flow for role {role!r}", page=True)
        return render(request, "flow_preview.html", who, role=role, preview=None, error=None, status=200)

    @router.post("/flows/{role}/preview")
    async def preview_start(
        request: Request,
        role: str,
        who: Reader,
        source: Annotated[str | None, Form(max_length=MAX_FLOW_CHARS)] = None,
        language: Annotated[Literal["", "en", "zh"], Form()] = "",
    ) -> HTMLResponse:
        found = previews(request)
        try:
            turn = await found.start(role, source or None, language or None, who.user_id)
        except PreviewError as exc:
            return render(
                request,
                "flow_preview.html",
                who,
                status=exc.status,
                role=role,
                preview=None,
                error=str(exc),
            )
        return render(
            request,
            "flow_preview.html",
            who,
            status=201,
            role=role,
            preview=turn,
            transcript=found.transcript(turn.preview_id),
            error=None,
        )

    @router.post("/previews/{preview_id}")
    async def preview_say(
        request: Request,
        preview_id: str,
        who: Reader,
        text: Annotated[str, Form(min_length=1, max_length=4000)],
    ) -> HTMLResponse:
        found = previews(request)
        try:
            turn = await found.say(preview_id[:64], text, who.user_id)
        except PreviewError as exc:
            raise AuthError(exc.status, str(exc), page=True) from exc
        return render(
            request,
            "flow_preview.html",
            who,
            role=turn.role,
            preview=turn,
            transcript=found.transcript(turn.preview_id),
            error=None,
        )

    @router.get("/faq")
    async def faq_page(
        request: Request, who: Reader, edit: Annotated[str | None, Query(max_length=64)] = None
    ) -> HTMLResponse:
        return await _faq(request, who, edit, None, 200)

    async def _faq(
        request: Request, who: Principal, edit: str | None, error: str | None, status: int
    ) -> HTMLResponse:
        listed = await entries(runtime)
        editing = next((e for e in listed if e.id == edit), None)
        return render(
            request,
            "faq.html",
            who,
            status=status,
            entries=listed,
            editing=editing,
            scopes=scopes(runtime),
            error=error,
            may_edit=who.may("recruiter"),
        )

    @router.post("/faq")
    async def faq_save(
        request: Request,
        who: Recruiter,
        entry_id: Annotated[str, Form(max_length=64)],
        scope: Annotated[str, Form(max_length=64)],
        language: Annotated[Literal["en", "zh"], Form()],
        question: Annotated[str, Form(max_length=500)],
        answer: Annotated[str, Form(max_length=4000)],
    ) -> Response:
        try:
            body = FaqEntryBody(scope=scope, language=language, question=question, answer=answer)
            await save(runtime, who, entry_id.strip(), body)
        except FaqError as exc:
            return await _faq(request, who, None, str(exc), exc.status)
        except ValueError as exc:  # pydantic: a question or answer too short
            return await _faq(request, who, None, f"check the entry: {exc.errors()[0]['msg']}", 422)  # type: ignore[attr-defined]
        return RedirectResponse(f"/hr/faq#faq-{quote(entry_id.strip())}", status_code=303)

    @router.post("/faq/{entry_id}/delete")
    async def faq_delete(request: Request, entry_id: str, who: Recruiter) -> Response:
        try:
            await remove(runtime, who, entry_id[:64])
        except FaqError as exc:
            raise AuthError(exc.status, str(exc), page=True) from exc
        return RedirectResponse("/hr/faq", status_code=303)

    @router.get("/interviews/{interview_id}/hire")
    async def hire_page(request: Request, interview_id: RowId, who: Reader) -> HTMLResponse:
        return render(
            request,
            "hire.html",
            who,
            interview_id=interview_id,
            hire=await hire_of(runtime.db, runtime.hr_key, interview_id),
            may_hire=who.may("recruiter"),
            error=None,
        )

    @router.post("/interviews/{interview_id}/hire")
    async def hire_form(
        request: Request,
        interview_id: RowId,
        who: Recruiter,
        employee_id: Annotated[str, Form(max_length=128)],
    ) -> Response:
        try:
            await hire(runtime.db, runtime.hr_key, who, interview_id, employee_id)
        except NotFoundError as exc:
            raise _missing(exc) from exc
        except ValueError as exc:
            return render(
                request,
                "hire.html",
                who,
                status=422,
                interview_id=interview_id,
                hire=await hire_of(runtime.db, runtime.hr_key, interview_id),
                may_hire=True,
                error=str(exc),
            )
        return RedirectResponse(f"/hr/interviews/{interview_id}/hire", status_code=303)

    @router.get("/roles/{role}/validity")
    async def validity_page(
        request: Request, role: str, who: Reader, message: str | None = None
    ) -> HTMLResponse:
        try:
            report = await validity_report(runtime.db, runtime.catalog, role)
        except NotFoundError as exc:
            raise _missing(exc) from exc
        return render(
            request,
            "validity.html",
            who,
            role=role,
            report=report,
            message=message,
            may_accept=who.may("recruiter"),
        )

    @router.post("/roles/{role}/weights")
    async def weights_form(role: str, who: Recruiter) -> Response:
        try:
            published = await accept_weights(runtime, who, role)
        except NotFoundError as exc:
            raise _missing(exc) from exc
        except ValueError as exc:
            raise AuthError(409, str(exc), page=True) from exc
        note = (
            f"Weights accepted: published version {published.version}."
            if published.created
            else "The flow has these weights already."
        )
        return RedirectResponse(f"/hr/roles/{quote(role)}/validity?message={quote(note)}", status_code=303)

    @router.get("/flows/{role}/questions/{question_id}/rate")
    async def rate_page(
        request: Request,
        role: str,
        question_id: str,
        who: Reader,
        added: Annotated[int | None, Query(ge=0, le=100_000)] = None,
        updated: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    ) -> HTMLResponse:
        try:
            reader = reader_of(who.user, request.headers.get("accept-language"))
            found = await question_answers(runtime, role, question_id, reader.language)
        except NotFoundError as exc:
            raise _missing(exc) from exc
        return render(
            request,
            "rate.html",
            who,
            role=role,
            found=found,
            added=added,
            updated=updated,
            may_rate=who.may("recruiter"),
            few=FEW_EXEMPLARS,
        )

    @router.post("/flows/{role}/questions/{question_id}/rate")
    async def rate_form(
        role: str,
        question_id: str,
        who: Recruiter,
        answer_id: Annotated[int, Form(ge=1, le=2_147_483_647)],
        level: Annotated[int, Form(ge=1, le=5)],
    ) -> Response:
        try:
            await latest_question(runtime, role, question_id)
            await rate(runtime, who, answer_id, RatingCreate(level=level), question=(role, question_id))
        except NotFoundError as exc:
            raise _missing(exc) from exc
        return RedirectResponse(
            f"/hr/flows/{quote(role)}/questions/{quote(question_id)}/rate#a-{answer_id}", status_code=303
        )

    @router.post("/flows/{role}/questions/{question_id}/exemplars")
    async def promote_form(role: str, question_id: str, who: Recruiter) -> Response:
        try:
            done = await promote(runtime, who, role, question_id)
        except NotFoundError as exc:
            raise _missing(exc) from exc
        except ValueError as exc:
            raise AuthError(422, str(exc), page=True) from exc
        return RedirectResponse(
            f"/hr/flows/{quote(role)}/questions/{quote(question_id)}/rate"
            f"?added={done.added}&updated={done.updated}",
            status_code=303,
        )

    return router
