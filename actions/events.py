"""The events actions return, one typed constructor each (after rasa-sdk's ``rasa_sdk/events.py``).

An event is a frozen value: what happened, never how to store it; the engine applies each kind
through its handler table. Every event serialises to Rasa's wire shape (``as_dict``: ``{"event":
name, ...}``, with Rasa's own names for ``slot`` and ``followup``) and back (`from_dict`), so the
actions can later be served over Rasa's action-server protocol unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Literal


@dataclass(frozen=True)
class Event:
    """Base of every event; ``name`` is its ``event`` value on the wire."""

    name: ClassVar[str]

    def as_dict(self) -> dict[str, Any]:
        return {"event": self.name, **asdict(self)}


@dataclass(frozen=True)
class SlotSet(Event):
    """Rasa's ``slot``: remember a value in the conversation."""

    name: ClassVar[str] = "slot"
    key: str
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {"event": self.name, "name": self.key, "value": self.value}


@dataclass(frozen=True)
class FollowupAction(Event):
    """Rasa's ``followup``: run another action after this one."""

    name: ClassVar[str] = "followup"
    action: str

    def as_dict(self) -> dict[str, Any]:
        return {"event": self.name, "name": self.action}


@dataclass(frozen=True)
class InterviewStarted(Event):
    name: ClassVar[str] = "interview_started"
    role: str
    mode: str
    flow_version_id: int
    invitation_id: int | None = None


@dataclass(frozen=True)
class AnswerRecorded(Event):
    """An answer to the current question (or its follow-up), or a skip (``text`` empty)."""

    name: ClassVar[str] = "answer"
    question_id: str
    competency: str
    text: str
    status: Literal["answered", "skipped"] = "answered"
    follow_up_id: str | None = None
    late: bool = False
    elapsed_seconds: float | None = None
    attempt: int = 1
    """1, or more for a practice retry (see `actions.practice`)."""
    message_id: int | None = None


@dataclass(frozen=True)
class AnswerScored(Event):
    """The scoring result of the answer recorded just before (JSON-ready; see `actions.interview`)."""

    name: ClassVar[str] = "score"
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HandedOff(Event):
    """Something for a person at HR: ``human`` (the candidate asked for one) or ``question``."""

    name: ClassVar[str] = "handoff"
    kind: Literal["human", "question"]
    text: str = ""
    language: str | None = None


@dataclass(frozen=True)
class InterviewEnded(Event):
    name: ClassVar[str] = "interview_ended"
    state: Literal["done", "withdrawn", "declined"]


@dataclass(frozen=True)
class KnowledgeAnswered(Event):
    """A candidate's question met the knowledge base: ``kind`` faq, passage or none."""

    name: ClassVar[str] = "knowledge_answer"
    kind: str
    entry_id: str | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class QuestionClarified(Event):
    """The candidate asked what the pending question means and was told (``source``: the flow's
    ``glossary`` term, its ``clarification``, or a ``rephrasing`` from its talking points)."""

    name: ClassVar[str] = "question_clarified"
    question_id: str
    source: Literal["glossary", "clarification", "rephrasing"]
    follow_up_id: str | None = None


@dataclass(frozen=True)
class RolesRecommended(Event):
    name: ClassVar[str] = "roles_recommended"
    roles: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"event": self.name, "roles": list(self.roles)}


@dataclass(frozen=True)
class Applied(Event):
    """The candidate applied for a role (once per role, however often they ask)."""

    name: ClassVar[str] = "application"
    role: str
    title: str = ""


@dataclass(frozen=True)
class CandidateErased(Event):
    name: ClassVar[str] = "erase_candidate"


@dataclass(frozen=True)
class OptedOut(Event):
    """The candidate asked for no more campaign messages (STOP / 退订)."""

    name: ClassVar[str] = "opt_out"


EVENTS: dict[str, type[Event]] = {
    kind.name: kind
    for kind in (
        SlotSet,
        FollowupAction,
        InterviewStarted,
        AnswerRecorded,
        AnswerScored,
        HandedOff,
        InterviewEnded,
        KnowledgeAnswered,
        QuestionClarified,
        RolesRecommended,
        Applied,
        CandidateErased,
        OptedOut,
    )
}


def from_dict(data: dict[str, Any]) -> Event:
    """An event from its wire shape (what `Event.as_dict` gives, or an action server's reply)."""
    kind = EVENTS.get(str(data.get("event")))
    if kind is None:
        raise ValueError(f"unknown event {data.get('event')!r}; known: {', '.join(sorted(EVENTS))}")
    values = {k: v for k, v in data.items() if k not in {"event", "timestamp"}}
    if kind is SlotSet:
        return SlotSet(str(values["name"]), values.get("value"))
    if kind is FollowupAction:
        return FollowupAction(str(values["name"]))
    if kind is RolesRecommended:
        return RolesRecommended(tuple(values.get("roles") or ()))
    names = {f.name for f in fields(kind)}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"event {kind.name!r} has no field(s) {', '.join(sorted(unknown))}")
    return kind(**values)
