"""The shape of an action, after rasa-sdk: a `name()` and an async `run` that returns events.

An action reads the conversation through a `Tracker`, says things through a `Dispatcher` and
returns events (typed values from `actions.events`, each serialisable to Rasa's wire shape). It
never touches the database or a channel: the engine applies the events. This keeps actions small,
testable alone and servable over Rasa's action-server protocol.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from actions.events import Event, FollowupAction, SlotSet
from actions.responses import Responses
from flows.schema import Flow
from knowledge.roles import Catalog


def slot_set(name: str, value: Any) -> SlotSet:
    return SlotSet(name, value)


def followup(action: str) -> FollowupAction:
    """Run another action after this one (Rasa's FollowupAction)."""
    return FollowupAction(action)


@dataclass
class Tracker:
    """What an action may know about the conversation.

    Slots: ``language`` (the candidate's), ``state`` (consent, question, paused, done, ...),
    ``mode``, ``role``, ``question_index``, ``follow_up_index``, ``question_asked_at``,
    ``answers`` (texts so far for the current question and its follow-ups), ``flow_version_id``.
    """

    sender_id: str
    slots: dict[str, Any]
    latest_message: dict[str, Any]
    now: datetime

    def get_slot(self, name: str) -> Any:
        return self.slots.get(name)

    @property
    def text(self) -> str:
        return str(self.latest_message.get("text", ""))

    @property
    def intent(self) -> str:
        return str(self.latest_message.get("intent", {}).get("name", ""))


@dataclass
class Button:
    title: str
    payload: str


@dataclass
class BotMessage:
    text: str
    buttons: list[Button] = field(default_factory=list)
    read_aloud: int | None = None
    """A question to be read aloud: the flow version whose text it is."""


class Dispatcher:
    """Collects what the bot says, rendered from response templates in the candidate's language."""

    def __init__(self, responses: Responses, language: str) -> None:
        self.responses = responses
        self.language = language
        self.messages: list[BotMessage] = []

    def render(self, key: str, **values: Any) -> str:
        return self.responses.render(key, self.language, **values)

    def utter_message(
        self,
        text: str | None = None,
        *,
        response: str | None = None,
        buttons: list[Button] | None = None,
        read_aloud: int | None = None,
        **values: Any,
    ) -> None:
        if response is not None:
            text = (
                self.render(response, **values)
                if text is None
                else text + "\n" + self.render(response, **values)
            )
        if text:
            self.messages.append(BotMessage(text=text, buttons=list(buttons or []), read_aloud=read_aloud))

    def yes_no(self) -> list[Button]:
        return [Button(self.render("button_yes"), "/yes"), Button(self.render("button_no"), "/no")]


@dataclass
class RoleInfo:
    """A published role as candidates see it."""

    role: str
    title: dict[str, str]
    walk_in: bool
    flow_version_id: int
    question_count: int


@dataclass
class Domain:
    """What actions may know beyond the conversation: the interview's flow and the open roles."""

    flow: Flow | None
    roles: list[RoleInfo]
    default_time_limit: int
    practice_retention_days: int = 30
    faq_time_credit: int = 60
    """Seconds given back to the question's clock for each question the candidate asks."""
    catalog: Catalog | None = None
    """Every open role with its competency profile, for recommendations and applications."""
    audio_days: int = 0
    """How long voice recordings are kept (``voice.keep_audio_days``; 0: until transcribed)."""
    spoken_languages: frozenset[str] = frozenset()
    """Languages questions can be read aloud in (a packaged voice exists)."""


class Action(ABC):
    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]: ...


class ActionRegistry:
    """Actions by name; the engine runs them in-process (a later issue serves them to Rasa)."""

    def __init__(self, actions: list[Action] | None = None) -> None:
        self._actions: dict[str, Action] = {}
        for action in actions or []:
            self.register(action)

    def register(self, action: Action) -> None:
        if action.name() in self._actions:
            raise ValueError(f"action {action.name()!r} is registered twice")
        self._actions[action.name()] = action

    def get(self, name: str) -> Action:
        try:
            return self._actions[name]
        except KeyError:
            raise KeyError(f"no action named {name!r}") from None

    def names(self) -> list[str]:
        return sorted(self._actions)
