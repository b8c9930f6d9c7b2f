"""The dialogue policy's rules, decided without models."""

from __future__ import annotations

import pytest

from bot.nlu import Parse, rule_parse
from bot.policy import decide

ANSWER = ["action_record_answer", "action_score_answer", "action_next_question"]


# A typed command is taken as one only when its wording names it (see `bot.policy`).
WORDING = {
    "skip": "skip this one",
    "pause": "can we pause here?",
    "repeat": "repeat the question",
    "retry": "let me try that again",
    "delete_my_data": "delete my data",
    "progress": "show my progress",
}


def parse(intent: str, confidence: float = 0.9, ranking: list[tuple[str, float]] | None = None) -> Parse:
    text = WORDING.get(intent, "text")
    return Parse(text, intent, confidence, "en", ranking=ranking or [(intent, confidence)])


def test_confident_answer_is_recorded_and_an_unsure_one_is_confirmed() -> None:
    assert decide("question", parse("answer", 0.9), None, threshold=0.5).actions == ANSWER
    assert decide("question", parse("answer", 0.4), None, threshold=0.5).actions == ["action_confirm_answer"]


def test_an_unsure_question_that_might_be_an_answer_is_confirmed() -> None:
    unsure = parse("faq_question", 0.45, [("faq_question", 0.45), ("answer", 0.40), ("pause", 0.15)])
    assert decide("question", unsure, None, threshold=0.5).actions == ["action_confirm_answer"]
    sure = parse("faq_question", 0.9, [("faq_question", 0.9), ("answer", 0.05)])
    assert decide("question", sure, None, threshold=0.5).actions == ["action_answer_faq"]


def test_yes_after_a_confirmation_records_the_earlier_message() -> None:
    decision = decide("question", parse("affirm"), {"confirm": "answer", "message_id": 3}, threshold=0.5)
    assert decision.actions == ANSWER and decision.confirmed_answer


@pytest.mark.parametrize(
    ("state", "intent", "expected"),
    [
        ("consent", "affirm", ["action_begin_questions"]),
        ("consent", "deny", ["action_decline_consent"]),
        ("consent", "answer", ["action_back_to_question"]),
        ("paused", "answer", ["utter_paused_reminder"]),
        ("paused", "resume", ["action_resume"]),
        ("question", "skip", ["action_skip_question"]),
        ("question", "faq_question", ["action_answer_faq"]),
        ("done", "answer", ["utter_interview_done"]),
        ("idle", "answer", ["action_greet"]),
        ("question", "delete_my_data", ["action_confirm_delete"]),
        ("idle", "withdraw", ["action_confirm_withdraw"]),
        ("question", "retry", ["action_retry_question"]),
        ("done", "retry", ["action_retry_question"]),
        ("paused", "retry", ["utter_paused_reminder"]),
        ("question", "progress", ["action_show_progress"]),
        ("idle", "progress", ["action_show_progress"]),
    ],
)
def test_state_and_intent_choose_the_actions(state: str, intent: str, expected: list[str]) -> None:
    assert decide(state, parse(intent), None, threshold=0.5).actions == expected


def test_starting_while_in_an_interview_is_refused() -> None:
    command = rule_parse("/interview rd_engineer")
    assert command is not None
    assert decide("question", command, None, threshold=0.5).actions == ["utter_already_in_interview"]
    decision = decide("idle", command, None, threshold=0.5)
    assert decision.actions == ["action_start_interview"]
    assert {"entity": "role", "value": "rd_engineer"} in decision.entities


@pytest.mark.parametrize(
    ("text", "intent", "args"),
    [
        ("/start abc", "start", ["abc"]),
        ("/interview Sales_Manager", "start_interview", ["Sales_Manager"]),
        ("/lang zh", "lang_zh", ["zh"]),
        ("/lang", "switch_language", []),
        ("/skip@InterviewerBot", "skip", []),
        ("/retry", "retry", []),
        ("/progress", "progress", []),
        ("/whatever", "unknown_command", []),
        ("", "empty", []),
        ("🙂🙂", "unreadable", []),
    ],
)
def test_rules_decide_commands_and_unreadable_messages(text: str, intent: str, args: list[str]) -> None:
    parsed = rule_parse(text)
    assert parsed is not None and parsed.intent == intent and parsed.args == args


def test_ordinary_text_is_left_to_the_model() -> None:
    assert rule_parse("I closed the deal in two weeks") is None
