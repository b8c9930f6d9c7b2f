"""Voice messages in the conversation: the recording is stored with the message, transcribed before
the message is processed, and the transcript becomes the message's text.

`Conversations` calls three things here:

* `store_clip` inside the receipt's transaction: the recording is committed with the message, so
  nothing a candidate says is lost if the process dies before it is transcribed;
* `Transcripts.transcribe_pending` before processing (outside any database lock): each stored,
  untranscribed recording of the batch goes to the recogniser (`bot.messages.SpeechToText`, which
  the channel layer provides: `channels.voice`); the transcript and its confidence are committed,
  and voice notes that follow each other within ``voice.merge_gap_seconds`` on a merging channel
  (WeChat stops a voice message at 60 s) become one message. A recording that cannot be used
  (empty, silent, too long, damaged, another format, the recogniser busy or off) leaves the message
  empty with the reason, which `annotate` turns into the ``voice_unusable`` intent: a clear reply,
  and nothing else changes.
* `discard_audio` in each step's transaction: with ``voice.keep_audio_days: 0`` a recording is
  deleted once it is transcribed and its transcript is confirmed (recorded, or not waiting for the
  candidate's confirmation). Longer keeping is ended by the retention sweep (`bot.retention`).

Recordings are personal data: they are never logged, and erasure (`repo.erase_candidate`) and the
practice retention remove them with their messages.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.messages import AudioInput, AudioRefusedError, SpeechToText
from bot.nlu import Parse
from bot.settings import Settings
from bot.store.db import Database
from bot.store.models import Candidate, ChannelIdentity, Message, VoiceClip, utcnow

log = logging.getLogger(__name__)


def store_clip(session: AsyncSession, message_id: int, identity_id: int, audio: AudioInput) -> None:
    """Add the recording of a just-stored voice message to the receipt's transaction."""
    session.add(
        VoiceClip(
            message_id=message_id,
            identity_id=identity_id,
            source=audio.source[:32],
            audio=audio.data if audio.problem is None else None,
            audio_bytes=len(audio.data),
            status="refused" if audio.problem else "received",
            problem=audio.problem,
            second_opinion=audio.second_opinion,
        )
    )


