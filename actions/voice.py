"""Voice answers and questions read aloud: the actions the policy runs for them.

* ``action_confirm_transcript``: a voice answer the recogniser was unsure of: show what it heard and
  ask "yes" to record it, or the corrected answer typed (``pending`` ``{"confirm": "transcript"}``).
* ``action_transcript_declined``: the candidate said no: the question again, nothing recorded.
* ``action_voice_unusable``: a recording that cannot be used (empty, silent, too long, damaged,
  another format, the recogniser busy, off, failed or not answering in time): a clear reply, then
  back to where we were.
* ``action_set_voice``: ``/voice on|off``: questions read aloud or not, for this candidate.
"""

from __future__ import annotations

from typing import Any

from actions.base import Action, Button, Dispatcher, Domain, Tracker, followup, slot_set
from actions.events import Event

PROBLEMS = frozenset(
    {"empty", "too_large", "too_long", "unsupported", "corrupt", "silent", "busy", "off", "failed", "timeout"}
)


def voice_privacy(dispatcher: Dispatcher, domain: Domain) -> str:
    """The consent text's sentence on voice answers: transcribed here, and how long audio is kept."""
    if domain.audio_days > 0:
        return dispatcher.render("voice_privacy_kept", days=domain.audio_days)
    return dispatcher.render("voice_privacy")


def spoken_answer(tracker: Tracker) -> dict[str, Any] | None:
    """The recogniser's facts about the answer being recorded (duration, speech span, long pauses),
    for practice feedback's pace; None for a typed answer or a typed correction."""
    voice = tracker.latest_message.get("voice")
    if not isinstance(voice, dict) or voice.get("problem") or tracker.latest_message.get("corrected"):
        return None
    return {**voice, "text": tracker.latest_message.get("answer_text") or tracker.text}


class ActionConfirmTranscript(Action):
    def name(self) -> str:
        return "action_confirm_transcript"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        dispatcher.utter_message(
            response="confirm_transcript", heard=tracker.text.strip(), buttons=dispatcher.yes_no()
        )
        pending = {
            "confirm": "transcript",
            "message_id": tracker.latest_message.get("message_id"),
            "voice": tracker.latest_message.get("voice"),
        }
        return [slot_set("pending", pending)]


class ActionTranscriptDeclined(Action):
    def name(self) -> str:
        return "action_transcript_declined"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        dispatcher.utter_message(response="confirm_transcript_no")
        return [followup("action_repeat_question")]


class ActionVoiceUnusable(Action):
    def name(self) -> str:
        return "action_voice_unusable"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        voice = tracker.latest_message.get("voice") or {}
        kind = str(voice.get("problem") or "failed")
        dispatcher.utter_message(
            response=f"voice_problem_{kind if kind in PROBLEMS else 'failed'}",
            minutes=round(float(voice.get("max_seconds") or 180) / 60),
        )
        state = tracker.get_slot("state")
        if state == "question" and domain.flow is not None:
            return [followup("action_back_to_question")]
        if state == "consent":
            return [followup("action_back_to_question")]
        return []


class ActionSetVoice(Action):
    """``/voice on`` or ``/voice off`` (``/voice`` alone says which and how to change it)."""

    def name(self) -> str:
        return "action_set_voice"

    async def run(self, dispatcher: Dispatcher, tracker: Tracker, domain: Domain) -> list[Event]:
        asked = next(
            (
                e.get("value")
                for e in tracker.latest_message.get("entities", [])
                if e.get("entity") == "voice"
            ),
            None,
        )
        choice = {"on": True, "off": False}.get(str(asked).lower()) if asked else None
        if choice is None:
            chosen = tracker.get_slot("read_aloud_choice")
            current = bool(tracker.get_slot("read_aloud")) if chosen is None else bool(chosen)
            dispatcher.utter_message(
                response="voice_status_on" if current else "voice_status_off",
                buttons=[
                    Button("/voice off" if current else "/voice on", "/voice off" if current else "/voice on")
                ],
            )
            return []
        language = str(tracker.get_slot("language") or "en")
        if choice and language not in domain.spoken_languages:
            dispatcher.utter_message(response="voice_on_text_only")
        else:
            dispatcher.utter_message(response="voice_on" if choice else "voice_off")
        return [slot_set("read_aloud_choice", choice)]


def voice_actions() -> list[Action]:
    return [ActionConfirmTranscript(), ActionTranscriptDeclined(), ActionVoiceUnusable(), ActionSetVoice()]
