"""HR's JSON API under ``/hr/api``: the signed-in user, users (admin), API tokens, candidates per
role, a candidate's report and decisions. Every route needs a role (`bot.hr.auth.require_role`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlmodel import col, select

from bot.hr.accounts import (
    AccountError,
    change,
    close_sessions_of,
    create_api_token,
    create_user,
    new_password_hash,
    one_time_password,
    record,
    revoke_api_token,
    set_password,
)
from bot.hr.auth import READ, Principal, require_role
from bot.hr.decisions import decide
from bot.hr.flows import check as check_flow_text
from bot.hr.flows import latest_source
from bot.hr.flows import versions as flow_versions
from bot.hr.i18n import LANGUAGES, N_, day_range, user_zone, valid_zone
from bot.hr.reports import SORTS, NotFoundError, candidate_page, candidate_report, role_summaries, valid_sort
from bot.hr.schemas import (
    AuditEntry,
    CandidatePage,
    CandidateReport,
    DecisionCreate,
    DecisionPublic,
    FlowCheck,
    FlowPublished,
    FlowSourceBody,
    FlowVersionPublic,
    FlowView,
    InterviewState,
    PasswordChange,
    PreferencesUpdate,
    QuestionScoring,
    RoleSummary,
    RowId,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserCreate,
    UserCreated,
    UserPublic,
    UserUpdate,
)
from bot.hr.seeding import FEW_EXEMPLARS
from bot.runtime import Runtime
from bot.store.models import HrApiToken, HrAudit, HrUser, Interview, utcnow

Reader = Annotated[Principal, Depends(require_role(*READ))]
Recruiter = Annotated[Principal, Depends(require_role("recruiter"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]
ERRORS: dict[int | str, dict[str, object]] = {401: {}, 403: {}, 404: {}, 409: {}, 422: {}}


def user_public(user: HrUser) -> UserPublic:
    return UserPublic(
        id=user.id or 0,
        email=user.email,
        role=user.role,
        active=user.active,
        must_change_password=user.must_change_password,
        created_at=user.created_at,
        language=user.language if user.language in LANGUAGES else None,
        time_zone=user.time_zone,
    )


def token_public(row: HrApiToken) -> TokenPublic:
    return TokenPublic(
        id=row.id or 0,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _user_only(who: Principal) -> HrUser:
    if who.user is None:
        raise HTTPException(403, "the shared $INTERVIEWER_HR_TOKEN has no account: use a user's token")
    return who.user


def api_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/hr/api", tags=["hr workspace"], responses=ERRORS)

    def key() -> bytes:
        return runtime.hr_key

    @router.get("/me")
    async def me(who: Reader) -> UserPublic:
        """The signed-in user (also with a one-time password not yet changed)."""
        return user_public(_user_only(who))

    @router.patch("/me")
    async def preferences(body: PreferencesUpdate, who: Reader) -> UserPublic:
        """Set your language (``en``, ``zh``) and time zone (IANA); ``""`` goes back to the default."""
        try:
            user = await save_preferences(runtime, who, body.language, body.time_zone)
        except AccountError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        return user_public(user)

    @router.post("/me/password", status_code=204)
    async def password(body: PasswordChange, who: Reader) -> None:
        """Change your password (the current one is required); ends your other sessions."""
        user = _user_only(who)
        try:
            encoded = await new_password_hash(user, body.current_password, body.new_password)
        except AccountError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        async with runtime.db.write() as session:
            fresh = await set_password(session, user.id or 0, encoded, utcnow())
            await close_sessions_of(session, user.id or 0, keep_token=who.session_token)
            record(session, fresh, "password.changed", target=f"user:{fresh.id}")

    @router.get("/tokens")
    async def tokens(who: Reader) -> list[TokenPublic]:
        """Your API tokens (never the tokens themselves)."""
        user = _user_only(who)
        async with runtime.db.read() as session:
            rows = await session.exec(
                select(HrApiToken).where(HrApiToken.user_id == user.id).order_by(col(HrApiToken.id))
            )
            return [token_public(row) for row in rows.all()]

    @router.post("/tokens", status_code=201)
    async def new_token(body: TokenCreate, who: Reader) -> TokenCreated:
        """A new API token for an integration; the secret is in this answer only."""
        user = _user_only(who)
        async with runtime.db.write() as session:
            row, secret = await create_api_token(session, user, body.name.strip() or "token")
            record(session, user, "token.created", target=f"token:{row.id}", changes={"name": row.name})
        return TokenCreated(token=token_public(row), secret=secret)

    @router.delete("/tokens/{token_id}")
    async def revoke(token_id: RowId, who: Reader) -> TokenPublic:
        """Revoke a token at once (yours; an admin may revoke anyone's)."""
        user = _user_only(who)
        async with runtime.db.write() as session:
            try:
                row = await revoke_api_token(session, user, token_id, utcnow())
            except AccountError as exc:
                raise HTTPException(exc.status, str(exc)) from exc
            record(session, user, "token.revoked", target=f"token:{row.id}")
        return token_public(row)

    @router.get("/users")
    async def users(who: Admin) -> list[UserPublic]:
        async with runtime.db.read() as session:
            return [
                user_public(u) for u in (await session.exec(select(HrUser).order_by(col(HrUser.id)))).all()
            ]

    @router.post("/users", status_code=201)
    async def add_user(body: UserCreate, who: Admin) -> UserCreated:
        """Add a user with a one-time password (in this answer only), to be changed at first sign-in."""
        password = one_time_password()
        async with runtime.db.write() as session:
            try:
                user = await create_user(session, body.email, body.role, password)
            except AccountError as exc:
                raise HTTPException(exc.status, str(exc)) from exc
            record(
                session,
                who.actor,
                "user.created",
                target=f"user:{user.id}",
                changes={"email": user.email, "role": user.role},
            )
        return UserCreated(user=user_public(user), one_time_password=password)

    @router.patch("/users/{user_id}")
    async def update_user(user_id: RowId, body: UserUpdate, who: Admin) -> UserPublic:
        """Change a user's role, or deactivate them (their sessions and tokens stop working)."""
        async with runtime.db.write() as session:
            user = await session.get(HrUser, user_id)
            if user is None:
                raise HTTPException(404, f"no user {user_id}")
            if user.id == who.user_id and (body.active is False or (body.role and body.role != "admin")):
                raise HTTPException(409, "you cannot demote or deactivate yourself; ask another admin")
            changes = {}
            if body.role is not None and body.role != user.role:
                changes["role"] = change(user.role, body.role)
                user.role = body.role
            if body.active is not None and body.active != user.active:
                changes["active"] = change(user.active, body.active)
                user.active = body.active
                if not body.active:
                    await close_sessions_of(session, user_id)
            session.add(user)
            if changes:
                record(session, who.actor, "user.updated", target=f"user:{user_id}", changes=changes)
        return user_public(user)

    @router.get("/roles")
    async def roles(who: Reader) -> list[RoleSummary]:
        """Published roles with their interviews: started, completed, decided (practice excluded)."""
        async with runtime.db.read() as session:
            return await role_summaries(session, runtime.catalog)

    @router.get("/roles/{role}/candidates")
    async def candidates(
        role: str,
        who: Reader,
        state: Annotated[
            list[InterviewState] | None,
            Query(description="one or more statuses (repeat the parameter); done is completed"),
        ] = None,
        decision: Annotated[Literal["advance", "hold", "reject", "none"] | None, Query()] = None,
        min_score: Annotated[float | None, Query(ge=1, le=5, description="lowest overall level")] = None,
        max_score: Annotated[float | None, Query(ge=1, le=5, description="highest overall level")] = None,
        started_from: Annotated[
            date | None, Query(description="started on or after this day, in your time zone")
        ] = None,
        started_to: Annotated[
            date | None, Query(description="started on or before this day, in your time zone")
        ] = None,
        sort: Annotated[
            str,
            Query(
                max_length=80,
                description=f"{', '.join(SORTS)}, competency:<id> or -competency:<id>",
            ),
        ] = "newest",
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        page: Annotated[int | None, Query(ge=1, le=100_000, deprecated=True)] = None,
        page_size: Annotated[int | None, Query(ge=1, le=200, deprecated=True)] = None,
    ) -> CandidatePage:
        """A role's candidates, filtered, sorted and paginated in the database: status, overall and
        per-competency scores, decision, dates. ``total`` counts every match; ``next_offset`` is the
        next page's offset (None on the last page). ``page``/``page_size`` still work."""
        if role not in {r.role for r in runtime.catalog.roles}:
            raise HTTPException(404, f"no role {role!r}")
        if not valid_sort(sort):
            raise HTTPException(422, f"unknown sort {sort!r}: use {', '.join(SORTS)} or competency:<id>")
        if min_score is not None and max_score is not None and min_score > max_score:
            raise HTTPException(422, "min_score is above max_score")
        if page_size is not None:
            limit = page_size
        if page is not None:
            offset = (page - 1) * limit
        after, before = day_range(started_from, started_to, user_zone(who.user))
        async with runtime.db.read() as session:
            return await candidate_page(
                session,
                key(),
                role,
                state=state,
                decision=decision,
                min_score=min_score,
                max_score=max_score,
                started_from=after,
                started_before=before,
                sort=sort,
                offset=offset,
                limit=limit,
            )

    @router.get("/interviews/{interview_id}")
    async def report(interview_id: RowId, who: Reader) -> CandidateReport:
        """A candidate's report: competency scores and each answer with its evidence."""
        async with runtime.db.read() as session:
            try:
                found = await candidate_report(session, runtime.catalog, key(), interview_id)
            except NotFoundError as exc:
                raise HTTPException(404, str(exc)) from exc
        await audit_view(runtime, who, found)
        return found

    @router.post("/interviews/{interview_id}/decision", status_code=201)
    async def decision(interview_id: RowId, body: DecisionCreate, who: Recruiter) -> DecisionPublic:
        """Advance, hold or reject, with a note: audited, sent to the HR system, announced."""
        try:
            return await decide(
                runtime.db, runtime.hooks, key(), who, interview_id, body, webhook=runtime.webhook is not None
            )
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc

    @router.get("/flows")
    async def flows(who: Reader) -> list[FlowVersionPublic]:
        """Every role's published flow, newest version."""
        async with runtime.db.read() as session:
            return [(await flow_versions(session, info.role))[0] for info in runtime.catalog.roles]

    @router.get("/flows/{role}")
    async def flow(role: str, who: Reader) -> FlowView:
        """A role's newest flow text and all its versions."""
        async with runtime.db.read() as session:
            latest = await latest_source(session, role)
            if latest is None:
                raise HTTPException(404, f"no flow for role {role!r}")
            return FlowView(
                role=role,
                version=latest.version,
                source=latest.source,
                versions=await flow_versions(session, role),
                questions=[
                    QuestionScoring(
                        **item,
                        few=item["exemplars"] < FEW_EXEMPLARS,
                        answers=f"/hr/api/flows/{role}/questions/{item['question_id']}/answers",
                    )
                    for item in runtime.scoring.reliability(latest.id or 0)
                ],
            )

    @router.post("/flows/{role}/check")
    async def check_flow(role: str, body: FlowSourceBody, who: Reader) -> FlowCheck:
        """The checks of `interviewer flows check`, each problem with its line; nothing is stored."""
        _, problems = check_flow_text(body.source, role)
        return FlowCheck(valid=not problems, problems=problems)

    @router.post("/flows/{role}/versions", status_code=201)
    async def publish_flow(role: str, body: FlowSourceBody, who: Recruiter) -> FlowPublished:
        """Publish the text as the role's next version (new interviews use it; running ones keep
        theirs). A flow with problems is refused (422) with every problem and its line."""
        return await publish(runtime, who, role, body.source)

    @router.get("/audit")
    async def audit(
        who: Admin,
        action: Annotated[str | None, Query(max_length=64)] = None,
        candidate: Annotated[str | None, Query(max_length=32)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[AuditEntry]:
        """HR's audit log, newest first."""
        statement = select(HrAudit).order_by(col(HrAudit.id).desc()).limit(limit)
        if action:
            statement = statement.where(HrAudit.action == action)
        if candidate:
            statement = statement.where(HrAudit.candidate_ref == candidate)
        async with runtime.db.read() as session:
            return [
                AuditEntry(
                    id=row.id or 0,
                    actor=row.actor,
                    action=row.action,
                    target=row.target,
                    candidate=row.candidate_ref,
                    changes=row.changes,
                    created_at=row.created_at,
                )
                for row in (await session.exec(statement)).all()
            ]

    return router


async def save_preferences(
    runtime: Runtime, who: Principal, language: str | None, time_zone: str | None
) -> HrUser:
    """Store a user's language and time zone (None leaves one as it is, ``""`` clears it)."""
    user = _user_only(who)
    if language and language not in LANGUAGES:
        raise AccountError(N_("unknown language: use en or zh"), 422)
    if time_zone and not valid_zone(time_zone):
        raise AccountError(N_("unknown time zone: use an IANA name such as Asia/Shanghai"), 422)
    async with runtime.db.write() as session:
        fresh = await session.get(HrUser, user.id)
        if fresh is None:
            raise AccountError(f"no user {user.id}", 404)
        changes = {}
        if language is not None and (language or None) != fresh.language:
            changes["language"] = change(fresh.language, language or None)
            fresh.language = language or None
        if time_zone is not None and (time_zone or None) != fresh.time_zone:
            changes["time_zone"] = change(fresh.time_zone, time_zone or None)
            fresh.time_zone = time_zone or None
        session.add(fresh)
        if changes:
            record(session, fresh, "user.preferences", target=f"user:{fresh.id}", changes=changes)
    return fresh


async def audit_view(runtime: Runtime, who: Principal, report: CandidateReport) -> None:
    """Opening a candidate's report is logged: personal data was read."""
    async with runtime.db.write() as session:
        interview = await session.get(Interview, report.interview_id)
        if interview is None:
            return
        record(
            session,
            who.actor,
            "candidate.viewed",
            target=f"interview:{report.interview_id}",
            candidate=(interview.candidate_id, report.candidate),
        )


async def publish(runtime: Runtime, who: Principal, role: str, source: str) -> FlowPublished:
    checked, problems = check_flow_text(source, role)
    if checked is None:
        raise HTTPException(422, "; ".join(f"line {p.line}: {p.message}" for p in problems[:20]))
    published = await runtime.catalog.publish_text(source, f"{role}.yml")
    if published.created:
        async with runtime.db.write() as session:
            record(
                session,
                who.actor,
                "flow.published",
                target=f"flow:{role}",
                changes={
                    "version": change(published.version - 1 or None, published.version),
                    "digest": checked.digest,
                },
            )
    return FlowPublished(role=role, version=published.version, created=published.created)
