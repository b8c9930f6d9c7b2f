"""The dialogue engine: one message in, actions run, events applied, replies out.

`Engine.step` runs inside the caller's transaction with the conversation row locked, so a step is
all-or-nothing: if anything fails, no answer, state change or reply of that step is kept, and the
inbound message stays unprocessed to be handled again.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from actions.base import ActionRegistry, BotMessage, Dispatcher, Domain, Event, Tracker
from actions.responses import Responses
from bot.catalog import FlowCatalog
from bot.knowledge import KnowledgeService
from bot.nlu import Parse
from bot.policy import IN_INTERVIEW, decide
from bot.progress import practice_progress
from bot.scoring import ScoringService, score_row, update_results
from bot.settings import Settings
from bot.store import repo
from bot.store.models import (
    Answer,
    Application,
    Candidate,
    ChannelIdentity,
    Handoff,
    Interview,
    Invitation,
    Message,
    utcnow,
)
from flows.schema import Flow
from knowledge.roles import Catalog

log = logging.getLogger(__name__)

MAX_ACTIONS_PER_STEP = 20
PRACTICE_DATA = frozenset({"action_wrap_up", "action_show_progress"})
"""Actions that read practice data the engine loads for them (see `Engine._practice_data`)."""
INTERVIEW_SLOTS = ("state", "question_index", "follow_up_index", "paused_from")


@dataclass
class StepResult:
    messages: list[BotMessage]
    erased: bool = False


class Engine:
    def __init__(
        self,
        registry: ActionRegistry,
        responses: Responses,
        catalog: FlowCatalog,
        settings: Settings,
        scoring: ScoringService | None = None,
        knowledge: KnowledgeService | None = None,
    ) -> None:
        self.registry = registry
        self.responses = responses
        self.catalog = catalog
        self.settings = settings
        self.scoring = scoring
        self.knowledge = knowledge
        self.role_catalog: Catalog | None = None
        """The role catalog (dialogues/roles.yml), set by the runtime."""

    async def prepare(self, session: AsyncSession, identity_id: int, message: Message, parse: Parse) -> None:
        """Work that needs no lock, done before the step's transaction: score the answer this
        message would record, or look up the answer to the candidate's question, so the step only
        stores the result."""
        identity = await session.get(ChannelIdentity, identity_id)
        if identity is None:
            return
        interview = (
            await session.get(Interview, identity.active_interview_id)
            if identity.active_interview_id
            else None
        )
        state = interview.state if interview else "idle"
        decision = decide(state, parse, identity.pending, threshold=self.settings.nlu.threshold)
        if "action_answer_faq" in decision.actions and self.knowledge is not None:
            await self.knowledge.prepare(parse.text, parse.language, interview.role if interview else None)
        if "action_score_answer" in decision.actions and interview is not None:
            await self._prepare_score(session, identity, interview, parse, decision.confirmed_answer)

    async def _prepare_score(
        self,
        session: AsyncSession,
        identity: ChannelIdentity,
        interview: Interview,
        parse: Parse,
        confirmed_answer: bool,
    ) -> None:
        if self.scoring is None or interview.id is None or interview.state != "question":
            return
        if not self.scoring.ready(interview.flow_version_id):
            return
        text, vector = parse.text, parse.vector
        if confirmed_answer and identity.pending and identity.pending.get("message_id"):
            earlier = await session.get(Message, int(identity.pending["message_id"]))
            text, vector = (earlier.text, None) if earlier else (text, vector)
        flow = await self.catalog.flow(interview.flow_version_id, session)
        if interview.question_index >= len(flow.questions):
            return
        question = flow.questions[interview.question_index]
        previous = await repo.question_answers(session, interview.id, question.id, interview.attempt)
        if (
            previous
            or parse.model_id is None
            or not self.scoring.vector_fits(interview.flow_version_id, parse.model_id)
        ):
            vector = None
        await self.scoring.prepare(interview.flow_version_id, question, "\n".join([*previous, text]), vector)

    async def step(
        self,
        session: AsyncSession,
        identity: ChannelIdentity,
        message: Message,
        parse: Parse,
        *,
        received_at: datetime | None = None,
        now: datetime | None = None,
    ) -> StepResult:
        """Run one message through the policy and actions; the caller commits.

        ``received_at`` (when the message was stored) times the answer; ``now`` starts the next clock.
        """
        now = now or utcnow()
        candidate = await session.get(Candidate, identity.candidate_id)
        assert candidate is not None and message.id is not None
        interview = (
            await session.get(Interview, identity.active_interview_id)
            if identity.active_interview_id
            else None
        )
        flow = await self.catalog.flow(interview.flow_version_id, session) if interview else None
        state = interview.state if interview else "idle"

        if (
            state not in IN_INTERVIEW
            and parse.command is None
            and parse.language != candidate.language
            and parse.language in self.settings.languages
            and parse.intent not in {"empty", "unreadable"}
        ):
            # Speak the candidate's language from their first words, before an interview starts.
            candidate.language = parse.language

        pending = identity.pending
        identity.pending = None
        decision = decide(state, parse, pending, threshold=self.settings.nlu.threshold)
        latest = parse.as_latest_message()
        latest["message_id"] = message.id
        latest["max_chars"] = self.settings.interview.max_message_chars
        latest["received_at"] = (received_at or now).isoformat()
        latest["entities"] = list(decision.entities)
        _voice_facts(latest, parse, pending, decision.confirmed_answer)
        if decision.confirmed_answer and pending and pending.get("message_id"):
            earlier = await session.get(Message, int(pending["message_id"]))
            latest["answer_text"] = earlier.text if earlier else parse.text
            latest["answer_message_id"] = earlier.id if earlier else message.id
        elif "action_record_answer" in decision.actions:
            latest["answer_message_id"] = message.id
        actions = await self._resolve_invitation(session, latest, decision.actions)

        slots = await self._slots(session, candidate, interview)
        tracker = Tracker(sender_id=str(identity.id), slots=slots, latest_message=latest, now=now)
        dispatcher = Dispatcher(self.responses, candidate.language)
        if message.truncated:
            dispatcher.utter_message(
                response="message_truncated", chars=self.settings.interview.max_message_chars
            )
        context = _StepContext(interview=interview, flow=flow)
        queue = deque(actions)
        run = 0
        while queue:
            name = queue.popleft()
            run += 1
            if run > MAX_ACTIONS_PER_STEP:
                raise RuntimeError(f"more than {MAX_ACTIONS_PER_STEP} actions in one step: a followup loop")
            if name in PRACTICE_DATA:
                await self._practice_data(session, name, tracker, context, candidate)
            if name in {"action_wrap_up", "action_recommend_roles"} and context.interview is not None:
                assert context.interview.id is not None
                tracker.slots["progress"] = await repo.progress(session, context.interview.id)
                tracker.slots["results"] = context.interview.results or {}
                if name == "action_recommend_roles":
                    tracker.slots["answer_texts"] = "\n".join(
                        await repo.interview_answer_texts(session, context.interview.id)
                    )
            domain = Domain(
                flow=context.flow,
                roles=self.catalog.roles,
                default_time_limit=self.settings.interview.default_time_limit,
                practice_retention_days=self.settings.interview.practice_retention_days,
                faq_time_credit=self.settings.knowledge.faq_time_credit,
                catalog=self.role_catalog,
                audio_days=self.settings.voice.keep_audio_days,
                spoken_languages=frozenset(self.settings.voice.read_aloud_voices),
            )
            events = await self.registry.get(name).run(dispatcher, tracker, domain)
            for event in events:
                followup = await self._apply(
                    session, event, tracker, context, candidate, identity, message, now
                )
                if followup:
                    queue.append(followup)

        self._save_slots(tracker, candidate, identity, context.interview, now)
        if context.erase:
            await repo.erase_candidate(session, candidate.id or 0, keep_message_id=message.id)
        return StepResult(messages=dispatcher.messages, erased=context.erase)

    async def _resolve_invitation(
        self, session: AsyncSession, latest: dict[str, Any], actions: list[str]
    ) -> list[str]:
        entities = latest["entities"]
        token = next((e["value"] for e in entities if e["entity"] == "invitation_token"), None)
        if token is None:
            return actions
        invitation = await repo.find_invitation(session, str(token))
        if invitation is None:
            return ["utter_invalid_invitation"]
        entities += [
            {"entity": "role", "value": invitation.role},
            {"entity": "mode", "value": invitation.mode},
            {"entity": "invitation_id", "value": invitation.id},
        ]
        return actions

    async def _slots(
        self, session: AsyncSession, candidate: Candidate, interview: Interview | None
    ) -> dict[str, Any]:
        slots: dict[str, Any] = {
            "language": candidate.language,
            "state": "idle",
            "read_aloud_choice": candidate.read_aloud,
            "read_aloud": None,
        }
        if interview is None:
            return slots
        assert interview.id is not None
        flow = await self.catalog.flow(interview.flow_version_id, session)
        if flow.read_aloud if candidate.read_aloud is None else candidate.read_aloud:
            slots["read_aloud"] = interview.flow_version_id
        slots.update(
            state=interview.state,
            role=interview.role,
            mode=interview.mode,
            interview_language=interview.language,
            question_index=interview.question_index,
            follow_up_index=interview.follow_up_index,
            paused_from=interview.paused_from,
            question_asked_at=interview.question_asked_at.isoformat()
            if interview.question_asked_at
            else None,
            flow_version_id=interview.flow_version_id,
            attempt=interview.attempt,
        )
        if interview.state in IN_INTERVIEW and interview.question_index < len(flow.questions):
            question = flow.questions[interview.question_index]
            slots["answers"] = await repo.question_answers(
                session, interview.id, question.id, interview.attempt
            )
            if interview.mode == "practice" and interview.attempt > 1:
                slots["previous_feedback"] = await repo.earlier_feedback(
                    session, interview.id, question.id, interview.attempt
                )
        if interview.mode == "practice" and interview.state in {"question", "done"}:
            slots["retry"] = await _retry_target(session, interview, flow)
        return slots

    async def _practice_data(
        self,
        session: AsyncSession,
        name: str,
        tracker: Tracker,
        context: _StepContext,
        candidate: Candidate,
    ) -> None:
        """What the practice actions read from the store: the levels of each question's latest
        attempt for the session's summary, and the candidate's progress across sessions."""
        interview = context.interview
        if name == "action_show_progress":
            tracker.slots["practice_progress"] = await practice_progress(
                session, self.catalog, candidate.id or 0
            )
        elif interview is not None and interview.id is not None and interview.mode == "practice":
            tracker.slots["question_levels"] = [
                {
                    "question_id": answer.question_id,
                    "level": score.evidence.get("rounded_level", round(score.level)),
                }
                for answer, score in await repo.latest_scores(session, interview.id)
                if score.level is not None and score.insufficient is None
            ]

    async def _apply(
        self,
        session: AsyncSession,
        event: Event,
        tracker: Tracker,
        context: _StepContext,
        candidate: Candidate,
        identity: ChannelIdentity,
        message: Message,
        now: datetime,
    ) -> str | None:
        kind = event.get("event")
        if kind == "slot":
            tracker.slots[event["name"]] = event["value"]
        elif kind == "followup":
            return str(event["name"])
        elif kind == "interview_started":
            flow = await self.catalog.flow(int(event["flow_version_id"]), session)
            language = candidate.language if candidate.language in flow.languages else flow.languages[0]
            interview = Interview(
                candidate_id=candidate.id or 0,
                flow_version_id=int(event["flow_version_id"]),
                role=str(event["role"]),
                mode=str(event["mode"]),
                state="consent",
                language=language,
                invitation_id=event.get("invitation_id"),
                created_at=now,
                updated_at=now,
            )
            session.add(interview)
            await session.flush()
            identity.active_interview_id = interview.id
            context.interview, context.flow = interview, flow
            tracker.slots.update(
                role=interview.role,
                mode=interview.mode,
                interview_language=language,
                question_index=0,
                follow_up_index=None,
                paused_from=None,
                answers=[],
                question_asked_at=None,
                attempt=1,
            )
            if event.get("invitation_id"):
                await _use_invitation(session, int(event["invitation_id"]), candidate.id, now)
            await repo.audit(
                session,
                "interview.started",
                candidate_id=candidate.id,
                interview_id=interview.id,
                role=interview.role,
                mode=interview.mode,
            )
        elif kind == "answer":
            interview = _require(context.interview)
            answer = Answer(
                interview_id=interview.id or 0,
                question_id=str(event["question_id"]),
                follow_up_id=event.get("follow_up_id"),
                competency=str(event["competency"]),
                attempt=int(event.get("attempt") or 1),
                message_id=event.get("message_id"),
                text=str(event["text"]),
                status=str(event["status"]),
                late=bool(event["late"]),
                elapsed_seconds=event.get("elapsed_seconds"),
                created_at=now,
            )
            session.add(answer)
            await session.flush()
            context.last_answer = answer
        elif kind == "score":
            interview = _require(context.interview)
            scored = context.last_answer
            if scored is None or scored.id is None:
                raise RuntimeError("a score event must follow an answer event")
            session.add(score_row(scored, dict(event["result"]), interview.flow_version_id))
            await session.flush()
            await update_results(session, interview.id or 0, _require_flow(context.flow))
        elif kind == "handoff":
            interview_id = context.interview.id if context.interview else None
            session.add(
                Handoff(
                    candidate_id=candidate.id,
                    interview_id=interview_id,
                    kind=str(event["kind"]),
                    text=str(event.get("text", "")),
                    language=str(event.get("language") or candidate.language),
                    created_at=now,
                )
            )
            await repo.audit(
                session, f"handoff.{event['kind']}", candidate_id=candidate.id, interview_id=interview_id
            )
        elif kind == "interview_ended":
            interview = _require(context.interview)
            tracker.slots["state"] = event["state"]
            interview.completed_at = now
            await repo.audit(
                session, f"interview.{event['state']}", candidate_id=candidate.id, interview_id=interview.id
            )
        elif kind == "knowledge_answer":
            await repo.audit(
                session,
                "question.answered" if event["kind"] != "none" else "question.unanswered",
                candidate_id=candidate.id,
                interview_id=context.interview.id if context.interview else None,
                answer_kind=event["kind"],
                entry_id=event.get("entry_id"),
                confidence=event.get("confidence"),
            )
        elif kind == "roles_recommended":
            await repo.audit(
                session,
                "roles.recommended",
                candidate_id=candidate.id,
                interview_id=context.interview.id if context.interview else None,
                roles=list(event["roles"]),
            )
        elif kind == "application":
            await _apply_once(session, candidate, context.interview, str(event["role"]), now)
        elif kind == "erase_candidate":
            context.erase = True
        else:
            raise ValueError(f"unknown event {kind!r}")
        return None

    def _save_slots(
        self,
        tracker: Tracker,
        candidate: Candidate,
        identity: ChannelIdentity,
        interview: Interview | None,
        now: datetime,
    ) -> None:
        slots = tracker.slots
        candidate.language = str(slots.get("language") or candidate.language)
        candidate.read_aloud = slots.get("read_aloud_choice")
        identity.pending = slots.get("pending")
        identity.last_seen_at = now
        if interview is None:
            return
        for name in INTERVIEW_SLOTS:
            setattr(interview, name, slots.get(name))
        interview.attempt = int(slots.get("attempt") or 1)
        interview.language = str(slots.get("interview_language") or interview.language)
        asked = slots.get("question_asked_at")
        interview.question_asked_at = datetime.fromisoformat(asked) if asked else None
        interview.updated_at = now


def _voice_facts(
    latest: dict[str, Any], parse: Parse, pending: dict[str, Any] | None, confirmed: bool
) -> None:
    """What the recogniser found about the answer being recorded: this voice message's, or the
    earlier one's the candidate just confirmed; a typed correction is marked as such."""
    if confirmed and pending and pending.get("confirm") == "transcript":
        latest["voice"] = pending.get("voice")
    elif parse.voice is not None:
        latest["voice"] = parse.voice
    latest["corrected"] = any(e.get("entity") == "corrected" for e in latest["entities"])


