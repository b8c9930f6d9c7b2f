"""Preview a flow as a candidate would meet it, without making an interview of it.

The preview runs the real engine (`bot.engine.Engine`, the same actions, policy, intent classifier,
scorers and knowledge base) over a sandbox: a private SQLite database in a temporary directory of
this process, never the installation's database. A preview publishes the flow's text (a draft or
the role's newest version) into the sandbox, opens an invitation to it there, and passes HR's
messages through the sandbox's conversation service; the replies, the interview's state and the
scores come back. Nothing of it reaches the installation's database: HR's views, the dashboard,
exports and webhooks never see a preview, and no interview is counted.

The sandbox copies the role's exemplars from the installation's database (read only) so answers
score as they would in an interview; the knowledge base is the running one's. Previews expire
after `PREVIEW_HOURS` and at most `MAX_PREVIEWS` are kept; the directory goes with the process.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from actions.base import ActionRegistry
from actions.interview import interview_actions
from bot.catalog import FlowCatalog
from bot.conversations import Conversations
from bot.engine import Engine
from bot.hr.flows import check
from bot.hr.flowtools import problems_text
from bot.hr.workspace_schemas import PreviewReply, PreviewScore, PreviewTurn
from bot.messages import IncomingMessage
from bot.runtime import Runtime
from bot.scoring import ScoringService
from bot.store import repo
from bot.store.db import Database, _sqlite_pragmas
from bot.store.models import Candidate, ChannelIdentity, Exemplar, Interview, Invitation, utcnow

CHANNEL = "preview"
PREVIEW_HOURS = 2
MAX_PREVIEWS = 100
MAX_DRAFT_SCORERS = 4


class PreviewError(Exception):
    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class _Builds(dict[str, Any]):
    """The sandbox's scorers by digest: the running ones' (the newest version previews at once)
    read through, drafts' kept here, at most `MAX_DRAFT_SCORERS` of them."""

    def __init__(self, shared: dict[str, Any]) -> None:
        super().__init__()
        self.shared = shared

    def get(self, key: str, default: Any = None) -> Any:
        found = super().get(key)
        return found if found is not None else self.shared.get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        while len(self) >= MAX_DRAFT_SCORERS:
            del self[next(iter(self))]
        super().__setitem__(key, value)


