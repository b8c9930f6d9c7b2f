"""Turning the bot's replies into Telegram messages: long texts split, buttons as an inline keyboard,
and the channel's own short notices in the candidate's language."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Literal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import InlineKeyboardButtonLimit, MessageLimit

from bot.messages import OutgoingButton

MAX_TEXT = int(MessageLimit.MAX_TEXT_LENGTH)
MAX_CALLBACK_BYTES = int(InlineKeyboardButtonLimit.MAX_CALLBACK_DATA)

Language = Literal["en", "zh"]

NOTICES: dict[str, dict[Language, str]] = {
    "video_note": {
        "en": "I can't use video messages. Please answer with a voice message or type your answer.",
        "zh": "我无法使用视频消息。请发语音或直接输入你的回答。",
    },
    "unsupported": {
        "en": "Sorry, I can only read text messages and voice messages. Please type or say your answer.",
        "zh": "抱歉，我只能读取文字消息和语音消息，请直接输入你的回答或发语音。",
    },
    "edited": {
        "en": "I don't read edited messages: your original message is the one that counts. "
        "To add something, send it as a new message.",
        "zh": "我不会读取修改后的消息，以你最初发送的内容为准。如需补充，请发送一条新消息。",
    },
    "button_expired": {
        "en": "This button has expired; please type your reply instead.",
        "zh": "这个按钮已失效，请直接输入你的回复。",
    },
}


def language_of(language_code: str | None) -> Language:
    """The notice language for a Telegram user's ``language_code`` (``zh-hans``, ``en-GB`` ...)."""
    return "zh" if (language_code or "").lower().startswith("zh") else "en"


def notice(key: str, language: Language) -> str:
    return NOTICES[key][language]


def _units(text: str) -> int:
    """Telegram counts a message's length in UTF-16 code units (an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def _fitting(text: str, limit: int) -> int:
    """How many characters of ``text`` fit into ``limit`` UTF-16 code units."""
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            return index
    return len(text)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cut ``text`` into messages of at most ``limit``, at a paragraph break if one lies in the
    second half of the window, else at a line break, else a space, else anywhere."""
    chunks: list[str] = []
    rest = text.strip()
    while _units(rest) > limit:
        window = rest[: _fitting(rest, limit)]
        for separator in ("\n\n", "\n", " "):
            at = window.rfind(separator)
            if at > len(window) // 2:
                chunk, rest = window[:at], rest[at + len(separator) :]
                break
        else:
            chunk, rest = window, rest[len(window) :]
        if chunk.strip():
            chunks.append(chunk.rstrip())
        rest = rest.lstrip()
    if rest:
        chunks.append(rest)
    return chunks


class CallbackPayloads:
    """Button payloads as ``callback_data``, which Telegram limits to 64 bytes.

    A payload that fits is sent as it is, so a button keeps working across restarts; a longer one
    is sent as a short hash and remembered here (the most recent ``capacity`` of them).
    """

    PREFIX = "#h:"

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._payloads: OrderedDict[str, str] = OrderedDict()

    def encode(self, payload: str) -> str:
        if (
            payload
            and len(payload.encode("utf-8")) <= MAX_CALLBACK_BYTES
            and not payload.startswith(self.PREFIX)
        ):
            return payload
        data = self.PREFIX + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]
        self._payloads[data] = payload
        self._payloads.move_to_end(data)
        while len(self._payloads) > self.capacity:
            self._payloads.popitem(last=False)
        return data

    def decode(self, data: str) -> str | None:
        """The payload behind ``callback_data``, or None for a hash this process no longer knows."""
        if not data.startswith(self.PREFIX):
            return data
        return self._payloads.get(data)


def keyboard(buttons: list[OutgoingButton], payloads: CallbackPayloads) -> InlineKeyboardMarkup | None:
    """Short choices (yes / no) side by side, longer ones one per row."""
    if not buttons:
        return None
    keys = [
        InlineKeyboardButton(button.title or button.payload, callback_data=payloads.encode(button.payload))
        for button in buttons
    ]
    if len(keys) <= 3 and sum(len(key.text) for key in keys) <= 30:
        return InlineKeyboardMarkup([keys])
    return InlineKeyboardMarkup([[key] for key in keys])
