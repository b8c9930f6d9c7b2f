"""The actions a structured interview runs: ask, record, score, follow up, wrap up, and the rest.

They return the events of `actions.events` (beyond Rasa's `SlotSet` and `FollowupAction`: an
interview started, an answer recorded and scored, a handoff, an interview ended, a knowledge-base
answer, the candidate's erasure), which the engine applies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from actions.base import (
    Action,
    Button,
    Dispatcher,
    Domain,
    RoleInfo,
    Tracker,
    followup,
    slot_set,
)
from actions.events import (
    AnswerRecorded,
    AnswerScored,
    CandidateErased,
    Event,
    HandedOff,
    InterviewEnded,
    InterviewStarted,
    KnowledgeAnswered,
    OptedOut,
    QuestionClarified,
)
from actions.practice import (
    practice_actions,
    practice_done_buttons,
    say_feedback,
    say_practice_summary,
    with_feedback,
)
from actions.recommend import ActionApply, ActionRecommendRoles
from actions.voice import spoken_answer, voice_actions, voice_privacy
from flows.schema import Flow, Language, Question
from scoring.feedback import build_feedback, insufficient_kind

# --- helpers -----------------------------------------------------------------------------------


def text_in(texts: dict[str, str], language: str, flow: Flow) -> str:
    return texts.get(language) or texts[flow.languages[0]]


def question_language(tracker: Tracker, flow: Flow) -> str:
    language = tracker.get_slot("interview_language") or flow.languages[0]
    return str(language) if language in flow.languages else flow.languages[0]


def current_question(tracker: Tracker, domain: Domain) -> tuple[Flow, Question, int]:
    flow = domain.flow
    if flow is None:
        raise RuntimeError("no interview in progress")
    index = int(tracker.get_slot("question_index") or 0)
    return flow, flow.questions[index], index


def current_prompt(tracker: Tracker, domain: Domain, dispatcher: Dispatcher) -> str:
    """The text of what the candidate is being asked right now: the question or its follow-up.

    Follow-up index ``len(question.follow_ups)`` is the generic probe asked when the scorer found
    too little evidence in an answer and none of the flow's own follow-ups applies.
    """
    flow, question, _ = current_question(tracker, domain)
    language = question_language(tracker, flow)
    follow_up = tracker.get_slot("follow_up_index")
    if follow_up is None:
        return text_in(question.text, language, flow)
    if int(follow_up) == len(question.follow_ups):
        # the probe that fits why the answer was not scored (off-topic, padded, a copy ...)
        kind = tracker.get_slot("insufficient")
        key = f"probe_{kind}" if isinstance(kind, str) else "probe_insufficient"
        table = dispatcher.responses.templates.get(language) or {}
        return dispatcher.responses.render(key if key in table else "probe_insufficient", language)
    return text_in(question.follow_ups[int(follow_up)].text, language, flow)


def follow_up_id(question: Question, index: int | None) -> str | None:
    if index is None:
        return None
    if index == len(question.follow_ups):
        return f"{question.id}:probe"
    return question.follow_ups[index].id


def role_buttons(dispatcher: Dispatcher, roles: list[RoleInfo], command: str = "/interview") -> list[Button]:
    language = dispatcher.language
    return [
        Button(
            dispatcher.render("role_button", title=r.title.get(language) or next(iter(r.title.values()))),
            f"{command} {r.role}",
        )
        for r in roles
    ]


def find_role(domain: Domain, role: str) -> RoleInfo | None:
    return next((r for r in domain.roles if r.role == role), None)


def entity(tracker: Tracker, name: str) -> Any:
    for item in tracker.latest_message.get("entities", []):
        if item.get("entity") == name:
            return item.get("value")
    return None


def _number(tracker: Tracker) -> int:
    return int(tracker.get_slot("question_index") or 0) + 1


# --- starting ----------------------------------------------------------------------------------


class ActionGreet(Action):
    """Welcome and the open roles, when no interview is running."""

    def name(self) -> str:
        return "action_greet"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        dispatcher.utter_message(response="welcome")
        if not domain.roles:
            dispatcher.utter_message(response="no_roles")
            return []
        dispatcher.utter_message(
            response="open_roles",
            buttons=role_buttons(dispatcher, [r for r in domain.roles if r.walk_in])
            or role_buttons(dispatcher, domain.roles, "/practice"),
        )
        dispatcher.utter_message(response="practice_hint")
        return []


class ActionStartInterview(Action):
    """Open an interview (or practice) for a role and ask for consent.

    Entities: ``role``, ``mode`` (interview|practice) and, from an invitation, ``invitation_id``.
    """

    def name(self) -> str:
        return "action_start_interview"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        role_id = entity(tracker, "role")
        mode = entity(tracker, "mode") or "interview"
        invitation_id = entity(tracker, "invitation_id")
        example = domain.roles[0].role if domain.roles else "sales_manager"
        if not role_id:
            dispatcher.utter_message(
                response="missing_role",
                example=example,
                buttons=role_buttons(dispatcher, domain.roles, f"/{mode}"),
            )
            return []
        role = find_role(domain, str(role_id))
        if role is None:
            dispatcher.utter_message(
                response="unknown_role",
                role=role_id,
                roles=", ".join(r.role for r in domain.roles) or "-",
                buttons=role_buttons(dispatcher, domain.roles, f"/{mode}"),
            )
            return []
        language = dispatcher.language
        title = role.title.get(language) or next(iter(role.title.values()))
        if mode == "interview" and not role.walk_in and invitation_id is None:
            dispatcher.utter_message(response="role_by_invitation", title=title, role=role.role)
            return []
        key = "greeting_practice" if mode == "practice" else "greeting"
        dispatcher.utter_message(
            response=key,
            title=title,
            count=role.question_count,
            days=domain.practice_retention_days,
            voice=voice_privacy(dispatcher, domain),
            buttons=dispatcher.yes_no(),
        )
        return [
            InterviewStarted(
                role=role.role,
                mode=str(mode),
                flow_version_id=role.flow_version_id,
                invitation_id=None if invitation_id is None else int(invitation_id),
            ),
            slot_set("state", "consent"),
        ]


class ActionBeginQuestions(Action):
    def name(self) -> str:
        return "action_begin_questions"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        return [
            slot_set("state", "question"),
            slot_set("question_index", 0),
            slot_set("follow_up_index", None),
            followup("action_ask_question"),
        ]


class ActionDeclineConsent(Action):
    def name(self) -> str:
        return "action_decline_consent"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        dispatcher.utter_message(response="consent_declined", role=tracker.get_slot("role"))
        return [InterviewEnded("declined")]


# --- asking ------------------------------------------------------------------------------------


class ActionAskQuestion(Action):
    """Ask the current question or follow-up and start its clock."""

    def name(self) -> str:
        return "action_ask_question"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        flow, question, index = current_question(tracker, domain)
        prompt = current_prompt(tracker, domain, dispatcher)
        aloud = tracker.get_slot("read_aloud")
        if tracker.get_slot("follow_up_index") is not None:
            dispatcher.utter_message(
                response="follow_up", question=prompt, buttons=_question_buttons(dispatcher), read_aloud=aloud
            )
        else:
            text = dispatcher.render("question", n=index + 1, total=len(flow.questions), question=prompt)
            limit = question.time_limit or domain.default_time_limit
            if limit >= 60:
                text += " " + dispatcher.render("time_hint", minutes=round(limit / 60))
            dispatcher.utter_message(text, buttons=_question_buttons(dispatcher), read_aloud=aloud)
        return [slot_set("question_asked_at", tracker.now.isoformat())]


def _question_buttons(dispatcher: Dispatcher) -> list[Button]:
    return [Button(dispatcher.render(f"button_{name}"), f"/{name}") for name in ("repeat", "skip", "pause")]


class ActionRepeatQuestion(Action):
    """Say the current question again; the clock keeps running."""

    def __init__(self, name: str = "action_repeat_question", response: str = "repeat_prefix") -> None:
        self._name = name
        self._response = response

    def name(self) -> str:
        return self._name

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        if tracker.get_slot("state") != "question" or domain.flow is None:
            dispatcher.utter_message(response="nothing_to_repeat")
            return []
        dispatcher.utter_message(
            response=self._response,
            n=_number(tracker),
            question=current_prompt(tracker, domain, dispatcher),
            buttons=_question_buttons(dispatcher),
        )
        return []


# --- answering ---------------------------------------------------------------------------------


def _elapsed(tracker: Tracker) -> float | None:
    asked = tracker.get_slot("question_asked_at")
    if not asked:
        return None
    received = tracker.latest_message.get("received_at")
    answered_at = datetime.fromisoformat(str(received)) if received else tracker.now
    return max(0.0, (answered_at - datetime.fromisoformat(str(asked))).total_seconds())


class ActionRecordAnswer(Action):
    """Record the latest message (or the one the candidate confirmed) as the answer."""

    def name(self) -> str:
        return "action_record_answer"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        _, question, _ = current_question(tracker, domain)
        follow_up_index = tracker.get_slot("follow_up_index")
        probe_id = follow_up_id(question, None if follow_up_index is None else int(follow_up_index))
        text = str(tracker.latest_message.get("answer_text") or tracker.text)
        elapsed = _elapsed(tracker)
        limit = question.time_limit or domain.default_time_limit
        late = elapsed is not None and elapsed > limit
        if late:
            dispatcher.utter_message(response="late_answer")
        answers = [*list(tracker.get_slot("answers") or []), text]
        message_id = tracker.latest_message.get("answer_message_id")
        return [
            AnswerRecorded(
                question_id=question.id,
                follow_up_id=probe_id,
                competency=question.competency,
                text=text,
                status="answered",
                late=late,
                elapsed_seconds=elapsed,
                attempt=int(tracker.get_slot("attempt") or 1),
                message_id=None if message_id is None else int(message_id),
            ),
            slot_set("answers", answers),
        ]


class AnswerScorer(Protocol):
    """What `ActionScoreAnswer` needs from the scoring library."""

    async def score(
        self, tracker: Tracker, domain: Domain, question: Question, text: str
    ) -> dict[str, Any] | None:
        """A JSON-ready result with ``level``, ``confidence``, ``insufficient``, ``evidence`` and
        ``model_id``; None when no scorer serves this flow's language."""
        ...

    def strong_exemplars(self, version_id: int, question: Question) -> list[str]:
        """Texts of the question's highly rated exemplars (for practice feedback statistics)."""
        ...