@dataclass
class _StepContext:
    interview: Interview | None
    flow: Flow | None
    last_answer: Answer | None = None
    erase: bool = False


async def _retry_target(session: AsyncSession, interview: Interview, flow: Flow) -> dict[str, int] | None:
    """The practice question a retry would answer again: the one answered last, when it is the
    current question or the one just finished; None after a skip or before any answer."""
    assert interview.id is not None
    last = await repo.last_answer(session, interview.id)
    if last is None or last.status != "answered":
        return None
    index = next((i for i, q in enumerate(flow.questions) if q.id == last.question_id), None)
    if index is None:
        return None
    current = interview.question_index
    if interview.state == "question" and index not in {current, current - 1}:
        return None
    return {"question_index": index, "attempt": last.attempt}


def _require_flow(flow: Flow | None) -> Flow:
    if flow is None:
        raise RuntimeError("this event needs an interview in progress")
    return flow


def _require(interview: Interview | None) -> Interview:
    if interview is None or interview.id is None:
        raise RuntimeError("this event needs an interview in progress")
    return interview


async def _apply_once(
    session: AsyncSession, candidate: Candidate, interview: Interview | None, role: str, now: datetime
) -> None:
    """One application per candidate and role: a repeated "apply" changes nothing. The
    conversation's row lock serialises a candidate's messages, so the check cannot race."""
    existing = (
        await session.exec(
            select(Application).where(Application.candidate_id == candidate.id, Application.role == role)
        )
    ).first()
    if existing is not None:
        return
    session.add(
        Application(
            candidate_id=candidate.id or 0,
            role=role,
            source_interview_id=interview.id if interview else None,
            created_at=now,
        )
    )
    await repo.audit(session, "application.created", candidate_id=candidate.id, role=role)


async def _use_invitation(
    session: AsyncSession, invitation_id: int, candidate_id: int | None, now: datetime
) -> None:
    invitation = await session.get(Invitation, invitation_id)
    if invitation is not None:
        invitation.candidate_id = candidate_id
        invitation.used_at = invitation.used_at or now
