"""The dialogue policy: which actions answer a message, given the interview's state.

Rules, not a learned policy: an interviewer must behave predictably and explainably. States:
``idle`` (no interview), ``consent``, ``question``, ``paused``, ``done``, ``withdrawn``, ``declined``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.campaigns.optout import is_stop
from bot.nlu import Parse

IN_INTERVIEW = frozenset({"consent", "question", "paused"})


@dataclass
class Decision:
    actions: list[str]
    entities: list[dict[str, Any]] = field(default_factory=list)
    confirmed_answer: bool = False
    """The candidate confirmed that an earlier message is their answer."""


def decide(state: str, parse: Parse, pending: dict[str, Any] | None, *, threshold: float) -> Decision:
    intent = parse.intent

    if pending:
        subject = pending.get("confirm")
        if intent == "affirm":
            if subject == "answer" and state == "question":
                return Decision(
                    ["action_record_answer", "action_score_answer", "action_next_question"],
                    confirmed_answer=True,
                )
            if subject == "withdraw" and state in IN_INTERVIEW:
                return Decision(["action_withdraw"])
            if subject == "delete":
                return Decision(["action_delete_my_data"])
        if subject == "transcript" and state == "question":
            corrected = _transcript_reply(parse, threshold)
            if corrected is not None:
                return corrected
        if intent == "deny":
            if subject == "answer" and state == "question":
                return Decision(["action_confirm_answer_declined"])
            if subject == "withdraw":
                return Decision(["utter_withdraw_cancelled"])
            if subject == "delete":
                return Decision(["utter_delete_cancelled"])
        # Anything else drops the pending question and is handled as usual.

    if is_stop(parse.text):
        # Campaign messages stop; the interview, if any, stays where it is.
        return Decision(["action_opt_out"])

    simple = {
        "empty": "utter_empty_message",
        "unreadable": "utter_unreadable_message",
        "unknown_command": "utter_unknown_command",
        "help": "action_help",
        "switch_language": "action_switch_language",
        "delete_my_data": "action_confirm_delete",
        "human": "action_human_handoff",
        "withdraw": "action_confirm_withdraw",
        "voice_unusable": "action_voice_unusable",
    }
    if intent in simple:
        return Decision([simple[intent]])
    if intent == "voice":
        return Decision(["action_set_voice"], [{"entity": "voice", "value": a} for a in parse.args[:1]])
    if intent in {"lang_en", "lang_zh"}:
        return Decision(["action_switch_language"], [{"entity": "language", "value": intent[-2:]}])

    if intent in {"start", "start_interview", "start_practice"}:
        return _start(state, parse)
    if intent == "apply":
        role = [{"entity": "role", "value": parse.args[0].lower()}] if parse.args else []
        return Decision(
            ["action_apply", *(["action_back_to_question"] if state in IN_INTERVIEW else [])], role
        )

    if intent == "progress":
        return Decision(["action_show_progress"])
    if intent == "retry" and state != "paused":
        # A practice answer again (the action refuses in a real interview and when nothing to retry).
        return Decision(["action_retry_question"])

    if state == "consent":
        if intent == "affirm":
            return Decision(["action_begin_questions"])
        if intent == "deny":
            return Decision(["action_decline_consent"])
        if intent == "faq_question":
            return Decision(["action_answer_faq"])
        if intent == "pause":
            return Decision(["action_pause"])
        return Decision(["action_back_to_question"])

    if state == "paused":
        if intent in {"resume", "greet", "affirm"}:
            return Decision(["action_resume"])
        if intent == "faq_question":
            return Decision(["action_answer_faq", "utter_paused_reminder"])
        return Decision(["utter_paused_reminder"])

    if state == "question":
        return _in_question(parse, threshold)

    if state == "done":
        if intent in {"thanks", "goodbye"}:
            return Decision([f"utter_{intent}"])
        return Decision(["utter_interview_done"])

    # idle, withdrawn, declined
    if intent == "resume":
        return Decision(["action_resume"])
    if intent in {"thanks", "goodbye"}:
        return Decision([f"utter_{intent}"])
    return Decision(["action_greet"])


def _start(state: str, parse: Parse) -> Decision:
    if state in IN_INTERVIEW:
        return Decision(["utter_already_in_interview"])
    if parse.intent == "start":
        if parse.args:
            return Decision(
                ["action_start_interview"], [{"entity": "invitation_token", "value": parse.args[0]}]
            )
        return Decision(["action_greet"])
    mode = "practice" if parse.intent == "start_practice" else "interview"
    entities: list[dict[str, Any]] = [{"entity": "mode", "value": mode}]
    if parse.args:
        entities.append({"entity": "role", "value": parse.args[0].lower()})
    return Decision(["action_start_interview"], entities)


def _in_question(parse: Parse, threshold: float) -> Decision:
    intent = parse.intent
    answer = ["action_record_answer", "action_score_answer", "action_next_question"]
    if intent == "answer" and _unsure_transcript(parse):
        return Decision(["action_confirm_transcript"])
    if intent == "answer":
        return Decision(answer if parse.confidence >= threshold else ["action_confirm_answer"])
    # A message the classifier can't place, that could be an answer: ask rather than guess.
    answer_confidence = dict(parse.ranking).get("answer", 0.0)
    if parse.confidence < threshold and answer_confidence >= 0.2:
        return Decision(
            ["action_confirm_transcript" if _unsure_transcript(parse) else "action_confirm_answer"]
        )
    table = {
        "faq_question": ["action_answer_faq"],
        "repeat": ["action_repeat_question"],
        "skip": ["action_skip_question"],
        "pause": ["action_pause"],
        "resume": ["action_repeat_question"],
        "greet": ["utter_greet"],
        "thanks": ["utter_thanks"],
        "chitchat": ["utter_chitchat"],
        "goodbye": ["action_pause"],
    }
    return Decision(table.get(intent, ["utter_waiting_for_answer"]))


# --- voice answers --------------------------------------------------------------------------------

TRANSCRIPT_REPLIES_HANDLED_AS_USUAL = frozenset(
    {"repeat", "skip", "pause", "human", "withdraw", "delete_my_data", "help", "faq_question", "goodbye"}
)
"""After "I heard ..., is that right?", these (when the classifier is sure) are not a corrected answer."""


def _unsure_transcript(parse: Parse) -> bool:
    return bool(parse.voice and parse.voice.get("uncertain"))


def _transcript_reply(parse: Parse, threshold: float) -> Decision | None:
    """The candidate's reply to "I heard ..., is that right?": yes records the transcript, no asks
    again, and a typed text is the corrected answer, recorded as it stands. Commands, another voice
    message and messages the classifier is sure are something else are handled as usual (None)."""
    answer = ["action_record_answer", "action_score_answer", "action_next_question"]
    if parse.intent == "affirm":
        return Decision(answer, confirmed_answer=True)
    if parse.intent == "deny":
        return Decision(["action_transcript_declined"])
    if parse.command is not None or parse.voice is not None or parse.intent in {"empty", "unreadable"}:
        return None
    if parse.intent in TRANSCRIPT_REPLIES_HANDLED_AS_USUAL and parse.confidence >= threshold:
        return None
    return Decision(answer, [{"entity": "corrected", "value": True}])
