"""Flows in the workspace: the versions of each role's flow, the checks of `interviewer flows
check` on a text (each problem with its line), and publishing a text as the role's next version
(running interviews keep the version they started with)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.hr.schemas import FlowProblem, FlowVersionPublic
from bot.store.models import FlowVersion
from flows.schema import FlowError, FlowSource, Problem, parse_flow

MAX_FLOW_CHARS = 200_000


@dataclass(frozen=True)
class Line:
    number: int
    text: str
    problems: list[str]


def check(text: str, role: str) -> tuple[FlowSource | None, list[FlowProblem]]:
    """The flow in ``text`` if it is valid and is ``role``'s, and every problem with its line."""
    path = f"{role}.yml"
    if len(text) > MAX_FLOW_CHARS:
        return None, [FlowProblem(line=1, message=f"the flow is longer than {MAX_FLOW_CHARS} characters")]
    try:
        source = parse_flow(text, path)
    except FlowError as exc:
        return None, [_problem(p) for p in exc.problems]
    if source.flow.role != role:
        line = next((n for n, t in enumerate(text.splitlines(), 1) if t.startswith("role:")), 1)
        message = f"role: this is the flow of {role!r}; a flow for {source.flow.role!r} is published there"
        return None, [FlowProblem(line=line, message=message)]
    return source, []


def _problem(problem: Problem) -> FlowProblem:
    return FlowProblem(line=problem.line, message=problem.message)


def annotated(text: str, problems: list[FlowProblem]) -> list[Line]:
    """The text's lines, numbered, each with the problems found on it."""
    lines = text.splitlines() or [""]
    by_line: dict[int, list[str]] = {}
    for problem in problems:
        by_line.setdefault(min(max(problem.line, 1), len(lines)), []).append(problem.message)
    return [Line(number, line, by_line.get(number, [])) for number, line in enumerate(lines, 1)]


async def versions(session: AsyncSession, role: str) -> list[FlowVersionPublic]:
    rows = await session.exec(
        select(FlowVersion).where(FlowVersion.role == role).order_by(col(FlowVersion.version).desc())
    )
    return [
        FlowVersionPublic(
            id=row.id or 0, role=row.role, version=row.version, digest=row.digest, created_at=row.created_at
        )
        for row in rows.all()
    ]


async def latest_source(session: AsyncSession, role: str) -> FlowVersion | None:
    return (
        await session.exec(
            select(FlowVersion)
            .where(FlowVersion.role == role)
            .order_by(col(FlowVersion.version).desc())
            .limit(1)
        )
    ).first()