class Transcripts:
    """Turns a conversation's stored voice messages into texts (see the module's description)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.recognizer: SpeechToText | None = None
        """Set by the channel layer (`channels.voice.voice_service`); without one, voice messages
        get "please type" (``voice_unusable`` with kind ``off``)."""
        self.preloading: Future[None] | None = None
        """The background load ``voice.preload`` started (`preload`), if any."""

    def preload(self) -> Future[None] | None:
        """With ``voice.preload``, start loading the recogniser's models in the background (the
        runtime calls this once it has started); otherwise they load with the first voice answer."""
        voice = self.settings.voice
        if self.recognizer is None or not voice.enabled or not voice.preload or self.preloading is not None:
            return self.preloading
        log.info("loading the speech recogniser in the background (voice.preload)")
        self.preloading = self.recognizer.preload()
        return self.preloading

    def text_turn(self) -> AbstractContextManager[None]:
        """Around the processing of a message: the recogniser's transcriptions give way to it
        (``voice.text_first``); a turn waiting for its own transcript does not hold them back."""
        if self.recognizer is None or not self.settings.voice.enabled:
            return nullcontext()
        return self.recognizer.text_turn()

    async def transcribe_pending(
        self, identity_id: int, pending: list[Message]
    ) -> tuple[list[Message], dict[int, dict[str, Any]]]:
        """Transcribe the batch's voice messages; returns the messages still to process (voice notes
        merged into an earlier one are processed already) and, per voice message id, what the
        recogniser found: its facts (text, confidence, duration ...) or ``{"problem": kind}``."""
        ids = [m.id for m in pending if m.id is not None]
        if not ids:
            return pending, {}
        async with self.db.read() as session:
            clips = {
                clip.message_id: clip
                for clip in (
                    await session.exec(select(VoiceClip).where(col(VoiceClip.message_id).in_(ids)))
                ).all()
            }
            hint = await _language(session, identity_id) if clips else None
        if not clips:
            return pending, {}
        found: dict[int, dict[str, Any]] = {}
        for message in pending:
            clip = clips.get(message.id or 0)
            if clip is None:
                continue
            if clip.status == "received":
                await self._transcribe(message, clip, hint)
            found[message.id or 0] = _found(clip) | (
                {"max_seconds": self.settings.voice.max_seconds} if clip.problem else {}
            )
        return await self._merge(pending, clips, found)

    async def _transcribe(self, message: Message, clip: VoiceClip, hint: str | None) -> None:
        heard = None
        problem: str | None = None
        if self.recognizer is None or not self.settings.voice.enabled:
            problem = "off"
        elif clip.audio is None:
            problem = "empty"
        else:
            try:
                heard = await self.recognizer.transcribe(
                    clip.audio, languages=list(self.settings.languages), hint=hint
                )
            except AudioRefusedError as exc:
                problem = exc.kind
            except Exception:  # a recogniser failure must not block the conversation
                log.exception("voice message %s could not be transcribed", message.id)
                problem = "failed"
        limit = self.settings.interview.max_message_chars
        async with self.db.write() as session:
            row = await session.get(VoiceClip, clip.id)
            stored = await session.get(Message, message.id)
            if row is None or stored is None or row.status != "received":
                return  # erased, or transcribed by another process meanwhile
            row.transcribed_at = utcnow()
            if heard is None:
                row.status, row.problem = "refused", problem
                row.audio, row.audio_deleted_at = None, utcnow()
                stored.text = ""
            else:
                row.status = "transcribed"
                row.language, row.duration, row.model = heard.language, heard.duration, heard.model
                row.avg_logprob, row.no_speech_prob = heard.avg_logprob, heard.no_speech_prob
                voice = self.settings.voice
                # The thresholds are the bot's settings (set on dev recordings; see README).
                row.uncertain = (
                    heard.avg_logprob < voice.min_avg_logprob
                    or heard.no_speech_prob > voice.max_no_speech_prob
                )
                row.facts = heard.facts() | {"uncertain": row.uncertain}
                text = heard.text.replace("\x00", "")
                stored.text, stored.truncated = text[:limit], len(text) > limit
            session.add(row)
            session.add(stored)
        clip.status, clip.problem = row.status, row.problem
        clip.language, clip.duration, clip.uncertain, clip.facts = (
            row.language,
            row.duration,
            row.uncertain,
            row.facts,
        )
        message.text, message.truncated = stored.text, stored.truncated

    async def _merge(
        self, pending: list[Message], clips: dict[int, VoiceClip], found: dict[int, dict[str, Any]]
    ) -> tuple[list[Message], dict[int, dict[str, Any]]]:
        voice = self.settings.voice
        kept: list[Message] = []
        merged: list[tuple[Message, Message]] = []
        for message in pending:
            previous = kept[-1] if kept else None
            if (
                previous is not None
                and message.channel in voice.merge_channels
                and previous.channel == message.channel
                and _usable(clips.get(previous.id or 0))
                and _usable(clips.get(message.id or 0))
                and (message.created_at - previous.created_at).total_seconds()
                <= voice.merge_gap_seconds + float(found[message.id or 0].get("duration") or 0.0)
            ):
                merged.append((previous, message))
                joiner = "" if found[previous.id or 0].get("language") == "zh" else " "
                previous.text = f"{previous.text}{joiner}{message.text}"
                found[previous.id or 0] = _combined(found[previous.id or 0], found.pop(message.id or 0))
                continue
            kept.append(message)
        if merged:
            limit = self.settings.interview.max_message_chars
            async with self.db.write() as session:
                for into, message in merged:
                    row = await session.get(Message, into.id)
                    if row is not None:
                        row.text, row.truncated = into.text[:limit], len(into.text) > limit
                        session.add(row)
                    # Its text now lives in the answer it joined; the row stays as the dedupe key.
                    await session.exec(
                        update(Message).where(col(Message.id) == message.id).values(processed=True, text="")
                    )
                    await session.exec(
                        update(VoiceClip)
                        .where(col(VoiceClip.message_id) == message.id)
                        .values(status="merged", merged_into_id=into.id)
                    )
        return kept, found

    @staticmethod
    def annotate(parse: Parse, found: dict[str, Any] | None) -> Parse:
        """The classifier's parse of a voice message, with what the recogniser found: an unusable
        recording becomes the ``voice_unusable`` intent (its kind in ``args``); a usable one carries
        its facts in ``parse.voice`` (the policy asks to confirm an uncertain one)."""
        if found is None:
            return parse
        if found.get("problem"):
            return replace(
                parse, intent="voice_unusable", confidence=1.0, args=[str(found["problem"])], voice=found
            )
        return replace(parse, voice=found)

    async def discard_audio(self, session: AsyncSession, identity: ChannelIdentity) -> None:
        """With ``voice.keep_audio_days: 0``, delete the conversation's recordings that are
        transcribed and not awaiting the candidate's confirmation (in the step's transaction)."""
        if self.settings.voice.keep_audio_days > 0 or identity.id is None:
            return
        waiting = (
            (identity.pending or {}).get("message_id")
            if (identity.pending or {}).get("confirm") == "transcript"
            else None
        )
        statement = (
            update(VoiceClip)
            .where(
                col(VoiceClip.identity_id) == identity.id,
                col(VoiceClip.audio).is_not(None),
                col(VoiceClip.status) != "received",
            )
            .values(audio=None, audio_deleted_at=utcnow())
        )
        if waiting is not None:
            statement = statement.where(col(VoiceClip.message_id) != int(waiting))
        await session.exec(statement)

    async def transcript(self, channel: str, platform_message_id: str) -> dict[str, Any] | None:
        """What became of a voice message (for the web page, which shows the candidate what was
        heard): its text and confidence, or the problem; None when unknown."""
        async with self.db.read() as session:
            row = (
                await session.exec(
                    select(Message, VoiceClip)
                    .join(VoiceClip, col(VoiceClip.message_id) == col(Message.id))
                    .where(Message.channel == channel, Message.platform_message_id == platform_message_id)
                )
            ).first()
        if row is None:
            return None
        message, clip = row
        if clip.status == "merged" and clip.merged_into_id is not None:
            return {"text": message.text, "merged": True, "uncertain": clip.uncertain}
        return {"text": message.text, "problem": clip.problem, "uncertain": clip.uncertain}


def _usable(clip: VoiceClip | None) -> bool:
    return clip is not None and clip.status == "transcribed"


def _found(clip: VoiceClip) -> dict[str, Any]:
    if clip.status in {"refused", "received"}:
        return {"problem": clip.problem or "failed"}
    facts = dict(clip.facts or {})
    facts.pop("text", None)  # the message holds the text; this travels in the conversation's state
    facts.pop("segments", None)
    facts["clip_id"] = clip.id
    return facts


def _combined(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """Two voice notes as one answer: durations and speech add up, pauses join, any doubt counts."""
    combined = dict(first)
    for key in ("duration", "speech_seconds", "seconds"):
        combined[key] = round(float(first.get(key) or 0) + float(second.get(key) or 0), 3)
    combined["pauses"] = [*first.get("pauses", []), *second.get("pauses", [])]
    combined["uncertain"] = bool(first.get("uncertain")) or bool(second.get("uncertain"))
    for key in ("avg_logprob",):
        combined[key] = min(float(first.get(key) or 0), float(second.get(key) or 0))
    combined["no_speech_prob"] = max(
        float(first.get("no_speech_prob") or 0), float(second.get("no_speech_prob") or 0)
    )
    combined["notes"] = int(first.get("notes") or 1) + int(second.get("notes") or 1)
    return combined


async def _language(session: AsyncSession, identity_id: int) -> str | None:
    """The conversation's language: the recogniser's fallback when it cannot tell."""
    statement = (
        select(Candidate.language)
        .join(ChannelIdentity, col(ChannelIdentity.candidate_id) == col(Candidate.id))
        .where(ChannelIdentity.id == identity_id)
    )
    return (await session.exec(statement)).first()
