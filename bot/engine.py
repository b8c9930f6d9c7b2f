"""The dialogue engine: one message in, actions run, events applied, replies out.

A message goes through in four steps, the conversation locked throughout (`bot.conversations`):
`load` reads what it needs (one read), `plan` runs the policy once, `prepare` does the model work
the decision needs (scoring, FAQ lookup) outside any transaction, and `step` runs the actions and
applies their events (typed values, `actions.events`, each through its handler) inside the
caller's one write transaction, so a step is all-or-nothing: if anything fails, no answer, state
change or reply of it is kept, and the inbound message stays unprocessed to be handled again.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from actions.base import ActionRegistry, BotMessage, Dispatcher, Domain, Tracker
from actions.events import (
    AnswerRecorded,
    AnswerScored,
    Applied,
    CandidateErased,
    Event,
    FollowupAction,
    HandedOff,
    InterviewEnded,
    InterviewStarted,
    KnowledgeAnswered,
    OptedOut,
    QuestionClarified,
    RolesRecommended,
    SlotSet,
)
from actions.responses import Responses
from bot.campaigns.optout import opt_out_candidate
from bot.campaigns.slots import SlotPicker
from bot.catalog import FlowCatalog
from bot.hr import webhooks
from bot.knowledge import KnowledgeService
from bot.nlu import Parse
from bot.policy import IN_INTERVIEW, Decision, decide, pending_question
from bot.progress import practice_progress
from bot.scoring import ScoringService, score_row, update_results
from bot.secrets import id_key
from bot.settings import Settings
from bot.store import repo
from bot.store.models import (
    Answer,
    Application,
    CampaignCandidate,
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
from language.text import detect_language

log = logging.getLogger(__name__)

MAX_ACTIONS_PER_STEP = 20
PRACTICE_DATA = frozenset({"action_wrap_up", "action_show_progress"})
"""Actions that read practice data the engine loads for them (see `Engine._practice_data`)."""
INTERVIEW_SLOTS = ("state", "question_index", "follow_up_index", "paused_from")


@dataclass
class StepResult:
    messages: list[BotMessage]
    erased: bool = False


@dataclass
class Snapshot:
    """A conversation as one read found it, with the message to process: what the model work,
    the decision and the step need (`Engine.load`)."""

    identity: ChannelIdentity
    candidate: Candidate
    interview: Interview | None
    message: Message
    flow: Flow | None = None
    answers: list[str] = field(default_factory=list)
    """Texts recorded so far for the current question's attempt (the answer and its follow-ups)."""
    previous_feedback: dict[str, Any] | None = None
    retry: dict[str, int] | None = None
    earlier: Message | None = None
    """The message awaiting the candidate's confirmation that it is their answer."""

    @property
    def state(self) -> str:
        return self.interview.state if self.interview else "idle"


