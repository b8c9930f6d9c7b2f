"""The workspace's pages under ``/hr/``: sign in, roles, candidates, a candidate's report and
decision, your password and API tokens, users (admin). Server-rendered (Jinja2 templates shipped
in ``bot/hr/templates``); every form carries the session's CSRF token."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import replace
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from sqlmodel import col, select

from bot.hr.accounts import (
    AccountError,
    authenticate,
    close_session,
    close_sessions_of,
    create_api_token,
    create_user,
    new_password_hash,
    one_time_password,
    open_session,
    record,
    revoke_api_token,
    set_password,
)
from bot.hr.api import audit_view, save_preferences
from bot.hr.api import publish as publish_flow
from bot.hr.auth import (
    LOGIN_CSRF_COOKIE,
    READ,
    SESSION_COOKIE,
    AuthError,
    HrAuth,
    Principal,
    require_role,
)
from bot.hr.decisions import decide
from bot.hr.extras import report_extras
from bot.hr.flows import MAX_FLOW_CHARS, annotated, latest_source
from bot.hr.flows import check as check_flow_text
from bot.hr.flows import versions as flow_versions
from bot.hr.i18n import HTML_LANG, LANGUAGE_NAMES, N_, day_range, reader_of, time_zones, user_zone
from bot.hr.i18n import install as install_i18n
from bot.hr.reports import NotFoundError, candidate_page, candidate_report, role_summaries, valid_sort
from bot.hr.schemas import DecisionCreate, RowId
from bot.hr.seeding import FEW_EXEMPLARS
from bot.runtime import Runtime
from bot.store.models import HrApiToken, HrUser, utcnow

Reader = Annotated[Principal, Depends(require_role(*READ, page=True))]
Recruiter = Annotated[Principal, Depends(require_role("recruiter", page=True))]
Admin = Annotated[Principal, Depends(require_role("admin", page=True))]

templates = Jinja2Templates(
    env=Environment(
        loader=PackageLoader("bot.hr", "templates"), autoescape=select_autoescape(), auto_reload=False
    )
)


def _level(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


templates.env.filters["level"] = _level
install_i18n(templates.env)
templates.env.globals["Markup"] = Markup


def render(
    request: Request, name: str, who: Principal | None, status: int = 200, **context: Any
) -> HTMLResponse:
    reader = reader_of(who.user if who else None, request.headers.get("accept-language"))
    return templates.TemplateResponse(
        request,
        name,
        {
            "who": who,
            "csrf": who.csrf if who else "",
            "reader": reader,
            "lang": HTML_LANG[reader.language],
            **context,
        },
        status_code=status,
    )


def _score(text: str, problems: list[str]) -> float | None:
    """A score filter's field: empty, or a level from 1 to 5 (else a problem to show)."""
    if not text.strip():
        return None
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        value = -1.0
    if not 1 <= value <= 5:
        problems.append(N_("A score is a number from 1 to 5."))
        return None
    return value


def _day(text: str, problems: list[str]) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        problems.append(N_("A date is written YYYY-MM-DD."))
        return None


