"""A terminal chat: lines from stdin are a candidate's messages, replies go to stdout.

It reads plain lines so an interview can be scripted (``interviewer chat < answers.txt``).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import TextIO

from bot.conversations import Conversations
from bot.messages import IncomingMessage, OutgoingMessage
from bot.settings import Settings


class TerminalChannel:
    name = "terminal"

    def __init__(self, conversations: Conversations, settings: Settings) -> None:
        self.conversations = conversations
        self.settings = settings

    def router(self) -> None:
        return None

    async def run(
        self,
        *,
        sender: str | None = None,
        opening: list[str] | None = None,
        stdin: TextIO | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        """Chat until end of input or ``/quit``; ``opening`` messages are sent first."""
        stdin = stdin or sys.stdin
        stdout = stdout or sys.stdout
        sender = sender or f"terminal-{uuid.uuid4().hex[:12]}"
        interactive = stdin.isatty()
        for text in opening or []:
            self._show(await self._send(sender, text), stdout)
        while True:
            if interactive:
                stdout.write("you> ")
                stdout.flush()
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            text = line.rstrip("\n")
            if text.strip() in {"/quit", "/exit"}:
                break
            if not interactive:
                stdout.write(f"you> {text}\n")
            self._show(await self._send(sender, text), stdout)

    async def _send(self, sender: str, text: str) -> list[OutgoingMessage]:
        return await self.conversations.handle(
            IncomingMessage(channel=self.name, sender_id=sender, text=text)
        )

    @staticmethod
    def _show(replies: list[OutgoingMessage], stdout: TextIO) -> None:
        for reply in replies:
            lines = reply.text.splitlines() or [""]
            stdout.write("bot> " + "\n     ".join(lines) + "\n")
            if reply.buttons:
                stdout.write(
                    "     "
                    + "  ".join(
                        f"[{b.title}]" if b.title == b.payload else f"[{b.title}: {b.payload}]"
                        for b in reply.buttons
                    )
                    + "\n"
                )
        stdout.flush()