class ActionScoreAnswer(Action):
    """Score the answer just recorded (main question and follow-ups together).

    Without a scorer the answer stays stored unscored; a score is never invented.
    """

    def __init__(self, scorer: AnswerScorer | None = None) -> None:
        self.scorer = scorer

    def name(self) -> str:
        return "action_score_answer"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        if self.scorer is None:
            return []
        _, question, _ = current_question(tracker, domain)
        text = "\n".join(str(t) for t in tracker.get_slot("answers") or [])
        result = await self.scorer.score(tracker, domain, question, text)
        if result is None:
            return []
        if tracker.get_slot("mode") == "practice" and domain.flow is not None:
            # Practice: feedback at once, against the rubric (the language the candidate uses).
            language: Language = "zh" if tracker.latest_message.get("language") == "zh" else "en"
            strong = self.scorer.strong_exemplars(int(tracker.get_slot("flow_version_id") or 0), question)
            feedback = await asyncio.to_thread(
                build_feedback,
                text,
                language,
                question,
                result,
                strong,
                competency=next((c for c in domain.flow.competencies if c.id == question.competency), None),
                other_questions=domain.flow.questions,
                speech=spoken_answer(tracker),
            )
            result = with_feedback(result, feedback)
            say_feedback(dispatcher, tracker, feedback, language)
        reason = result.get("insufficient")
        # the kind of reason (or False): the probe that follows is chosen by it
        return [
            AnswerScored(result),
            slot_set("insufficient", insufficient_kind(reason) if reason else False),
        ]


