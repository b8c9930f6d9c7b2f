"""A fake channel for tests: push a candidate's message, get the bot's replies.

channel = FakeChannel(runtime.conversations)
replies = await channel.say("/interview sales_manager")
assert "agree" in replies[-1].text
"""

from __future__ import annotations

import itertools

from bot.conversations import Conversations
from bot.messages import AudioInput, IncomingMessage, OutgoingMessage

_ids = itertools.count(1)


class FakeChannel:
    name = "test"

    def __init__(self, conversations: Conversations, sender: str | None = None) -> None:
        self.conversations = conversations
        self.sender = sender or f"candidate-{next(_ids)}"
        self.transcript: list[tuple[str, str]] = []

    def router(self) -> None:
        return None

    async def say(self, text: str, *, message_id: str | None = None) -> list[OutgoingMessage]:
        """Send one message as the candidate and return the bot's replies to it."""
        self.transcript.append(("candidate", text))
        replies = await self.conversations.handle(
            IncomingMessage(channel=self.name, sender_id=self.sender, text=text, message_id=message_id)
        )
        self.transcript.extend(("bot", reply.text) for reply in replies)
        return replies

    async def said(self, text: str, **kwargs: str | None) -> str:
        """Like `say`, but the replies joined into one text."""
        return "\n".join(reply.text for reply in await self.say(text, **kwargs))

    async def say_voice(
        self, audio: bytes, *, message_id: str | None = None, source: str = "test_voice"
    ) -> list[OutgoingMessage]:
        """Send a voice message (the recording's bytes, any format a channel may receive)."""
        self.transcript.append(("candidate", f"<voice {len(audio)} bytes>"))
        replies = await self.conversations.handle(
            IncomingMessage(
                channel=self.name,
                sender_id=self.sender,
                text="",
                message_id=message_id,
                audio=AudioInput(audio, source),
            )
        )
        self.transcript.extend(("bot", reply.text) for reply in replies)
        return replies
