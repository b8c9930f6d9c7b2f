"""Results for the HR system: real interviews per role and date range as CSV, XLSX or JSON.

One row per interview started in the range (dates in UTC, both ends included): the candidate's
pseudonymous reference, state, dates, the machine's overall and competency levels, HR's overrides
beside them (``<competency>_override``), and the current decision with its note. Practice sessions
never appear. Spreadsheet cells are guarded against formula injection (`safe_cell`): a text that a
spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return) gets a leading apostrophe, so it shows as text; numbers stay numbers. JSON is left as is.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.catalog import FlowCatalog
from bot.hr.accounts import candidate_ref
from bot.hr.overrides import OVERALL, current_overrides
from bot.store.models import Decision, FlowVersion, HrUser, Interview

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("csv", "xlsx", "json")
MAX_ROWS = 100_000


class ExportRow(BaseModel):
    interview_id: int
    candidate: str
    """The candidate's pseudonymous reference (as in webhooks and the audit log)."""
    role: str
    flow_version: int
    language: str
    state: str
    started_at: datetime
    completed_at: datetime | None
    overall: float | None
    match: float | None
    competencies: dict[str, float | None]
    """The machine's level per competency (1..5)."""
    overrides: dict[str, float]
    """HR's level where HR overrode the machine's (``overall`` or a competency)."""
    decision: str | None
    decision_note: str | None
    decided_by: str | None
    decided_at: datetime | None


class ResultsExport(BaseModel):
    role: str | None
    date_from: date | None
    date_to: date | None
    generated_at: datetime
    competencies: list[str]
    rows: list[ExportRow]


def safe_cell(value: Any) -> Any:
    """A value as a spreadsheet cell: a text starting like a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _bounds(date_from: date | None, date_to: date | None) -> tuple[datetime | None, datetime | None]:
    start = datetime.combine(date_from, time.min, UTC) if date_from else None
    end = datetime.combine(date_to + timedelta(days=1), time.min, UTC) if date_to else None
    return start, end


async def collect(
    session: AsyncSession,
    catalog: FlowCatalog,
    key: bytes,
    *,
    role: str | None,
    date_from: date | None,
    date_to: date | None,
    now: datetime,
) -> ResultsExport:
    """The rows of an export (real interviews only), oldest first."""
    statement = (
        select(Interview, FlowVersion.version)
        .join(FlowVersion, col(FlowVersion.id) == col(Interview.flow_version_id))
        .where(col(Interview.mode) == "interview")
    )
    if role:
        statement = statement.where(Interview.role == role)
    start, end = _bounds(date_from, date_to)
    if start is not None:
        statement = statement.where(col(Interview.created_at) >= start)
    if end is not None:
        statement = statement.where(col(Interview.created_at) < end)
    found = (await session.exec(statement.order_by(col(Interview.id)).limit(MAX_ROWS))).all()
    ids = [interview.id or 0 for interview, _ in found]
    overrides = await current_overrides(session, ids)
    decisions: dict[int, tuple[Decision, str | None]] = {}
    if ids:
        rows = await session.exec(
            select(Decision, HrUser.email)
            .outerjoin(HrUser, col(HrUser.id) == col(Decision.user_id))
            .where(col(Decision.interview_id).in_(ids))
            .order_by(col(Decision.id))
        )
        for decision, email in rows.all():
            decisions[decision.interview_id] = (decision, email)
    competencies: list[str] = []
    for info in catalog.roles:
        if role and info.role != role:
            continue
        flow = await catalog.flow(info.flow_version_id, session)
        competencies += [c.id for c in flow.competencies if c.id not in competencies]
    out = []
    for interview, version in found:
        results = interview.results or {}
        scored = results.get("competencies") or {}
        for cid in scored:
            if cid not in competencies:
                competencies.append(cid)
        decided = decisions.get(interview.id or 0)
        out.append(
            ExportRow(
                interview_id=interview.id or 0,
                candidate=candidate_ref(key, interview.candidate_id),
                role=interview.role,
                flow_version=version,
                language=interview.language,
                state=interview.state,
                started_at=interview.created_at,
                completed_at=interview.completed_at,
                overall=results.get("overall"),
                match=results.get("match"),
                competencies={cid: c.get("level") for cid, c in scored.items()},
                overrides=overrides.get(interview.id or 0, {}),
                decision=decided[0].outcome if decided else None,
                decision_note=decided[0].note if decided else None,
                decided_by=(decided[1] or "legacy-token") if decided else None,
                decided_at=decided[0].created_at if decided else None,
            )
        )
    return ResultsExport(
        role=role,
        date_from=date_from,
        date_to=date_to,
        generated_at=now,
        competencies=competencies,
        rows=out,
    )


def header(export: ResultsExport) -> list[str]:
    columns = [
        "interview_id",
        "candidate",
        "role",
        "flow_version",
        "language",
        "state",
        "started_at_utc",
        "completed_at_utc",
        "overall",
        "overall_override",
        "match",
    ]
    for cid in export.competencies:
        columns += [cid, f"{cid}_override"]
    return [safe_cell(c) for c in (*columns, "decision", "decision_note", "decided_by", "decided_at_utc")]


def _when(value: datetime | None) -> datetime | None:
    """A naive UTC time (spreadsheets keep no zone; the column says UTC)."""
    return value.astimezone(UTC).replace(tzinfo=None, microsecond=0) if value else None


def table(export: ResultsExport) -> list[list[Any]]:
    """The rows as cells (None for empty), each text guarded by `safe_cell`."""
    rows = []
    for row in export.rows:
        cells: list[Any] = [
            row.interview_id,
            row.candidate,
            row.role,
            row.flow_version,
            row.language,
            row.state,
            _when(row.started_at),
            _when(row.completed_at),
            row.overall,
            row.overrides.get(OVERALL),
            row.match,
        ]
        for cid in export.competencies:
            cells += [row.competencies.get(cid), row.overrides.get(cid)]
        cells += [row.decision, row.decision_note, row.decided_by, _when(row.decided_at)]
        rows.append([safe_cell(cell) for cell in cells])
    return rows


def to_csv(export: ResultsExport) -> bytes:
    """UTF-8 with a byte-order mark (so Excel reads Chinese right), comma separated."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header(export))
    for cells in table(export):
        writer.writerow(
            ["" if c is None else c.isoformat(sep=" ") if isinstance(c, datetime) else c for c in cells]
        )
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(export: ResultsExport) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("results")
    sheet.append(header(export))
    for cells in table(export):
        row = []
        for value in cells:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula, whatever the text
            elif isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
            row.append(cell)
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def file_name(export: ResultsExport, extension: str) -> str:
    parts = ["results", export.role or "all-roles"]
    if export.date_from:
        parts.append(f"from-{export.date_from.isoformat()}")
    if export.date_to:
        parts.append(f"to-{export.date_to.isoformat()}")
    return "_".join(parts) + f".{extension}"