class ActionNextQuestion(Action):
    """Ask a follow-up whose condition holds, else the next question, else wrap up."""

    def __init__(self, name: str = "action_next_question", *, follow_ups: bool = True) -> None:
        self._name = name
        self._follow_ups = follow_ups

    def name(self) -> str:
        return self._name

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        flow, question, index = current_question(tracker, domain)
        # A practice retry is one answer, compared with the previous attempt: no follow-up probes.
        if self._follow_ups and int(tracker.get_slot("attempt") or 1) == 1:
            answer = "\n".join(str(t) for t in tracker.get_slot("answers") or [])
            insufficient = bool(tracker.get_slot("insufficient"))
            current = tracker.get_slot("follow_up_index")
            start = 0 if current is None else int(current) + 1
            for j in range(start, len(question.follow_ups)):
                if question.follow_ups[j].when.holds(answer, insufficient=insufficient):
                    return [slot_set("follow_up_index", j), followup("action_ask_question")]
            generic = len(question.follow_ups)
            if insufficient and start <= generic:
                # Too little to score and no flow probe applies: ask once for a concrete example.
                return [slot_set("follow_up_index", generic), followup("action_ask_question")]
        if index + 1 < len(flow.questions):
            if self._follow_ups:
                dispatcher.utter_message(response="answer_received")
            return [
                slot_set("question_index", index + 1),
                slot_set("follow_up_index", None),
                slot_set("answers", []),
                slot_set("insufficient", False),
                slot_set("attempt", 1),
                followup("action_ask_question"),
            ]
        return [followup("action_wrap_up")]


