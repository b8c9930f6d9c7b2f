"""Shared helpers for the scenario tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import SQLModel, col, select

from bot.runtime import Runtime
from bot.settings import ROOT
from bot.store.models import Answer, AuditEvent, Handoff, Interview, Message
from channels.testing import FakeChannel
from flows.schema import Flow, load_flow_file

FLOWS = ROOT / "dialogues" / "flows"


def sample_flow(role: str) -> Flow:
    return load_flow_file(FLOWS / f"{role}.yml").flow


def strong_answers(flow: Flow, language: str) -> list[str]:
    """The flow's own level-5 reference answers: long and specific, so no follow-up is due."""
    return [q.reference_answers[0][language] for q in flow.questions]


async def complete_interview(candidate: FakeChannel, flow: Flow, language: str) -> list[str]:
    """Consent, answer every question with a strong answer, and return the bot's last replies."""
    replies = [r.text for r in await candidate.say("/yes")]
    for answer in strong_answers(flow, language):
        replies = [r.text for r in await candidate.say(answer)]
    return replies


async def rows(runtime: Runtime, model: Any, *where: Any) -> list[Any]:
    async with runtime.db.read() as session:
        statement = select(model).where(*where).order_by(col(model.id))
        return list((await session.exec(statement)).all())


async def answers(runtime: Runtime) -> list[Answer]:
    return await rows(runtime, Answer)


async def interviews(runtime: Runtime) -> list[Interview]:
    return await rows(runtime, Interview)


async def handoffs(runtime: Runtime) -> list[Handoff]:
    return await rows(runtime, Handoff)


async def audit_kinds(runtime: Runtime) -> list[str]:
    return [event.kind for event in await rows(runtime, AuditEvent)]


async def messages(runtime: Runtime) -> list[Message]:
    return await rows(runtime, Message)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


async def database_text(runtime: Runtime) -> str:
    """Every row of every table, as text: what a search of the database finds."""
    lines = []
    async with runtime.db.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in (await connection.execute(select(table))).all():
                lines.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(lines)
