"""Published flows: versions stored in the database, the newest per role open to candidates.

`publish_files` stores a new version of a flow when its file's text changed; an interview keeps
the version it started with. Parsed flows are cached by version id (a version never changes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from actions.base import RoleInfo
from bot.store.db import Database
from bot.store.models import FlowVersion
from flows.schema import Flow, FlowError, flow_files, load_flow_file, parse_flow


@dataclass(frozen=True)
class Published:
    role: str
    version: int
    created: bool


class FlowCatalog:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._flows: dict[int, Flow] = {}
        self._roles: list[RoleInfo] = []

    async def publish_files(self, paths: Iterable[Path], *, only_new_roles: bool = False) -> list[Published]:
        """Validate and store each flow file; raises `FlowError` (with every problem) before storing any.

        ``only_new_roles``: store a file only for a role with no version yet (``serve
        --load-samples``: the samples never overwrite what HR published in the workspace)."""
        sources = []
        problems = []
        for path in flow_files(paths):
            try:
                sources.append(load_flow_file(path))
            except FlowError as exc:
                problems.extend(exc.problems)
        if problems:
            raise FlowError(problems)
        results = []
        async with self.db.write() as session:
            for source in sources:
                results.append(
                    await self._publish(
                        session, source.flow.role, source.text, source.digest, only_new=only_new_roles
                    )
                )
        await self.refresh()
        return results

    async def publish_text(self, text: str, path: str = "<flow>") -> Published:
        source = parse_flow(text, path)
        async with self.db.write() as session:
            result = await self._publish(session, source.flow.role, source.text, source.digest)
        await self.refresh()
        return result

    @staticmethod
    async def _publish(
        session: AsyncSession, role: str, text: str, digest: str, *, only_new: bool = False
    ) -> Published:
        latest = (
            await session.exec(
                select(FlowVersion).where(FlowVersion.role == role).order_by(col(FlowVersion.version).desc())
            )
        ).first()
        if latest is not None and (only_new or latest.digest == digest):
            return Published(role, latest.version, created=False)
        version = latest.version + 1 if latest is not None else 1
        session.add(FlowVersion(role=role, version=version, digest=digest, source=text))
        return Published(role, version, created=True)

    async def refresh(self) -> None:
        """Reload the newest version of every role (call after publishing)."""
        async with self.db.read() as session:
            newest = (
                select(FlowVersion.role, func.max(FlowVersion.version).label("version"))
                .group_by(FlowVersion.role)
                .subquery()
            )
            rows = (
                await session.exec(
                    select(FlowVersion).join(
                        newest,
                        (col(FlowVersion.role) == newest.c.role)
                        & (col(FlowVersion.version) == newest.c.version),
                    )
                )
            ).all()
        roles = []
        for row in sorted(rows, key=lambda r: r.role):
            assert row.id is not None
            flow = self._parse(row)
            roles.append(RoleInfo(row.role, dict(flow.title), flow.walk_in, row.id, len(flow.questions)))
        self._roles = roles

    @property
    def roles(self) -> list[RoleInfo]:
        return list(self._roles)

    async def version_of(self, version_id: int) -> int:
        async with self.db.read() as session:
            row = await session.get(FlowVersion, version_id)
        if row is None:
            raise KeyError(f"no flow version {version_id}")
        return row.version

    async def flow(self, version_id: int, session: AsyncSession | None = None) -> Flow:
        cached = self._flows.get(version_id)
        if cached is not None:
            return cached
        if session is not None:
            row = await session.get(FlowVersion, version_id)
        else:
            async with self.db.read() as own:
                row = await own.get(FlowVersion, version_id)
        if row is None:
            raise KeyError(f"no flow version {version_id}")
        return self._parse(row)

    def _parse(self, row: FlowVersion) -> Flow:
        assert row.id is not None
        flow = self._flows.get(row.id)
        if flow is None:
            flow = parse_flow(row.source, f"{row.role}@v{row.version}").flow
            self._flows[row.id] = flow
        return flow