@dataclass
class Turn:
    """One message on its way through: what was read, what the classifier made of it, what the
    policy decided (once)."""

    snapshot: Snapshot
    parse: Parse
    decision: Decision


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
        self.webhook_key: bytes | None = None
        """Set by the runtime when HR's webhook is configured: a completed real interview queues
        ``interview.completed`` (candidates named by their reference under this key)."""
        self.slot_picker: SlotPicker | None = None
        """Books a next-round slot for ``/slot N`` in the step's transaction (set by the runtime:
        `bot.campaigns.slots.NextRounds.chat_command`)."""
        self._handlers = self._handler_table()

    async def load(self, session: AsyncSession, identity_id: int, message: Message) -> Snapshot | None:
        """Read what processing ``message`` needs (one read, before any model work); None when the
        conversation was erased."""
        row = (
            await session.exec(
                select(ChannelIdentity, Candidate, Interview)
                .join(Candidate, col(Candidate.id) == col(ChannelIdentity.candidate_id))
                .outerjoin(Interview, col(Interview.id) == col(ChannelIdentity.active_interview_id))
                .where(ChannelIdentity.id == identity_id)
            )
        ).first()
        if row is None:
            return None
        identity, candidate, interview = row
        snapshot = Snapshot(identity=identity, candidate=candidate, interview=interview, message=message)
        if interview is not None:
            assert interview.id is not None
            flow = snapshot.flow = await self.catalog.flow(interview.flow_version_id, session)
            if interview.state in IN_INTERVIEW and interview.question_index < len(flow.questions):
                question = flow.questions[interview.question_index]
                snapshot.answers = await repo.question_answers(
                    session, interview.id, question.id, interview.attempt
                )
                if interview.mode == "practice" and interview.attempt > 1:
                    snapshot.previous_feedback = await repo.earlier_feedback(
                        session, interview.id, question.id, interview.attempt
                    )
            if interview.mode == "practice" and interview.state in {"question", "done"}:
                snapshot.retry = await _retry_target(session, interview, flow)
        pending = identity.pending or {}
        if pending.get("message_id"):
            snapshot.earlier = await session.get(Message, int(pending["message_id"]))
        return snapshot

    def engine_for(self, snapshot: Snapshot) -> str | None:
        """The embedding engine a message should preferably be embedded with: during an
        interview's questions, the one its answers are scored with (so one vector serves both)."""
        if self.scoring is None or snapshot.flow is None or snapshot.state != "question":
            return None
        return self.scoring.engine_for(snapshot.flow)

    def plan(self, snapshot: Snapshot, parse: Parse) -> Turn:
        """Decide, once, what answers the message (the policy; no database, no model)."""
        interview, flow = snapshot.interview, snapshot.flow
        question = None
        if interview is not None and flow is not None and snapshot.state == "question":
            question = pending_question(
                flow, interview.question_index, interview.follow_up_index, interview.language
            )
        decision = decide(
            snapshot.state,
            parse,
            snapshot.identity.pending,
            threshold=self.settings.nlu.threshold,
            question=question,
        )
        return Turn(snapshot=snapshot, parse=parse, decision=decision)

    async def prepare(self, turn: Turn) -> None:
        """The model work a decision needs, outside any transaction: score the answer the message
        records, or look up the answer to the candidate's question; the step only stores it."""
        snapshot, parse, actions = turn.snapshot, turn.parse, turn.decision.actions
        interview = snapshot.interview
        if "action_answer_faq" in actions and self.knowledge is not None:
            earlier = snapshot.earlier if turn.decision.earlier_question else None
            await self.knowledge.prepare(
                earlier.text if earlier is not None else parse.text,
                detect_language(earlier.text) if earlier is not None else parse.language,
                interview.role if interview else None,
                None if earlier is not None else parse.vector,
                parse.model_id,
            )
        if "action_score_answer" in actions and interview is not None:
            await self._prepare_score(turn)

    async def _prepare_score(self, turn: Turn) -> None:
        snapshot, parse = turn.snapshot, turn.parse
        interview, flow = snapshot.interview, snapshot.flow
        if self.scoring is None or interview is None or flow is None or interview.state != "question":
            return
        if not self.scoring.ready(interview.flow_version_id) or interview.question_index >= len(
            flow.questions
        ):
            return
        text, vector = parse.text, parse.vector
        if turn.decision.confirmed_answer and snapshot.earlier is not None:
            text, vector = snapshot.earlier.text, None
        question = flow.questions[interview.question_index]
        previous = snapshot.answers
        if (
            previous
            or parse.model_id is None
            or not self.scoring.vector_fits(interview.flow_version_id, parse.model_id)
        ):
            vector = None  # the joined answer (with its follow-ups) is embedded once more
        await self.scoring.prepare(interview.flow_version_id, question, "\n".join([*previous, text]), vector)

    async def step(self, session: AsyncSession, turn: Turn, *, now: datetime | None = None) -> StepResult:
        """Apply the turn: run the decided actions and apply their events, in the caller's write
        transaction; the caller commits. Rows come from the turn's snapshot (no reading back);
        ``now`` starts the next question's clock (the message's receipt times the answer)."""
        now = now or utcnow()
        snapshot, parse, decision = turn.snapshot, turn.parse, turn.decision
        identity, candidate, interview, message = (
            snapshot.identity,
            snapshot.candidate,
            snapshot.interview,
            snapshot.message,
        )
        # the snapshot's rows join this transaction as they were read (no second read)
        session.add(identity)
        session.add(candidate)
        if interview is not None:
            session.add(interview)
        flow = snapshot.flow
        state = snapshot.state
        assert message.id is not None

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
        latest = parse.as_latest_message()
        latest["message_id"] = message.id
        latest["max_chars"] = self.settings.interview.max_message_chars
        latest["received_at"] = message.created_at.isoformat()
        latest["entities"] = list(decision.entities)
        _voice_facts(latest, parse, pending, decision.confirmed_answer)
        if decision.confirmed_answer and pending and pending.get("message_id"):
            earlier = snapshot.earlier
            latest["answer_text"] = earlier.text if earlier else parse.text
            latest["answer_message_id"] = earlier.id if earlier else message.id
        elif "action_record_answer" in decision.actions:
            latest["answer_message_id"] = message.id
        if decision.earlier_question and snapshot.earlier is not None:
            latest["text"] = snapshot.earlier.text
            latest["language"] = detect_language(snapshot.earlier.text)
        actions = await self._resolve_invitation(session, latest, decision.actions, candidate.id)
        if "action_pick_slot" in actions and self.slot_picker is not None and candidate.id is not None:
            pick = await self.slot_picker(session, candidate.id, parse.args)
            latest["slot_pick"] = {"outcome": pick.outcome, "slot": pick.slot, "cutoff": pick.cutoff}

        slots = self._slots(snapshot)
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
            applying = _Applying(session, tracker, context, candidate, identity, now)
            for event in events:
                followup = await self._apply(event, applying)
                if followup:
                    queue.append(followup)

        self._save_slots(tracker, candidate, identity, context.interview, now)
        if context.erase:
            await repo.erase_candidate(session, candidate.id or 0, keep_message_id=message.id)
            if self.scoring is not None:
                # this process's near-duplicate index now; other processes' at their next refresh
                self.scoring.forget_candidate(candidate.id or 0)
        return StepResult(messages=dispatcher.messages, erased=context.erase)

    async def _resolve_invitation(
        self, session: AsyncSession, latest: dict[str, Any], actions: list[str], candidate_id: int | None
    ) -> list[str]:
        entities = latest["entities"]
        token = next((e["value"] for e in entities if e["entity"] == "invitation_token"), None)
        if token is None:
            return actions
        invitation = await repo.find_invitation(session, str(token))
        # Single use: once a candidate has opened it, the link starts nobody else's interview.
        if invitation is None or (invitation.used_at is not None and invitation.candidate_id != candidate_id):
            return ["utter_invalid_invitation"]
        entities += [
            {"entity": "role", "value": invitation.role},
            {"entity": "mode", "value": invitation.mode},
            {"entity": "invitation_id", "value": invitation.id},
        ]
        return actions

    def _slots(self, snapshot: Snapshot) -> dict[str, Any]:
        candidate, interview, flow = snapshot.candidate, snapshot.interview, snapshot.flow
        slots: dict[str, Any] = {
            "language": candidate.language,
            "state": "idle",
            "read_aloud_choice": candidate.read_aloud,
            "read_aloud": None,
            "candidate_id": candidate.id,
        }
        if interview is None or flow is None:
            return slots
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
            interview_id=interview.id,
        )
        if interview.state in IN_INTERVIEW and interview.question_index < len(flow.questions):
            slots["answers"] = list(snapshot.answers)
            if interview.mode == "practice" and interview.attempt > 1:
                slots["previous_feedback"] = snapshot.previous_feedback
        if interview.mode == "practice" and interview.state in {"question", "done"}:
            slots["retry"] = snapshot.retry
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

    async def _apply(self, event: Event, at: _Applying) -> str | None:
        """Apply one event (its kind's handler); returns the action a followup asks for."""
        handler = self._handlers.get(type(event))
        if handler is None:
            raise ValueError(f"no handler for event {event.name!r}")
        return await handler(event, at)

    def _handler_table(self) -> dict[type[Event], Callable[[Any, _Applying], Awaitable[str | None]]]:
        return {
            SlotSet: self._on_slot,
            FollowupAction: self._on_followup,
            InterviewStarted: self._on_interview_started,
            AnswerRecorded: self._on_answer,
            AnswerScored: self._on_score,
            HandedOff: self._on_handoff,
            InterviewEnded: self._on_interview_ended,
            KnowledgeAnswered: self._on_knowledge_answer,
            QuestionClarified: self._on_clarified,
            RolesRecommended: self._on_roles_recommended,
            Applied: self._on_application,
            CandidateErased: self._on_erase,
            OptedOut: self._on_opt_out,
        }

    async def _on_slot(self, event: SlotSet, at: _Applying) -> None:
        at.tracker.slots[event.key] = event.value

    async def _on_followup(self, event: FollowupAction, at: _Applying) -> str:
        return event.action

    async def _on_interview_started(self, event: InterviewStarted, at: _Applying) -> None:
        session, candidate, now = at.session, at.candidate, at.now
        flow = await self.catalog.flow(event.flow_version_id, session)
        language = candidate.language if candidate.language in flow.languages else flow.languages[0]
        interview = Interview(
            candidate_id=candidate.id or 0,
            flow_version_id=event.flow_version_id,
            role=event.role,
            mode=event.mode,
            state="consent",
            language=language,
            invitation_id=event.invitation_id,
            created_at=now,
            updated_at=now,
        )
        session.add(interview)
        await session.flush()
        at.identity.active_interview_id = interview.id
        at.context.interview, at.context.flow = interview, flow
        at.tracker.slots.update(
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
        if event.invitation_id:
            await _use_invitation(session, event.invitation_id, candidate.id, now)
        await repo.audit(
            session,
            "interview.started",
            candidate_id=candidate.id,
            interview_id=interview.id,
            role=interview.role,
            mode=interview.mode,
        )

    async def _on_answer(self, event: AnswerRecorded, at: _Applying) -> None:
        interview = _require(at.context.interview)
        answer = Answer(
            interview_id=interview.id or 0,
            question_id=event.question_id,
            follow_up_id=event.follow_up_id,
            competency=event.competency,
            attempt=event.attempt,
            message_id=event.message_id,
            text=event.text,
            status=event.status,
            late=event.late,
            elapsed_seconds=event.elapsed_seconds,
            created_at=at.now,
        )
        at.session.add(answer)
        await at.session.flush()
        at.context.last_answer = answer

    async def _on_score(self, event: AnswerScored, at: _Applying) -> None:
        interview = _require(at.context.interview)
        scored = at.context.last_answer
        if scored is None or scored.id is None:
            raise RuntimeError("a score event must follow an answer event")
        at.session.add(score_row(scored, dict(event.result), interview.flow_version_id))
        await at.session.flush()
        await update_results(at.session, interview.id or 0, _require_flow(at.context.flow))

    async def _on_handoff(self, event: HandedOff, at: _Applying) -> None:
        interview_id = at.context.interview.id if at.context.interview else None
        at.session.add(
            Handoff(
                candidate_id=at.candidate.id,
                interview_id=interview_id,
                kind=event.kind,
                text=event.text,
                language=event.language or at.candidate.language,
                created_at=at.now,
            )
        )
        await repo.audit(
            at.session, f"handoff.{event.kind}", candidate_id=at.candidate.id, interview_id=interview_id
        )

    async def _on_interview_ended(self, event: InterviewEnded, at: _Applying) -> None:
        interview = _require(at.context.interview)
        at.tracker.slots["state"] = event.state
        interview.completed_at = at.now
        await repo.audit(
            at.session, f"interview.{event.state}", candidate_id=at.candidate.id, interview_id=interview.id
        )
        if event.state == "done" and self.webhook_key is not None:
            await webhooks.queue_interview_completed(at.session, self.webhook_key, interview)

    async def _on_knowledge_answer(self, event: KnowledgeAnswered, at: _Applying) -> None:
        await repo.audit(
            at.session,
            "question.answered" if event.kind != "none" else "question.unanswered",
            candidate_id=at.candidate.id,
            interview_id=at.context.interview.id if at.context.interview else None,
            answer_kind=event.kind,
            entry_id=event.entry_id,
            confidence=event.confidence,
        )

    async def _on_clarified(self, event: QuestionClarified, at: _Applying) -> None:
        await repo.audit(
            at.session,
            "question.clarified",
            candidate_id=at.candidate.id,
            interview_id=at.context.interview.id if at.context.interview else None,
            question_id=event.question_id,
            follow_up_id=event.follow_up_id,
            source=event.source,
        )

    async def _on_roles_recommended(self, event: RolesRecommended, at: _Applying) -> None:
        await repo.audit(
            at.session,
            "roles.recommended",
            candidate_id=at.candidate.id,
            interview_id=at.context.interview.id if at.context.interview else None,
            roles=list(event.roles),
        )

    async def _on_application(self, event: Applied, at: _Applying) -> None:
        await _apply_once(at.session, at.candidate, at.context.interview, event.role, at.now)

    async def _on_erase(self, event: CandidateErased, at: _Applying) -> None:
        at.context.erase = True

    async def _on_opt_out(self, event: OptedOut, at: _Applying) -> None:
        stopped = await opt_out_candidate(
            at.session,
            id_key(self.settings.cache_dir.parent),
            at.candidate.id or 0,
            at.identity.channel,
            at.identity.external_id,
            now=at.now,
        )
        await repo.audit(at.session, "campaign.opted_out", candidate_id=at.candidate.id, campaigns=stopped)

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


@dataclass
class _Applying:
    """What an event's handler works with."""

    session: AsyncSession
    tracker: Tracker
    context: _StepContext
    candidate: Candidate
    identity: ChannelIdentity
    now: datetime


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
    conversation's lock serialises a candidate's messages, so the check cannot race."""
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
        # A campaign's invitation: the campaign now knows the candidate's conversation (a Telegram
        # chat becomes a channel for the next messages), and erasing the candidate reaches it.
        await session.exec(
            update(CampaignCandidate)
            .where(col(CampaignCandidate.invitation_id) == invitation_id)
            .values(candidate_id=candidate_id)
        )