class _SandboxDatabase(Database):
    """A `Database` whose connections close after each use (no pool outlives a preview's call)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.engine = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": 30})
        _sqlite_pragmas(self.engine)
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)


@dataclass
class _Preview:
    role: str
    owner: int | None
    created_at: datetime
    version_id: int
    transcript: list[tuple[str, str]] = field(default_factory=list)
    """("candidate" | "bot", text), for the preview page."""


@dataclass
class _Sandbox:
    folder: Path
    db: Database
    catalog: FlowCatalog
    scoring: ScoringService
    conversations: Conversations
    exemplars: dict[str, tuple[int, int]] = field(default_factory=dict)


class Previews:
    """The previews of one process (``app.state.hr_previews``)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._sandbox: _Sandbox | None = None
        self._previews: dict[str, _Preview] = {}
        self._lock = asyncio.Lock()
        """Publishing a text and opening its invitation happen together (the sandbox's newest
        version is the one an invitation opens)."""

    async def _ready(self) -> _Sandbox:
        if self._sandbox is not None:
            return self._sandbox
        runtime = self.runtime
        folder = Path(tempfile.mkdtemp(prefix="interviewer-preview-"))
        weakref.finalize(self, shutil.rmtree, folder, ignore_errors=True)
        db = _SandboxDatabase(f"sqlite+aiosqlite:///{folder / 'preview.db'}")
        await asyncio.to_thread(db.migrate)
        catalog = FlowCatalog(db)
        settings = runtime.settings
        scoring = ScoringService(db, catalog, settings, runtime.embeddings, _Builds(runtime.scoring.builds))
        registry = ActionRegistry(interview_actions(scorer=scoring, answerer=runtime.knowledge))
        engine = Engine(registry, runtime.responses, catalog, settings, scoring, runtime.knowledge)
        engine.role_catalog = runtime.engine.role_catalog
        conversations = Conversations(db, engine, runtime.classifier, settings)
        conversations.ready = True
        self._sandbox = _Sandbox(folder, db, catalog, scoring, conversations)
        return self._sandbox

    async def close(self) -> None:
        if self._sandbox is not None:
            await self._sandbox.db.dispose()
            shutil.rmtree(self._sandbox.folder, ignore_errors=True)
            self._sandbox = None
            self._previews.clear()

    async def _copy_exemplars(self, sandbox: _Sandbox, role: str) -> None:
        """The role's exemplars, as the installation has them (same ids: the scorer built for the
        published flow is reused when the preview's text is that flow)."""
        async with self.runtime.db.read() as session:
            rows = list(
                (
                    await session.exec(
                        select(Exemplar).where(Exemplar.role == role).order_by(col(Exemplar.id))
                    )
                ).all()
            )
        stats = (len(rows), max((r.id or 0 for r in rows), default=0))
        if sandbox.exemplars.get(role) == stats:
            return
        async with sandbox.db.write() as session:
            await session.exec(delete(Exemplar).where(col(Exemplar.role) == role))
            for row in rows:
                data = row.model_dump()
                data["import_id"] = None
                session.add(Exemplar.model_validate(data))
        sandbox.exemplars[role] = stats

    def _expire(self, now: datetime) -> None:
        limit = now - timedelta(hours=PREVIEW_HOURS)
        for key in [k for k, p in self._previews.items() if p.created_at < limit]:
            del self._previews[key]
        while len(self._previews) >= MAX_PREVIEWS:
            oldest = min(self._previews, key=lambda k: self._previews[k].created_at)
            del self._previews[oldest]

    async def start(
        self, role: str, source: str | None, language: str | None, owner: int | None
    ) -> PreviewTurn:
        """Open a preview of ``source`` (or the role's newest version) and return the bot's first
        replies (the consent question).

        Raises:
            PreviewError: the role has no flow (404) or the text has problems (422).
        """
        if source is None:
            from bot.hr.flows import latest_source

            async with self.runtime.db.read() as session:
                latest = await latest_source(session, role)
            if latest is None:
                raise PreviewError(f"no flow for role {role!r}", 404)
            source = latest.source
        source = source.replace("\r\n", "\n")
        checked, problems = check(source, role)
        if checked is None:
            raise PreviewError(problems_text(problems))
        if language is not None and language not in checked.flow.languages:
            raise PreviewError(f"the flow is in {', '.join(checked.flow.languages)}, not {language!r}")
        now = utcnow()
        async with self._lock:
            sandbox = await self._ready()
            self._expire(now)
            await self._copy_exemplars(sandbox, role)
            await sandbox.catalog.publish_text(source, f"{role}.yml")
            info = next(r for r in sandbox.catalog.roles if r.role == role)
            live = {p.version_id for p in self._previews.values()} | {info.flow_version_id}
            sandbox.scoring.keep_only(live)
            await sandbox.scoring.refresh()
            preview_id = secrets.token_urlsafe(18)
            token = secrets.token_urlsafe(18)
            async with sandbox.db.write() as session:
                session.add(Invitation(token_hash=repo.token_hash(token), role=role, mode="interview"))
                candidate = Candidate(language=language or checked.flow.languages[0])
                session.add(candidate)
                await session.flush()
                session.add(
                    ChannelIdentity(channel=CHANNEL, external_id=preview_id, candidate_id=candidate.id or 0)
                )
            self._previews[preview_id] = _Preview(role, owner, now, info.flow_version_id)
            return await self._say(sandbox, preview_id, f"/start {token}", shown=False)

    async def say(self, preview_id: str, text: str, owner: int | None) -> PreviewTurn:
        """Pass one message of HR's, as the candidate, to the preview; the bot's replies.

        Raises:
            PreviewError: no such preview (404; expired, or another user's).
        """
        preview = self._previews.get(preview_id)
        if preview is None or preview.owner != owner or self._sandbox is None:
            raise PreviewError("no such preview (it may have expired): start a new one", 404)
        return await self._say(self._sandbox, preview_id, text)

    def transcript(self, preview_id: str) -> list[tuple[str, str]]:
        preview = self._previews.get(preview_id)
        return list(preview.transcript) if preview is not None else []

    async def _say(self, sandbox: _Sandbox, preview_id: str, text: str, *, shown: bool = True) -> PreviewTurn:
        preview = self._previews[preview_id]
        replies = await sandbox.conversations.handle(
            IncomingMessage(channel=CHANNEL, sender_id=preview_id, text=text, message_id=None)
        )
        if shown:
            preview.transcript.append(("candidate", text))
        preview.transcript.extend(("bot", reply.text) for reply in replies)
        async with sandbox.db.read() as session:
            identity = (
                await session.exec(
                    select(ChannelIdentity).where(
                        ChannelIdentity.channel == CHANNEL, ChannelIdentity.external_id == preview_id
                    )
                )
            ).first()
            interview = None
            if identity is not None:
                interview = (
                    await session.exec(
                        select(Interview)
                        .where(Interview.candidate_id == identity.candidate_id)
                        .order_by(col(Interview.id).desc())
                    )
                ).first()
            scores = []
            if interview is not None and interview.id is not None:
                for answer, score in await repo.latest_scores(session, interview.id):
                    scores.append(
                        PreviewScore(
                            question_id=answer.question_id,
                            competency=answer.competency,
                            level=score.level,
                            insufficient=score.insufficient,
                        )
                    )
        return PreviewTurn(
            preview_id=preview_id,
            role=preview.role,
            state=interview.state if interview is not None else "idle",
            replies=[PreviewReply(text=r.text, buttons=[b.title for b in r.buttons]) for r in replies],
            scores=scores,
        )