class ActionSkipQuestion(Action):
    """Record the question as skipped (a pending follow-up is just dropped) and move on."""

    def name(self) -> str:
        return "action_skip_question"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        if tracker.get_slot("state") != "question" or domain.flow is None:
            dispatcher.utter_message(response="nothing_to_skip")
            return []
        _, question, _ = current_question(tracker, domain)
        if tracker.get_slot("follow_up_index") is not None:
            dispatcher.utter_message(response="skip_follow_up")
            return [followup("action_next_question_no_follow_up")]
        if int(tracker.get_slot("attempt") or 1) > 1:
            # Skipping a practice retry keeps the earlier attempt rather than recording a skip.
            dispatcher.utter_message(response="retry_kept")
            return [followup("action_next_question_no_follow_up")]
        dispatcher.utter_message(response="skipped")
        return [
            AnswerRecorded(
                question_id=question.id,
                competency=question.competency,
                text="",
                status="skipped",
                elapsed_seconds=_elapsed(tracker),
            ),
            followup("action_next_question_no_follow_up"),
        ]


class ActionWrapUp(Action):
    """Summary and what happens next; the interview is done."""

    def name(self) -> str:
        return "action_wrap_up"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        flow = domain.flow
        assert flow is not None
        progress = tracker.get_slot("progress") or {}
        skipped = int(progress.get("skipped", 0))
        answered = int(progress.get("answered", 0))
        note = dispatcher.render("skipped_note", skipped=skipped) if skipped else ""
        dispatcher.utter_message(
            response="wrap_up", answered=answered, total=len(flow.questions), skipped_note=note
        )
        results = tracker.get_slot("results") or {}
        practice = tracker.get_slot("mode") == "practice"
        if (flow.show_feedback or practice) and results.get("competencies"):
            language = question_language(tracker, flow)
            lines = [
                dispatcher.render(
                    "results_line",
                    competency=text_in(flow.competency(cid).name, language, flow),
                    level=f"{value['level']:.1f}",
                )
                for cid, value in results["competencies"].items()
                if value.get("level") is not None
            ]
            if lines:
                dispatcher.utter_message("\n".join(lines))
        if practice:
            say_practice_summary(dispatcher, tracker, flow)
            dispatcher.utter_message(
                response="practice_done", role=flow.role, buttons=practice_done_buttons(dispatcher)
            )
        else:
            language = question_language(tracker, flow)
            dispatcher.utter_message(response="wrap_up_next", closing=text_in(flow.closing, language, flow))
        return [InterviewEnded("done"), followup("action_recommend_roles")]


# --- interruptions -----------------------------------------------------------------------------


class QuestionAnswerer(Protocol):
    """What `ActionAnswerFaq` needs from the knowledge base."""

    async def answer(
        self, tracker: Tracker, domain: Domain, text: str, language: str
    ) -> dict[str, Any] | None:
        """``kind`` (faq, passage or none), ``text``, ``entry_id``, ``source``, ``confidence``,
        ``hedged`` and ``phrased``; None while the knowledge base is not ready."""
        ...


