"""Voice: speech to text for candidates' voice answers, text to speech for questions read aloud.

Every channel that takes voice gets the process's one `VoiceService` from `voice_service`: one
recogniser (a client of the server's one transcription process, which runs Whisper at a lower CPU
priority and loads each model once, when the first voice answer needs it or, with ``voice.preload``,
after start-up: `channels.voice.recognizer`) and one speaker (piper, with its cache of spoken
questions). The service plugs the recogniser into the conversation service
(`bot.transcripts.Transcripts.recognizer`), which stores each recording and has it transcribed
before the message is processed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING

from channels.voice.audio import Encoding
from channels.voice.recognizer import Recognizer, supervised
from channels.voice.speech import Speaker

if TYPE_CHECKING:
    from bot.conversations import Conversations
    from bot.messages import OutgoingMessage
    from bot.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["VoiceService", "supervised_voice", "voice_service"]

supervised_voice = supervised


@dataclass
class VoiceService:
    recognizer: Recognizer
    speaker: Speaker
    settings: Settings

    @property
    def max_bytes(self) -> int:
        return self.settings.voice.max_bytes

    async def spoken(self, message: OutgoingMessage, encoding: Encoding) -> bytes | None:
        """The question in ``message`` spoken, when the candidate asked for it and its language has
        a voice; None otherwise (or when synthesis fails: the text still goes out)."""
        if message.read_aloud is None or not self.speaker.can_speak(message.text):
            return None
        try:
            return await asyncio.to_thread(self.speaker.audio, message.text, message.read_aloud, encoding)
        except Exception:
            log.exception("could not read a question aloud")
            return None


_SERVICES: weakref.WeakKeyDictionary[Conversations, VoiceService] = weakref.WeakKeyDictionary()
_RECOGNIZERS: dict[str, Recognizer] = {}
_SPEAKERS: dict[str, Speaker] = {}
_SHARED_LOCK = threading.Lock()


def _shared(settings: Settings) -> tuple[Recognizer, Speaker]:
    """The process's recogniser and speaker for these voice settings, however many channels (or
    runtimes, in tests) ask for them. Building them loads nothing: Whisper loads when the first voice
    answer needs it (or after start-up with ``voice.preload``, `bot.transcripts.Transcripts.preload`),
    piper when a question is first read aloud."""
    key = f"{settings.voice.model_dump_json()}\0{settings.cache_dir}"
    with _SHARED_LOCK:
        recognizer = _RECOGNIZERS.get(key)
        if recognizer is None:
            recognizer = _RECOGNIZERS[key] = Recognizer(settings.voice, settings.cache_dir)
        speaker = _SPEAKERS.get(key)
        if speaker is None:
            speaker = _SPEAKERS[key] = Speaker(settings.voice, settings.cache_dir)
        return recognizer, speaker


def voice_service(conversations: Conversations, settings: Settings) -> VoiceService:
    """The process's voice service, created on first use and plugged into ``conversations``.
    A recogniser already set on the conversations (tests share one per session) is kept."""
    recognizer, speaker = _shared(settings)
    if conversations is None:  # a channel built only to send (no conversations)
        return VoiceService(recognizer, speaker, settings)
    service = _SERVICES.get(conversations)
    if service is not None:
        return service
    existing = conversations.transcripts.recognizer
    if isinstance(existing, Recognizer):
        recognizer = existing
    conversations.transcripts.recognizer = recognizer
    service = VoiceService(recognizer, speaker, settings)
    _SERVICES[conversations] = service
    return service