def wants_json(request: Request) -> bool:
    """A script that asked for JSON (``Accept: application/json``) rather than a page."""
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def safe_next(target: str | None) -> str:
    """Only a path inside the workspace: never another site."""
    if target and target.startswith("/hr/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/hr/"


def pages_router(runtime: Runtime, auth: HrAuth) -> APIRouter:
    router = APIRouter(prefix="/hr", include_in_schema=False)

    def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/hr",
            secure=auth.secure_cookies,
            httponly=True,
            samesite="lax",
        )

    @router.get("/login")
    async def login_page(request: Request, next: str | None = None) -> HTMLResponse:
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
        response = render(
            request, "login.html", None, login_csrf=token, next=safe_next(next), error=None, retry_after=None
        )
        set_cookie(response, LOGIN_CSRF_COOKIE, token, 3600)
        return response

    @router.post("/login")
    async def login(
        request: Request,
        email: Annotated[str, Form(max_length=254)],
        password: Annotated[str, Form(max_length=1024)],
        csrf: Annotated[str, Form(max_length=100)] = "",
        next: Annotated[str, Form(max_length=2000)] = "/hr/",
    ) -> Response:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not hmac.compare_digest(csrf.encode(), expected.encode()):
            raise AuthError(403, N_("the sign-in form expired; reload the page"), page=True)
        address = request.client.host if request.client else "unknown"
        now = auth.clock()
        try:
            user = await authenticate(runtime.db, auth.id_key, auth.limits, email, password, address, now)
            if user is None:
                raise AccountError(N_("wrong e-mail or password"), 401)
            async with runtime.db.write() as session:
                token = await open_session(session, user, auth.session_lifetime, now)
                record(session, user, "login.succeeded", target=f"user:{user.id}")
        except AccountError as exc:
            headers = {}
            if exc.retry_after is not None:
                headers["Retry-After"] = str(int(exc.retry_after + 0.999))
            if wants_json(request):
                return JSONResponse({"error": str(exc)}, status_code=exc.status, headers=headers)
            response = render(
                request,
                "login.html",
                None,
                status=exc.status,
                login_csrf=expected,
                next=safe_next(next),
                error=str(exc),
                retry_after=headers.get("Retry-After"),
            )
            response.headers.update(headers)
            return response
        target = "/hr/password" if user.must_change_password else safe_next(next)
        redirect = RedirectResponse(target, status_code=303)
        set_cookie(redirect, SESSION_COOKIE, token, int(auth.session_lifetime.total_seconds()))
        redirect.delete_cookie(LOGIN_CSRF_COOKIE, path="/hr")
        return redirect

    @router.post("/logout")
    async def logout(request: Request, who: Reader) -> Response:
        async with runtime.db.write() as session:
            await close_session(session, who.session_token or "")
            record(session, who.actor, "logout", target=f"user:{who.user_id}")
        response = RedirectResponse("/hr/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/hr")
        return response

    @router.get("/password")
    async def password_page(request: Request, who: Reader) -> HTMLResponse:
        return render(request, "password.html", who, error=None)

    @router.post("/password")
    async def password(
        request: Request,
        who: Reader,
        current_password: Annotated[str, Form(max_length=1024)],
        new_password: Annotated[str, Form(max_length=1024)],
        repeat_password: Annotated[str, Form(max_length=1024)],
    ) -> Response:
        if who.user is None:
            raise AuthError(403, "the shared token has no password", page=True)
        try:
            if new_password != repeat_password:
                raise AccountError(N_("the two new passwords differ"), 422)
            encoded = await new_password_hash(who.user, current_password, new_password)
            async with runtime.db.write() as session:
                user = await set_password(session, who.user.id or 0, encoded, utcnow())
                await close_sessions_of(session, user.id or 0, keep_token=who.session_token)
                record(session, user, "password.changed", target=f"user:{user.id}")
        except AccountError as exc:
            return render(request, "password.html", who, status=exc.status, error=str(exc))
        return RedirectResponse("/hr/", status_code=303)

    @router.get("/")
    async def home(request: Request, who: Reader) -> HTMLResponse:
        async with runtime.db.read() as session:
            summaries = await role_summaries(session, runtime.catalog)
        return render(request, "home.html", who, roles=summaries)

    @router.get("/roles/{role}")
    async def candidates(
        request: Request,
        role: str,
        who: Reader,
        state: Annotated[
            Literal["", "consent", "question", "paused", "done", "withdrawn", "declined"], Query()
        ] = "",
        decision: Annotated[Literal["", "advance", "hold", "reject", "none"], Query()] = "",
        min_score: Annotated[str, Query(max_length=8)] = "",
        max_score: Annotated[str, Query(max_length=8)] = "",
        started_from: Annotated[str, Query(max_length=10)] = "",
        started_to: Annotated[str, Query(max_length=10)] = "",
        sort: Annotated[str, Query(max_length=80)] = "newest",
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
        limit: Annotated[int, Query(ge=10, le=200)] = 50,
    ) -> HTMLResponse:
        info = next((r for r in runtime.catalog.roles if r.role == role), None)
        if info is None:
            raise AuthError(404, f"no role {role!r}", page=True)
        problems: list[str] = []
        low, high = _score(min_score, problems), _score(max_score, problems)
        first_day, last_day = _day(started_from, problems), _day(started_to, problems)
        if not valid_sort(sort):
            sort = "newest"
        after, before = day_range(first_day, last_day, user_zone(who.user))
        async with runtime.db.read() as session:
            found = await candidate_page(
                session,
                runtime.hr_key,
                role,
                state=state or None,
                decision=decision or None,
                min_score=low,
                max_score=high,
                started_from=after,
                started_before=before,
                sort=sort,
                offset=(page - 1) * limit,
                limit=limit,
            )
        filters = {
            "state": state,
            "decision": decision,
            "min_score": min_score if low is not None else "",
            "max_score": max_score if high is not None else "",
            "started_from": started_from if first_day else "",
            "started_to": started_to if last_day else "",
            "sort": sort,
            "limit": str(limit),
        }
        competencies: list[tuple[str, dict[str, str]]] = []
        async with runtime.db.read() as session:
            latest = await latest_source(session, role)
        if latest is not None:
            checked, _ = check_flow_text(latest.source, role)
            if checked is not None:
                competencies = [(c.id, c.name) for c in checked.flow.competencies]
        return render(
            request,
            "candidates.html",
            who,
            status=422 if problems else 200,
            role=info,
            result=found,
            filters=filters,
            problems=problems,
            competencies=competencies,
            pages=max(1, -(-found.total // limit)),
            link=lambda **changed: "?" + urlencode({**filters, **changed}),
        )

    @router.get("/interviews/{interview_id}")
    async def report(request: Request, interview_id: RowId, who: Reader) -> HTMLResponse:
        async with runtime.db.read() as session:
            try:
                found = await candidate_report(session, runtime.catalog, runtime.hr_key, interview_id)
            except NotFoundError as exc:
                raise AuthError(404, str(exc), page=True) from exc
        await audit_view(runtime, who, found)
        extras = await report_extras(runtime, interview_id)
        return render(request, "report.html", who, report=found, may_decide=who.may("recruiter"), **extras)

    @router.post("/interviews/{interview_id}/decision")
    async def decision(
        request: Request,
        interview_id: RowId,
        who: Recruiter,
        outcome: Annotated[Literal["advance", "hold", "reject"], Form()],
        note: Annotated[str, Form(max_length=4000)] = "",
    ) -> Response:
        try:
            await decide(
                runtime.db,
                runtime.hooks,
                runtime.hr_key,
                who,
                interview_id,
                DecisionCreate(outcome=outcome, note=note),
                webhook=runtime.webhook is not None,
            )
        except NotFoundError as exc:
            raise AuthError(404, str(exc), page=True) from exc
        return RedirectResponse(f"/hr/interviews/{interview_id}#decision", status_code=303)

    @router.get("/flows")
    async def flows_page(request: Request, who: Reader) -> HTMLResponse:
        async with runtime.db.read() as session:
            listed = [(info, (await flow_versions(session, info.role))) for info in runtime.catalog.roles]
        return render(request, "flows.html", who, flows=listed)

    @router.get("/flows/{role}")
    async def flow_page(request: Request, role: str, who: Reader) -> HTMLResponse:
        async with runtime.db.read() as session:
            latest = await latest_source(session, role)
            if latest is None:
                raise AuthError(404, f"no flow for role {role!r}", page=True)
            history = await flow_versions(session, role)
        _, problems = check_flow_text(latest.source, role)
        return render(
            request,
            "flow.html",
            who,
            role=role,
            source=latest.source,
            lines=annotated(latest.source, problems),
            problems=problems,
            versions=history,
            message=None,
            may_publish=who.may("recruiter"),
            **_scoring(role, latest.id or 0),
        )

    def _scoring(role: str, version_id: int) -> dict[str, Any]:
        """Per question of the published flow: its exemplars and how sure its scores are."""
        return {"scoring": runtime.scoring.reliability(version_id), "few": FEW_EXEMPLARS}

    @router.post("/flows/{role}")
    async def flow_submit(
        request: Request,
        role: str,
        who: Reader,
        source: Annotated[str, Form(min_length=1, max_length=MAX_FLOW_CHARS)],
        action: Annotated[Literal["check", "publish"], Form()] = "check",
    ) -> Response:
        source = source.replace("\r\n", "\n")
        async with runtime.db.read() as session:
            if await latest_source(session, role) is None:
                raise AuthError(404, f"no flow for role {role!r}", page=True)
        checked, problems = check_flow_text(source, role)
        reader = reader_of(who.user, request.headers.get("accept-language"))
        message = reader.gettext(N_("No problems found.")) if checked is not None else None
        status = 200 if checked is not None else 422
        if action == "publish" and checked is not None:
            if not who.may("recruiter"):
                raise AuthError(403, "publishing a flow needs the role admin or recruiter", page=True)
            published = await publish_flow(runtime, who, role, source)
            message = reader.gettext(
                N_("Published version %(version)s.")
                if published.created
                else N_("Unchanged: this is version %(version)s already.")
            ) % {"version": published.version}
        async with runtime.db.read() as session:
            history = await flow_versions(session, role)
            latest = await latest_source(session, role)
        return render(
            request,
            "flow.html",
            who,
            status=status,
            role=role,
            source=source,
            lines=annotated(source, problems),
            problems=problems,
            versions=history,
            message=message,
            may_publish=who.may("recruiter"),
            **_scoring(role, 0 if latest is None else latest.id or 0),
        )

    @router.get("/settings")
    async def settings_page(request: Request, who: Reader) -> HTMLResponse:
        return _settings(request, who, saved=False, error=None)

    def _settings(
        request: Request, who: Principal, *, saved: bool, error: str | None, status: int = 200
    ) -> HTMLResponse:
        if who.user is None:
            raise AuthError(403, N_("the shared token has no account"), page=True)
        return render(
            request,
            "settings.html",
            who,
            status=status,
            languages=LANGUAGE_NAMES,
            zones=time_zones(),
            saved=saved,
            error=error,
        )

    @router.post("/settings")
    async def save_settings(
        request: Request,
        who: Reader,
        language: Annotated[str, Form(max_length=8)] = "",
        time_zone: Annotated[str, Form(max_length=64)] = "",
    ) -> Response:
        if who.user is None:
            raise AuthError(403, N_("the shared token has no account"), page=True)
        try:
            user = await save_preferences(runtime, who, language or None, time_zone or None)
        except AccountError as exc:
            return _settings(request, who, saved=False, error=str(exc), status=exc.status)
        return _settings(request, replace(who, user=user), saved=True, error=None)

    @router.get("/tokens")
    async def tokens_page(request: Request, who: Reader) -> HTMLResponse:
        return await _tokens(request, who, None)

    async def _tokens(request: Request, who: Principal, created: str | None) -> HTMLResponse:
        async with runtime.db.read() as session:
            rows = (
                await session.exec(
                    select(HrApiToken).where(HrApiToken.user_id == who.user_id).order_by(col(HrApiToken.id))
                )
            ).all()
        return render(request, "tokens.html", who, tokens=rows, created=created)

    @router.post("/tokens")
    async def new_token(
        request: Request, who: Reader, name: Annotated[str, Form(min_length=1, max_length=64)]
    ) -> HTMLResponse:
        if who.user is None:
            raise AuthError(403, "the shared token has no account", page=True)
        async with runtime.db.write() as session:
            row, secret = await create_api_token(session, who.user, name.strip() or "token")
            record(session, who.user, "token.created", target=f"token:{row.id}", changes={"name": row.name})
        return await _tokens(request, who, secret)

    @router.post("/tokens/{token_id}/revoke")
    async def revoke(request: Request, token_id: RowId, who: Reader) -> Response:
        if who.user is None:
            raise AuthError(403, "the shared token has no account", page=True)
        async with runtime.db.write() as session:
            try:
                await revoke_api_token(session, who.user, token_id, utcnow())
            except AccountError as exc:
                raise AuthError(exc.status, str(exc), page=True) from exc
            record(session, who.user, "token.revoked", target=f"token:{token_id}")
        return RedirectResponse("/hr/tokens", status_code=303)

    @router.get("/users")
    async def users_page(request: Request, who: Admin) -> HTMLResponse:
        return await _users(request, who, None, None)

    async def _users(
        request: Request,
        who: Principal,
        created: tuple[str, str] | None,
        error: str | None,
        status: int = 200,
    ) -> HTMLResponse:
        async with runtime.db.read() as session:
            rows = (await session.exec(select(HrUser).order_by(col(HrUser.id)))).all()
        return render(request, "users.html", who, status=status, users=rows, created=created, error=error)

    @router.post("/users")
    async def add_user(
        request: Request,
        who: Admin,
        email: Annotated[str, Form(max_length=254)],
        role: Annotated[Literal["admin", "recruiter", "scheduler", "viewer"], Form()],
    ) -> HTMLResponse:
        password = one_time_password()
        try:
            async with runtime.db.write() as session:
                user = await create_user(session, email, role, password)
                record(
                    session,
                    who.actor,
                    "user.created",
                    target=f"user:{user.id}",
                    changes={"email": user.email, "role": role},
                )
        except AccountError as exc:
            return await _users(request, who, None, str(exc), exc.status)
        return await _users(request, who, (user.email, password), None)

    return router