class ActionAnswerFaq(Action):
    """A candidate's question, at any point: answered from the FAQ or a document when the knowledge
    base can, else passed to HR (a handoff HR answer later); then back to where we were, with the
    question's clock given `Domain.faq_time_credit` seconds back for the detour."""

    def __init__(self, answerer: QuestionAnswerer | None = None) -> None:
        self.answerer = answerer

    def name(self) -> str:
        return "action_answer_faq"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        language = str(tracker.latest_message.get("language") or dispatcher.language)
        found = await self.answerer.answer(tracker, domain, tracker.text, language) if self.answerer else None
        kind = found["kind"] if found else "none"
        events: list[Event] = [
            KnowledgeAnswered(
                kind=str(kind),
                entry_id=found.get("entry_id") if found else None,
                confidence=found.get("confidence") if found else None,
            )
        ]
        assert found is not None or kind == "none"
        if kind == "faq" and found and not found.get("hedged"):
            dispatcher.utter_message(str(found["text"]))
        elif kind == "faq" and found:
            dispatcher.utter_message(response="faq_hedged", answer=found["text"])
        elif kind == "passage" and found:
            key = "faq_phrased" if found.get("phrased") else "faq_passage"
            dispatcher.utter_message(response=key, answer=found["text"], source=found["source"])
        else:
            dispatcher.utter_message(response="question_noted")
        if kind == "none" or (found and found.get("hedged")):
            events.append(HandedOff("question", tracker.text, language))
        events += _credit_time(tracker, domain)
        return [*events, *_back_to_where_we_were(dispatcher, tracker, domain)]


class ActionClarifyQuestion(Action):
    """A question about the pending question ("what do you mean by X?", "可以用实习的例子吗"):
    answered from the flow (the term's glossary entry, else the question's clarification, else the
    question rephrased with its talking points); the question stays open and its clock is credited,
    as for any detour."""

    def name(self) -> str:
        return "action_clarify_question"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        if tracker.get_slot("state") != "question" or domain.flow is None:
            dispatcher.utter_message(response="nothing_to_repeat")
            return []
        flow, question, index = current_question(tracker, domain)
        language = question_language(tracker, flow)
        asked = tracker.text.lower()
        term = next((t for t in question.glossary if any(word.lower() in asked for word in t.terms)), None)
        follow_up = tracker.get_slot("follow_up_index")
        probe = follow_up_id(question, None if follow_up is None else int(follow_up))
        source: Literal["glossary", "clarification", "rephrasing"]
        if term is not None:
            source, text = "glossary", text_in(term.text, language, flow)
        elif question.clarification:
            source, text = "clarification", text_in(question.clarification, language, flow)
        else:
            points = "; ".join(text_in(p, language, flow) for p in question.talking_points)
            source = "rephrasing"
            text = dispatcher.responses.render("clarify_rephrased", language, points=points or "-")
        dispatcher.utter_message(
            response="clarification",
            n=index + 1,
            clarification=text,
            question=current_prompt(tracker, domain, dispatcher),
            buttons=_question_buttons(dispatcher),
        )
        return [
            QuestionClarified(question_id=question.id, source=source, follow_up_id=probe),
            *_credit_time(tracker, domain),
        ]


def _credit_time(tracker: Tracker, domain: Domain) -> list[Event]:
    """Give the question's clock back the time a detour to the candidate's own question takes."""
    asked = tracker.get_slot("question_asked_at")
    if tracker.get_slot("state") != "question" or not asked or domain.faq_time_credit <= 0:
        return []
    credited = datetime.fromisoformat(str(asked)) + timedelta(seconds=domain.faq_time_credit)
    return [slot_set("question_asked_at", min(credited, tracker.now).isoformat())]


