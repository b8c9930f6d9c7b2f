"""The workspace API's flow tools, preview, FAQ, hires and validity report, under ``/hr/api``.

Reading (every role): a flow's structure, two versions' diff, previews (they store nothing), the
FAQ, a hire, a role's validity report. Changing (admin or recruiter): roll back, set a question's
clarification, save or delete an FAQ entry, mark a candidate hired, accept suggested weights.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from sqlmodel import select

from bot.hr.accounts import record
from bot.hr.api import ERRORS
from bot.hr.api import publish as publish_flow
from bot.hr.auth import READ, Principal, require_role
from bot.hr.faq import FaqError, entries, remove, save
from bot.hr.flows import latest_source
from bot.hr.flowtools import FlowEditError, diff, set_clarification, structure
from bot.hr.preview import PreviewError, Previews
from bot.hr.reports import NotFoundError
from bot.hr.schemas import FlowPublished, FlowSourceBody, RowId
from bot.hr.seeding import (
    Promotion,
    QuestionAnswers,
    RatingCreate,
    RatingPublic,
    promote,
    question_answers,
    rate,
)
from bot.hr.validity import hire, hire_of, validity_report, weighted_text
from bot.hr.workspace_schemas import (
    ClarificationBody,
    FaqEntryBody,
    FaqEntryView,
    FlowDiff,
    FlowRollback,
    FlowStructure,
    HireCreate,
    HirePublic,
    PreviewSay,
    PreviewStart,
    PreviewTurn,
    ValidityReport,
)
from bot.runtime import Runtime
from bot.store.models import FlowVersion

Reader = Annotated[Principal, Depends(require_role(*READ))]
Recruiter = Annotated[Principal, Depends(require_role("recruiter"))]
Version = Annotated[int | None, Query(ge=1, le=2_147_483_647)]


def previews(request: Request) -> Previews:
    found = getattr(request.app.state, "hr_previews", None)
    if not isinstance(found, Previews):
        raise RuntimeError("bot.hr.install(app, runtime) was not called")
    return found


async def version_text(runtime: Runtime, role: str, version: int | None) -> FlowVersion:
    """The role's version ``version`` (the newest when None).

    Raises:
        NotFoundError: no such flow or version.
    """
    async with runtime.db.read() as session:
        if version is None:
            row = await latest_source(session, role)
        else:
            row = (
                await session.exec(
                    select(FlowVersion).where(FlowVersion.role == role, FlowVersion.version == version)
                )
            ).first()
    if row is None:
        raise NotFoundError(
            f"no flow for role {role!r}" if version is None else f"no version {version} of {role!r}"
        )
    return row


async def rollback(runtime: Runtime, who: Principal, role: str, version: int) -> FlowPublished:
    """Publish an earlier version's text as the role's next version (audited)."""
    row = await version_text(runtime, role, version)
    published = await publish_flow(runtime, who, role, row.source)
    if published.created:
        async with runtime.db.write() as session:
            record(
                session,
                who.actor,
                "flow.rolled_back",
                target=f"flow:{role}",
                changes={"from_version": version, "published": published.version},
            )
    return published


async def clarify(
    runtime: Runtime, who: Principal, role: str, question_id: str, clarification: dict[str, str]
) -> FlowPublished:
    row = await version_text(runtime, role, None)
    text = set_clarification(row.source, question_id, clarification)
    return await publish_flow(runtime, who, role, text)


async def accept_weights(runtime: Runtime, who: Principal, role: str) -> FlowPublished:
    text, before, after = await weighted_text(runtime.db, role)
    published = await publish_flow(runtime, who, role, text)
    if published.created:
        async with runtime.db.write() as session:
            record(
                session,
                who.actor,
                "flow.weights_accepted",
                target=f"flow:{role}",
                changes={"weights": {"from": before, "to": after}, "version": published.version},
            )
    return published


def workspace_api_router(runtime: Runtime) -> APIRouter:
    router = APIRouter(prefix="/hr/api", tags=["hr workspace"], responses=ERRORS)

    @router.get("/flows/{role}/structure")
    async def flow_structure(role: str, who: Reader, version: Version = None) -> FlowStructure:
        """Competencies and weights (their total; an error unless it is 1), questions, follow-ups,
        rubric levels and clarifications of a version (the newest by default)."""
        try:
            row = await version_text(runtime, role, version)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        return structure(row.source, role)

    @router.post("/flows/{role}/structure")
    async def draft_structure(role: str, body: FlowSourceBody, who: Reader) -> FlowStructure:
        """The structure of a draft (nothing is stored), with its problems."""
        return structure(body.source.replace("\r\n", "\n"), role)

    @router.get("/flows/{role}/diff")
    async def flow_diff(
        role: str,
        who: Reader,
        old: Annotated[int, Query(ge=1, le=2_147_483_647)],
        new: Version = None,
    ) -> FlowDiff:
        """What changed from version ``old`` to version ``new`` (the newest by default)."""
        try:
            before = await version_text(runtime, role, old)
            after = await version_text(runtime, role, new)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        return diff(before.source, after.source, f"version {before.version}", f"version {after.version}")

    @router.post("/flows/{role}/rollback", status_code=201)
    async def flow_rollback(role: str, body: FlowRollback, who: Recruiter) -> FlowPublished:
        """Publish version ``version``'s text again, as the role's next version (running interviews
        keep theirs). ``created`` is false when it is the newest text already."""
        try:
            return await rollback(runtime, who, role, body.version)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc

    @router.put("/flows/{role}/questions/{question_id}/clarification")
    async def question_clarification(
        role: str, question_id: str, body: ClarificationBody, who: Recruiter
    ) -> FlowPublished:
        """Set what a question means, said another way (for a candidate who asks), and publish the
        flow as a new version; the rest of the text stays as it was."""
        try:
            given = {str(k): v for k, v in body.clarification.items()}
            return await clarify(runtime, who, role, question_id, given)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        except FlowEditError as exc:
            raise HTTPException(exc.status, str(exc)) from exc

    @router.post("/flows/{role}/preview", status_code=201)
    async def start_preview(
        role: str, body: PreviewStart, who: Reader, found: Annotated[Previews, Depends(previews)]
    ) -> PreviewTurn:
        """Run the flow (a draft, or the newest version) as a candidate would: the bot's first
        replies. Nothing is stored as an interview; the preview lasts two hours."""
        try:
            return await found.start(role, body.source, body.language, who.user_id)
        except PreviewError as exc:
            raise HTTPException(exc.status, str(exc)) from exc

    @router.post("/previews/{preview_id}")
    async def preview_say(
        preview_id: Annotated[str, Path(max_length=64)],
        body: PreviewSay,
        who: Reader,
        found: Annotated[Previews, Depends(previews)],
    ) -> PreviewTurn:
        """Send one message to the preview as the candidate; the bot's replies and the scores so far."""
        try:
            return await found.say(preview_id, body.text, who.user_id)
        except PreviewError as exc:
            raise HTTPException(exc.status, str(exc)) from exc

    @router.get("/faq")
    async def faq(who: Reader) -> list[FaqEntryView]:
        """HR's FAQ entries, then the shipped ones (an HR entry with a shipped entry's id overrides it)."""
        return await entries(runtime)

    @router.put("/faq/{entry_id}")
    async def faq_save(entry_id: str, body: FaqEntryBody, who: Recruiter) -> FaqEntryView:
        """Create or replace HR's entry; candidates get it without a restart."""
        try:
            return await save(runtime, who, entry_id, body)
        except FaqError as exc:
            raise HTTPException(exc.status, str(exc)) from exc

    @router.delete("/faq/{entry_id}", status_code=204)
    async def faq_delete(entry_id: str, who: Recruiter) -> None:
        try:
            await remove(runtime, who, entry_id)
        except FaqError as exc:
            raise HTTPException(exc.status, str(exc)) from exc

    @router.get("/interviews/{interview_id}/hire")
    async def hire_get(interview_id: RowId, who: Reader) -> HirePublic:
        """The hire of the interview's candidate, with the performance imported for them so far."""
        found = await hire_of(runtime.db, runtime.hr_key, interview_id)
        if found is None:
            raise HTTPException(404, f"interview {interview_id} has no hire recorded")
        return found

    @router.put("/interviews/{interview_id}/hire")
    async def hire_put(interview_id: RowId, body: HireCreate, who: Recruiter) -> HirePublic:
        """Mark the candidate hired with their employee id in the HR system (stored as the keyed
        hash EHR imports use, so later performance ratings join this interview)."""
        try:
            return await hire(runtime.db, runtime.hr_key, who, interview_id, body.employee_id)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc

    @router.get("/roles/{role}/validity")
    async def validity(role: str, who: Reader) -> ValidityReport:
        """Interview scores against later performance (Pearson with a 95% Fisher-z interval,
        Spearman, n), overall and per competency; and the weights the employee records suggest."""
        try:
            return await validity_report(runtime.db, runtime.catalog, role)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc

    @router.post("/roles/{role}/weights", status_code=201)
    async def weights(role: str, who: Recruiter) -> FlowPublished:
        """Accept the suggested weights: the role's flow is published with them as a new version."""
        try:
            return await accept_weights(runtime, who, role)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        except ValueError as exc:  # the newest flow's competencies do not fit the derived weights
            raise HTTPException(409, str(exc)) from exc

    @router.get("/flows/{role}/questions/{question_id}/answers")
    async def answers_to_rate(role: str, question_id: str, who: Reader) -> QuestionAnswers:
        """Real interviews' answers to a question (newest first, at most 200), each with its machine
        level, HR's rating and its exemplar once promoted; the question's exemplars and whether
        they are few (then rate answers and promote them to seed it)."""
        try:
            return await question_answers(runtime, role, question_id, who.user.language if who.user else None)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc

    @router.put("/answers/{answer_id}/rating")
    async def rate_answer(answer_id: RowId, body: RatingCreate, who: Recruiter) -> RatingPublic:
        """Rate one answer of a real interview 1..5 (who and when are kept; the newest counts)."""
        try:
            return await rate(runtime, who, answer_id, body)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc

    @router.post("/flows/{role}/questions/{question_id}/exemplars")
    async def promote_rated(role: str, question_id: str, who: Recruiter) -> Promotion:
        """Make the question's rated answers its exemplars (contact data taken out; erased with the
        candidate); its scorer uses them from the next answer on. 422 when none is rated."""
        try:
            return await promote(runtime, who, role, question_id)
        except NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc

    return router
