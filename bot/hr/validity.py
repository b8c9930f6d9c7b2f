"""The data loop: hires, their later performance, and whether the interview predicted it.

* `hire`: HR mark a real interview's candidate hired and give the employee id they got in the HR
  system. Only its keyed hash is stored (`knowledge.ehr.pseudonymise` with the installation's id
  key: the hash `interviewer ehr import` gives the same id), so the performance rating imported
  later (an ``employees`` export, `bot.store.models.EmployeeRecord`) joins the interview.
* `validity_report`: per role, the correlation of the interview's scores (overall and per
  competency, the machine's) with that performance: Pearson's r with its 95% confidence interval
  (Fisher z: ``tanh(atanh(r) ± 1.96 / sqrt(n - 3))``), Spearman's rho, n; and the competency weights
  the role's employee records suggest (`bot.ehr.competency_model`, as `interviewer ehr weights`).
* `accept_weights`: publish the role's newest flow with those weights as a new version.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.catalog import FlowCatalog
from bot.ehr import competency_model
from bot.hr.accounts import candidate_ref, change, record
from bot.hr.auth import Principal
from bot.hr.flows import latest_source
from bot.hr.reports import NotFoundError
from bot.hr.workspace_schemas import CorrelationView, HirePublic, SuggestedWeight, ValidityReport
from bot.store.db import Database
from bot.store.models import EmployeeRecord, Hire, HrUser, Interview
from flows.schema import parse_flow
from knowledge.competency_model import apply_weights_to_flow_text
from knowledge.ehr import pseudonymise

MIN_N = 4
"""Fewer pairs give no correlation (Fisher's interval needs n > 3)."""
Z_95 = 1.959963984540054


async def hire(db: Database, key: bytes, who: Principal, interview_id: int, employee_id: str) -> HirePublic:
    """Record (or correct) the hire of a real interview's candidate; audited. Two at once for the
    same interview: the second one's transaction meets the first's row and corrects it.

    Raises:
        NotFoundError: no such real interview (practice sessions are not HR's to see).
        ValueError: the employee id is blank.
    """
    employee_id = employee_id.strip()
    if not employee_id:
        raise ValueError("the employee id is empty")
    employee_key = pseudonymise(employee_id, key)
    try:
        return await _hire(db, key, who, interview_id, employee_key)
    except IntegrityError:  # the same interview's hire stored by another request meanwhile
        return await _hire(db, key, who, interview_id, employee_key)


async def _hire(db: Database, key: bytes, who: Principal, interview_id: int, employee_key: str) -> HirePublic:
    async with db.write() as session:
        interview = await session.get(Interview, interview_id)
        if interview is None or interview.mode != "interview":
            raise NotFoundError(f"no interview {interview_id}")
        row = (await session.exec(select(Hire).where(Hire.interview_id == interview_id))).first()
        before = row.employee_key if row is not None else None
        if row is None:
            row = Hire(
                interview_id=interview_id,
                candidate_id=interview.candidate_id,
                role=interview.role,
                employee_key=employee_key,
                user_id=who.user_id,
            )
        else:
            row.employee_key = employee_key
            row.user_id = who.user_id
        session.add(row)
        await session.flush()
        ref = candidate_ref(key, interview.candidate_id)
        if before != employee_key:
            record(
                session,
                who.actor,
                "candidate.hired",
                target=f"interview:{interview_id}",
                candidate=(interview.candidate_id, ref),
                changes={"employee_key": change(before, employee_key)},
            )
        performance = (
            await session.exec(select(EmployeeRecord.performance).where(EmployeeRecord.key == employee_key))
        ).first()
        user = await session.get(HrUser, row.user_id) if row.user_id else None
        return HirePublic(
            interview_id=interview_id,
            role=row.role,
            candidate=ref,
            employee_key=employee_key,
            hired_by=user.email if user else who.name,
            created_at=row.created_at,
            performance=performance,
        )


async def hire_of(db: Database, key: bytes, interview_id: int) -> HirePublic | None:
    async with db.read() as session:
        found = (
            await session.exec(
                select(Hire, EmployeeRecord.performance, HrUser.email)
                .outerjoin(EmployeeRecord, col(EmployeeRecord.key) == col(Hire.employee_key))
                .outerjoin(HrUser, col(HrUser.id) == col(Hire.user_id))
                .where(Hire.interview_id == interview_id)
            )
        ).first()
    if found is None:
        return None
    row, performance, email = found
    return HirePublic(
        interview_id=row.interview_id,
        role=row.role,
        candidate=candidate_ref(key, row.candidate_id),
        employee_key=row.employee_key,
        hired_by=email,
        created_at=row.created_at,
        performance=performance,
    )


def correlate(measure: str, scores: Sequence[float], performance: Sequence[float]) -> CorrelationView:
    """Pearson's r with its 95% Fisher-z interval and p, and Spearman's rho, of paired values."""
    n = len(scores)
    if n < MIN_N:
        return CorrelationView(
            measure=measure,
            n=n,
            pearson=None,
            spearman=None,
            ci_low=None,
            ci_high=None,
            p_value=None,
            note=f"too few hires with a performance rating (n < {MIN_N})",
        )
    if len(set(scores)) < 2 or len(set(performance)) < 2:
        return CorrelationView(
            measure=measure,
            n=n,
            pearson=None,
            spearman=None,
            ci_low=None,
            ci_high=None,
            p_value=None,
            note="no variation",
        )
    from scipy import stats  # here: the server's processes need SciPy only for this report

    pearson = stats.pearsonr(scores, performance)
    r, p = float(pearson.statistic), float(pearson.pvalue)
    rho = float(stats.spearmanr(scores, performance).statistic)
    z = math.atanh(max(min(r, 0.999999), -0.999999))
    half = Z_95 / math.sqrt(n - 3)
    note = "few pairs: the interval is wide" if n < 30 else None
    return CorrelationView(
        measure=measure,
        n=n,
        pearson=round(r, 4),
        spearman=round(rho, 4),
        ci_low=round(math.tanh(z - half), 4),
        ci_high=round(math.tanh(z + half), 4),
        p_value=p,
        note=note,
    )


async def validity_report(db: Database, catalog: FlowCatalog, role: str) -> ValidityReport:
    """The role's interview scores against later performance, and the weights the data suggest.

    Raises:
        NotFoundError: the role has no published flow.
    """
    info = next((r for r in catalog.roles if r.role == role), None)
    if info is None:
        raise NotFoundError(f"no role {role!r}")
    flow = await catalog.flow(info.flow_version_id)
    async with db.read() as session:
        pairs = (
            await session.exec(
                select(Interview.results, EmployeeRecord.performance)
                .join(Hire, col(Hire.interview_id) == col(Interview.id))
                .outerjoin(EmployeeRecord, col(EmployeeRecord.key) == col(Hire.employee_key))
                .where(Hire.role == role, Interview.mode == "interview")
                .order_by(col(Hire.id))
            )
        ).all()
    hires = len(pairs)
    rated = [(results or {}, float(perf)) for results, perf in pairs if perf is not None]
    measures: list[CorrelationView] = []
    overall = [(r["overall"], p) for r, p in rated if r.get("overall") is not None]
    measures.append(correlate("overall", [s for s, _ in overall], [p for _, p in overall]))
    for competency in flow.competencies:
        paired = [
            (float(r["competencies"][competency.id]["level"]), p)
            for r, p in rated
            if (r.get("competencies") or {}).get(competency.id, {}).get("level") is not None
        ]
        measures.append(correlate(competency.id, [s for s, _ in paired], [p for _, p in paired]))
    model = await competency_model(db, flow)
    suggested = model.as_flow_weights()
    weights = [
        SuggestedWeight(
            competency=c,
            current=round(model.hr_weights[c], 6),
            suggested=suggested[c],
            r=model.correlations[c].r,
            n=model.n[c],
            basis=model.correlations[c].basis,
        )
        for c in model.hr_weights
    ]
    notes = list(model.notes)
    notes.append(
        "the suggestion shrinks the data toward the flow's current weights: after accepting it, the "
        "next suggestion starts from the accepted weights, so accept once per new export, not repeatedly"
    )
    if hires and not rated:
        notes.insert(0, "no performance ratings yet for the hires: import an employees export")
    return ValidityReport(
        role=role,
        hires=hires,
        with_performance=len(rated),
        correlations=measures,
        employees=model.employees,
        weights=weights,
        weights_differ=any(abs(flow.weights[c] - suggested[c]) > 1e-9 for c in suggested),
        notes=notes,
        report=model.report(),
    )


async def weighted_text(db: Database, role: str) -> tuple[str, dict[str, float], dict[str, float]]:
    """The role's newest flow text with the suggested weights in place, the old and new weights.

    Raises:
        NotFoundError: no flow for the role.
    """
    async with db.read() as session:
        latest = await latest_source(session, role)
    if latest is None:
        raise NotFoundError(f"no flow for role {role!r}")
    flow = parse_flow(latest.source, f"{role}.yml").flow
    model = await competency_model(db, flow)
    weights = model.as_flow_weights()
    return apply_weights_to_flow_text(latest.source, weights), dict(flow.weights), weights
