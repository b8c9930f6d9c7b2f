"""A candidate's progress across their practice sessions: competency levels over time, per role.

Read from each practice session's results (the per-competency levels `bot.scoring.update_results`
keeps, from the latest attempt of each question). Real interviews are never included: their
results are HR's to review, and a candidate's practice is theirs alone.

The same JSON-ready shape serves the bot's text reply (`action_show_progress`) and the web chat's
chart (``GET /chat/progress``)::

    {"roles": [{"role": "sales_manager",
                "title": {"en": "Sales Manager", "zh": "销售经理"},
                "competencies": [{"id": "customer_focus", "name": {"en": ..., "zh": ...}}, ...],
                "sessions": [{"number": 1, "date": "2026-11-20", "started_at": "...",
                              "complete": true, "overall": 3.2,
                              "levels": {"customer_focus": 3.5, ...}}, ...]}]}

``sessions`` are oldest first; a competency a session did not assess is missing from its
``levels``. Levels are on the rubric's 1..5 scale, rounded to one decimal.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.catalog import FlowCatalog
from bot.store.models import Interview


async def practice_progress(session: AsyncSession, catalog: FlowCatalog, candidate_id: int) -> dict[str, Any]:
    """The candidate's scored practice sessions, grouped by role (roles in order of first practice)."""
    interviews = (
        await session.exec(
            select(Interview)
            .where(Interview.candidate_id == candidate_id, Interview.mode == "practice")
            .order_by(col(Interview.created_at), col(Interview.id))
        )
    ).all()
    roles: dict[str, dict[str, Any]] = {}
    for interview in interviews:
        results = interview.results or {}
        levels = {
            competency: round(float(value["level"]), 1)
            for competency, value in (results.get("competencies") or {}).items()
            if value.get("level") is not None
        }
        if not levels:
            continue
        flow = await catalog.flow(interview.flow_version_id, session)
        entry = roles.setdefault(interview.role, {"role": interview.role, "competencies": [], "sessions": []})
        # Names come from the newest session's flow version (HR may have renamed a competency).
        entry["title"] = dict(flow.title)
        known = {c["id"]: c for c in entry["competencies"]}
        for competency in flow.competencies:
            if competency.id in known:
                known[competency.id]["name"] = dict(competency.name)
            else:
                entry["competencies"].append({"id": competency.id, "name": dict(competency.name)})
        overall = results.get("overall")
        entry["sessions"].append(
            {
                "number": len(entry["sessions"]) + 1,
                "date": interview.created_at.date().isoformat(),
                "started_at": interview.created_at.isoformat(),
                "complete": interview.state == "done",
                "overall": None if overall is None else round(float(overall), 1),
                "levels": levels,
            }
        )
    for entry in roles.values():
        assessed = {c for s in entry["sessions"] for c in s["levels"]}
        entry["competencies"] = [c for c in entry["competencies"] if c["id"] in assessed]
    return {"roles": list(roles.values())}