def _back_to_where_we_were(dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
    state = tracker.get_slot("state")
    if state == "question" and domain.flow is not None:
        dispatcher.utter_message(
            response="back_to_question",
            n=_number(tracker),
            question=current_prompt(tracker, domain, dispatcher),
            buttons=_question_buttons(dispatcher),
        )
    elif state == "consent":
        dispatcher.utter_message(response="consent_reprompt", buttons=dispatcher.yes_no())
    return []


class ActionBackToQuestion(Action):
    """Remind the candidate where we are: the pending question, or the consent question."""

    def name(self) -> str:
        return "action_back_to_question"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        return _back_to_where_we_were(dispatcher, tracker, domain)


class ActionPause(Action):
    def name(self) -> str:
        return "action_pause"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        if tracker.get_slot("state") not in {"question", "consent"}:
            dispatcher.utter_message(response="nothing_to_pause")
            return []
        dispatcher.utter_message(
            response="paused", buttons=[Button(dispatcher.render("button_resume"), "/resume")]
        )
        return [slot_set("paused_from", tracker.get_slot("state")), slot_set("state", "paused")]


class ActionResume(Action):
    """Continue a paused interview at the same question, with a fresh clock."""

    def name(self) -> str:
        return "action_resume"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        if tracker.get_slot("state") != "paused":
            if tracker.get_slot("state") == "question":
                return [followup("action_repeat_question")]
            dispatcher.utter_message(response="nothing_to_resume")
            return []
        dispatcher.utter_message(response="resumed")
        previous = tracker.get_slot("paused_from") or "question"
        events: list[Event] = [slot_set("state", previous), slot_set("paused_from", None)]
        if previous == "consent":
            dispatcher.utter_message(response="consent_reprompt", buttons=dispatcher.yes_no())
            return events
        return [*events, followup("action_ask_question")]


class ActionHumanHandoff(Action):
    def name(self) -> str:
        return "action_human_handoff"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        events: list[Event] = [HandedOff("human", tracker.text)]
        if tracker.get_slot("state") in {"question", "consent"}:
            dispatcher.utter_message(
                response="human_requested", buttons=[Button(dispatcher.render("button_resume"), "/resume")]
            )
            events += [slot_set("paused_from", tracker.get_slot("state")), slot_set("state", "paused")]
        else:
            dispatcher.utter_message(response="human_requested_idle")
        return events


class ActionConfirm(Action):
    """Ask a yes/no question and remember what it was about (``pending``)."""

    def __init__(
        self,
        subject: str,
        response: str,
        needs_interview: str | None = None,
        buttons: tuple[str, str] = ("button_yes", "button_no"),
    ) -> None:
        self.subject = subject
        self.response = response
        self.needs_interview = needs_interview
        self.buttons = buttons
        """The labels (response keys) of the two buttons, sending /yes and /no."""

    def name(self) -> str:
        return f"action_confirm_{self.subject}"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        if self.needs_interview and tracker.get_slot("state") not in {"question", "consent", "paused"}:
            dispatcher.utter_message(response=self.needs_interview)
            return []
        values: dict[str, Any] = {"n": _number(tracker)}
        if domain.flow is not None:
            values["title"] = text_in(domain.flow.title, dispatcher.language, domain.flow)
        yes, no = self.buttons
        buttons = [Button(dispatcher.render(yes), "/yes"), Button(dispatcher.render(no), "/no")]
        dispatcher.utter_message(response=self.response, buttons=buttons, **values)
        pending = {"confirm": self.subject, "message_id": tracker.latest_message.get("message_id")}
        return [slot_set("pending", pending)]


class ActionWithdraw(Action):
    def name(self) -> str:
        return "action_withdraw"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        practice = tracker.get_slot("mode") == "practice"
        dispatcher.utter_message(
            response="practice_stopped" if practice else "withdrawn", days=domain.practice_retention_days
        )
        return [InterviewEnded("withdrawn")]


class ActionDeleteMyData(Action):
    def name(self) -> str:
        return "action_delete_my_data"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        dispatcher.utter_message(response="deleted")
        return [CandidateErased()]


class ActionOptOut(Action):
    """STOP / 退订: no more invitations or reminders; an interview under way is not touched."""

    def name(self) -> str:
        return "action_opt_out"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        dispatcher.utter_message(response="opted_out")
        return [OptedOut(), *_back_to_where_we_were(dispatcher, tracker, domain)]


class ActionPickSlot(Action):
    """``/slot N`` (a button of the next-round invitation) or ``/slot cancel``: the engine has
    booked, moved or cancelled before this runs (``slot_pick`` in the latest message); this says
    what happened, then goes back to where the candidate was."""

    def name(self) -> str:
        return "action_pick_slot"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        pick = tracker.latest_message.get("slot_pick") or {"outcome": "none"}
        dispatcher.utter_message(
            response=f"slot_{pick['outcome']}", slot=pick.get("slot", ""), cutoff=pick.get("cutoff", "")
        )
        return _back_to_where_we_were(dispatcher, tracker, domain)


class ActionSwitchLanguage(Action):
    """Switch the candidate's language; the questions follow when the flow has that language."""

    def name(self) -> str:
        return "action_switch_language"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        language = entity(tracker, "language")
        if language not in {"en", "zh"}:
            dispatcher.utter_message(response="unknown_language")
            return []
        dispatcher.language = str(language)
        dispatcher.utter_message(response="language_switched")
        events: list[Event] = [slot_set("language", language)]
        flow = domain.flow
        if flow is not None and tracker.get_slot("state") in {"question", "consent", "paused"}:
            if language in flow.languages:
                events.append(slot_set("interview_language", language))
                if tracker.get_slot("state") == "question":
                    tracker.slots["interview_language"] = language
                    events.append(followup("action_repeat_question"))
            else:
                names = {"en": "English", "zh": "中文"}
                dispatcher.utter_message(
                    response="language_not_in_flow", languages=", ".join(names[x] for x in flow.languages)
                )
        return events


class ActionHelp(Action):
    def name(self) -> str:
        return "action_help"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        example = domain.roles[0].role if domain.roles else "sales_manager"
        dispatcher.utter_message(response="help", example=example)
        return _back_to_where_we_were(dispatcher, tracker, domain)


class ActionUtter(Action):
    """Say one response (Rasa's ``utter_*`` actions), with values taken from the conversation."""

    def __init__(
        self,
        response: str,
        values: Callable[[Tracker, Domain], dict[str, Any]] | None = None,
        back_to_question: bool = False,
    ) -> None:
        self.response = response
        self.values = values
        self.back_to_question = back_to_question

    def name(self) -> str:
        return f"utter_{self.response}"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        values = self.values(tracker, domain) if self.values else {}
        response = self.response
        if response == "interview_done" and tracker.get_slot("mode") == "practice":
            response, values = "practice_session_over", {"days": domain.practice_retention_days}
        dispatcher.utter_message(response=response, **values)
        if self.back_to_question:
            return _back_to_where_we_were(dispatcher, tracker, domain)
        return []


def _progress_values(tracker: Tracker, domain: Domain) -> dict[str, Any]:
    values: dict[str, Any] = {"n": _number(tracker), "role": tracker.get_slot("role")}
    values["command"] = tracker.latest_message.get("command", "")
    values["chars"] = tracker.latest_message.get("max_chars", "")
    if domain.flow is not None:
        values["title"] = text_in(domain.flow.title, str(tracker.get_slot("language") or "en"), domain.flow)
    return values


def interview_actions(
    scorer: AnswerScorer | None = None, answerer: QuestionAnswerer | None = None
) -> list[Action]:
    """Every action of a structured interview, ready for an `ActionRegistry`."""
    return [
        ActionGreet(),
        ActionStartInterview(),
        ActionBeginQuestions(),
        ActionDeclineConsent(),
        ActionAskQuestion(),
        ActionRepeatQuestion(),
        ActionRecordAnswer(),
        ActionScoreAnswer(scorer),
        ActionNextQuestion(),
        ActionNextQuestion("action_next_question_no_follow_up", follow_ups=False),
        ActionSkipQuestion(),
        ActionWrapUp(),
        ActionRecommendRoles(),
        ActionApply(),
        ActionAnswerFaq(answerer),
        ActionClarifyQuestion(),
        ActionPause(),
        ActionResume(),
        ActionHumanHandoff(),
        ActionConfirm("answer", "confirm_answer", buttons=("button_my_answer", "button_a_question")),
        ActionConfirm("withdraw", "confirm_withdraw", needs_interview="nothing_to_withdraw"),
        ActionConfirm("delete", "confirm_delete"),
        ActionConfirm("skip", "confirm_skip", needs_interview="nothing_to_skip"),
        ActionWithdraw(),
        ActionDeleteMyData(),
        ActionSwitchLanguage(),
        ActionHelp(),
        ActionRepeatQuestion("action_confirm_answer_declined", "confirm_answer_no"),
        ActionBackToQuestion(),
        ActionUtter("waiting_for_answer", _progress_values),
        ActionUtter("take_your_time", _progress_values),
        ActionUtter("paused_reminder", _progress_values),
        ActionUtter("interview_done"),
        ActionUtter("withdraw_cancelled", back_to_question=True),
        ActionUtter("delete_cancelled", back_to_question=True),
        ActionUtter("unknown_command", _progress_values, back_to_question=True),
        ActionUtter("empty_message", back_to_question=True),
        ActionUtter("unreadable_message", back_to_question=True),
        ActionUtter("message_truncated", _progress_values),
        ActionUtter("greet", back_to_question=True),
        ActionUtter("thanks", back_to_question=True),
        ActionUtter("goodbye"),
        ActionUtter("chitchat", back_to_question=True),
        ActionUtter("already_in_interview", _progress_values),
        ActionUtter("invalid_invitation"),
        ActionOptOut(),
        ActionPickSlot(),
        *practice_actions(),
        *voice_actions(),
    ]
