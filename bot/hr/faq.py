"""The FAQ in the workspace: the shipped entries (``dialogues/faq/*.yml``, read only) and HR's own
(table ``faq_addition``, as the answers HR approve from handed-off questions are).

An HR entry is in one language, with one or more ways to ask it (one a line). Saving an entry with
the id of a shipped one overrides it (`bot.knowledge` builds HR's entries over the files'). The
running knowledge base is rebuilt in the background at once (`KnowledgeService.refresh_soon`): a
saved entry answers candidates without a restart, in every process at its next refresh.
"""

from __future__ import annotations

import re
import secrets

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select

from bot.hr.accounts import record
from bot.hr.auth import Principal
from bot.hr.workspace_schemas import FaqEntryBody, FaqEntryView
from bot.runtime import Runtime
from bot.store.models import FaqAddition
from knowledge.faq import load_faq_files

ENTRY_ID = re.compile(r"^[a-z0-9_]{2,64}$")


class FaqError(Exception):
    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def scopes(runtime: Runtime) -> list[str]:
    return ["company", *(r.role for r in runtime.catalog.roles)]


async def entries(runtime: Runtime) -> list[FaqEntryView]:
    """HR's entries first, then the shipped ones (those HR override marked as such)."""
    folder = runtime.settings.dialogues_dir / "faq"
    shipped, _ = load_faq_files(sorted(folder.glob("*.yml")))
    async with runtime.db.read() as session:
        added = list((await session.exec(select(FaqAddition).order_by(col(FaqAddition.id)))).all())
    ours = {row.entry_id for row in added}
    views = [
        FaqEntryView(
            id=row.entry_id,
            scope=row.scope,
            questions={row.language: [q.strip() for q in row.question.splitlines() if q.strip()]},
            answer={row.language: row.answer},
            source=f"handoff {row.handoff_id}" if row.handoff_id else "HR",
            editable=True,
        )
        for row in added
    ]
    views += [
        FaqEntryView(
            id=entry.id,
            scope=entry.scope,
            questions=dict(entry.questions),
            answer=dict(entry.answer),
            source=entry.source,
            editable=False,
            overridden=entry.id in ours,
        )
        for entry in shipped
    ]
    return views


async def save(runtime: Runtime, who: Principal, entry_id: str, body: FaqEntryBody) -> FaqEntryView:
    """Create or replace HR's entry ``entry_id``; audited; the knowledge base rebuilds at once.

    Raises:
        FaqError: a bad id or scope, or questions without text.
    """
    if not ENTRY_ID.match(entry_id):
        raise FaqError("an entry id is 2-64 lower-case letters, digits or underscores")
    if body.scope not in scopes(runtime):
        raise FaqError(f"unknown scope {body.scope!r} (company or a published role)")
    questions = [q.strip() for q in body.question.splitlines() if q.strip()]
    if not questions or not body.answer.strip():
        raise FaqError("an entry needs at least one question and an answer")
    try:
        async with runtime.db.write() as session:
            old = (await session.exec(select(FaqAddition).where(FaqAddition.entry_id == entry_id))).first()
            handoff_id = old.handoff_id if old is not None else None
            # a new row, never an update: the knowledge base notices the new id and rebuilds. It is
            # added under a provisional id before the old row goes, so its id is above every other.
            row = FaqAddition(
                entry_id=f"~{secrets.token_hex(16)}",
                scope=body.scope,
                language=body.language,
                question="\n".join(questions),
                answer=body.answer.strip(),
                handoff_id=handoff_id,
            )
            session.add(row)
            await session.flush()
            if old is not None:
                await session.exec(delete(FaqAddition).where(col(FaqAddition.id) == old.id))
                await session.flush()
            row.entry_id = entry_id
            session.add(row)
            record(
                session,
                who.actor,
                "faq.saved",
                target=f"faq:{entry_id}",
                changes={"scope": body.scope, "language": body.language, "replaced": old is not None},
            )
    except IntegrityError as exc:  # saved at the same moment by someone else
        raise FaqError(f"entry {entry_id!r} was saved by someone else just now; reload", 409) from exc
    runtime.knowledge.refresh_soon()
    return FaqEntryView(
        id=entry_id,
        scope=row.scope,
        questions={row.language: questions},
        answer={row.language: row.answer},
        source="HR",
        editable=True,
    )


async def remove(runtime: Runtime, who: Principal, entry_id: str) -> None:
    """Delete HR's entry (a shipped entry it overrode answers again).

    Raises:
        FaqError: no HR entry with that id (404).
    """
    async with runtime.db.write() as session:
        old = (await session.exec(select(FaqAddition).where(FaqAddition.entry_id == entry_id))).first()
        if old is None:
            raise FaqError(f"no HR entry {entry_id!r} (shipped entries are edited in dialogues/faq)", 404)
        await session.exec(delete(FaqAddition).where(col(FaqAddition.id) == old.id))
        record(session, who.actor, "faq.deleted", target=f"faq:{entry_id}")
    runtime.knowledge.refresh_soon()
