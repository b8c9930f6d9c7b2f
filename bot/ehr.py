"""EHR imports into the store, and each role's competency model from its employee records.

Parsing, validation and pseudonymisation are `knowledge.ehr`'s; this module stores what it read,
skipping records it already has, so importing a file twice changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import col, select

from bot.store.db import Database
from bot.store.models import EhrImport, EmployeeRecord, Exemplar
from flows.schema import Flow
from knowledge import ehr
from knowledge.competency_model import CompetencyModel, derive_weights


@dataclass
class ImportReport:
    file_name: str
    kind: str
    rows_read: int
    added: int
    known: int
    problems: list[ehr.RowProblem] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        head = (
            f"{self.file_name}: {self.kind}: {self.rows_read} row(s) read, {self.added} added, "
            f"{self.known} already imported, {len(self.problems)} rejected"
        )
        return [
            head,
            *(f"  {notice}" for notice in self.notices),
            *(f"{self.file_name}: row {p.row}: {p.reason}" for p in self.problems),
        ]


async def import_export(
    db: Database, path: Path, *, id_key: bytes, flows: Mapping[str, Flow]
) -> ImportReport:
    """Read one export and store its new records.

    Raises:
        knowledge.ehr.ExportError: the file cannot be read at all.
    """
    known = ehr.role_schemas(flows.values())
    result = await asyncio.to_thread(ehr.read_export, path, id_key=id_key, known=known)
    rows_read = len(result.exemplars) + len(result.employees) + len(result.rejected_rows)
    async with db.write() as session:
        batch = EhrImport(
            file_name=path.name,
            kind=result.kind,
            rows_read=rows_read,
            added=0,
            known=0,
            problems=[{"row": p.row, "reason": p.reason} for p in result.problems],
        )
        session.add(batch)
        await session.flush()
        if result.kind == "exemplars":
            keys = [r.key for r in result.exemplars]
            have = set((await session.exec(select(Exemplar.key).where(col(Exemplar.key).in_(keys)))).all())
            for record in result.exemplars:
                if record.key in have:
                    continue
                have.add(record.key)
                session.add(
                    Exemplar(
                        key=record.key,
                        role=record.role,
                        question_id=record.question_id,
                        competency=record.competency,
                        text=record.text,
                        rating=record.rating,
                        source=record.source,
                        performance=record.performance,
                        language=record.language,
                        rated_at=record.rated_at,
                        import_id=batch.id,
                    )
                )
                batch.added += 1
            batch.known = len(result.exemplars) - batch.added
        else:
            keys = [r.key for r in result.employees]
            have = set(
                (
                    await session.exec(select(EmployeeRecord.key).where(col(EmployeeRecord.key).in_(keys)))
                ).all()
            )
            for employee in result.employees:
                if employee.key in have:
                    continue
                have.add(employee.key)
                session.add(
                    EmployeeRecord(
                        key=employee.key,
                        role=employee.role,
                        ratings=dict(employee.ratings),
                        performance=employee.performance,
                        promoted=employee.promoted,
                        import_id=batch.id,
                    )
                )
                batch.added += 1
            batch.known = len(result.employees) - batch.added
        session.add(batch)
    return ImportReport(
        path.name,
        result.kind,
        rows_read,
        batch.added,
        batch.known,
        list(result.problems),
        list(result.notices),
    )


async def exemplars(db: Database, role: str | None = None) -> list[Exemplar]:
    async with db.read() as session:
        statement = select(Exemplar).order_by(col(Exemplar.id))
        if role is not None:
            statement = statement.where(Exemplar.role == role)
        return list((await session.exec(statement)).all())


async def competency_model(db: Database, flow: Flow) -> CompetencyModel:
    """Derive the role's weights from its stored employee records, shrunk toward the flow's."""
    async with db.read() as session:
        rows = (await session.exec(select(EmployeeRecord).where(EmployeeRecord.role == flow.role))).all()
    employees = [
        ehr.EmployeeRecord(
            key=r.key, role=r.role, ratings=dict(r.ratings), performance=r.performance, promoted=r.promoted
        )
        for r in rows
    ]
    return derive_weights(employees, flow.weights)
