"""Engine events: typed values that serialise to Rasa's wire shape and back."""

from __future__ import annotations

import json

import pytest

from actions.events import (
    EVENTS,
    AnswerRecorded,
    AnswerScored,
    Applied,
    CandidateErased,
    FollowupAction,
    HandedOff,
    InterviewEnded,
    InterviewStarted,
    KnowledgeAnswered,
    OptedOut,
    QuestionClarified,
    RolesRecommended,
    SlotSet,
    from_dict,
)

SAMPLES = [
    SlotSet("state", "question"),
    FollowupAction("action_ask_question"),
    InterviewStarted(role="sales_manager", mode="interview", flow_version_id=3, invitation_id=None),
    AnswerRecorded(question_id="q1", competency="negotiation", text="I listened.", late=True, message_id=9),
    AnswerScored({"level": 3.5, "evidence": {"exemplars": []}}),
    HandedOff("question", "Can I work remotely?", "en"),
    InterviewEnded("done"),
    KnowledgeAnswered("faq", "remote_work", 0.91),
    QuestionClarified("production_incident", "glossary", follow_up_id=None),
    RolesRecommended(("customer_success", "account_manager")),
    Applied("customer_success", "Customer Success Lead"),
    CandidateErased(),
    OptedOut(),
]


def test_every_kind_has_a_sample_and_a_unique_name() -> None:
    assert sorted(type(e).name for e in SAMPLES) == sorted(EVENTS)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).name)
def test_events_round_trip_through_json(event: object) -> None:
    wire = json.loads(json.dumps(event.as_dict()))  # type: ignore[attr-defined]
    assert wire["event"] == type(event).name  # type: ignore[attr-defined]
    assert from_dict(wire) == event


def test_rasa_shapes_for_rasa_events() -> None:
    assert SlotSet("language", "zh").as_dict() == {"event": "slot", "name": "language", "value": "zh"}
    assert FollowupAction("action_wrap_up").as_dict() == {"event": "followup", "name": "action_wrap_up"}


def test_unknown_events_and_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown event"):
        from_dict({"event": "teleport"})
    with pytest.raises(ValueError, match="no field"):
        from_dict({"event": "interview_ended", "state": "done", "colour": "red"})
