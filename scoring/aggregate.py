"""Combine one interview's answer scores into competency scores and an overall weighted match."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from scoring.records import level_to_normalized
from scoring.scorer import ScoreResult, json_safe

MIN_WEIGHT = 0.1
"""An answer's weight within its competency is its confidence, but never less than this."""


@dataclass(frozen=True)
class CompetencyScore:
    competency: str
    level: float
    """Confidence-weighted mean of the assessed answers' levels (1..5)."""
    confidence: float
    answers: int
    """Assessed answers behind this score."""
    skipped: int
    """Answers skipped or found insufficient."""


@dataclass(frozen=True)
class InterviewScore:
    competencies: dict[str, CompetencyScore]
    overall: float | None
    """Weighted mean level (1..5) over assessed competencies; None when none was assessed."""
    match: float | None
    """``overall`` on 0..1."""
    weights: dict[str, float]
    """The weights actually used: the flow's, renormalised over assessed competencies."""
    unassessed: list[str] = field(default_factory=list)
    """Weighted competencies with no assessed answer (all skipped or insufficient)."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json_safe(asdict(self))
        return data


def aggregate(
    scores: Mapping[str, Sequence[ScoreResult | None]], weights: Mapping[str, float]
) -> InterviewScore:
    """Per-competency and overall scores of one interview.

    Args:
        scores: answer scores by competency; ``None`` marks a skipped question. Insufficient
            answers count as skipped.
        weights: the flow's competency weights (need not sum to 1).
    """
    competencies: dict[str, CompetencyScore] = {}
    for competency, results in scores.items():
        assessed = [r for r in results if r is not None and r.assessed and r.level is not None]
        if not assessed:
            continue
        trust = [max(r.confidence, MIN_WEIGHT) for r in assessed]
        level = sum(t * (r.level or 0.0) for t, r in zip(trust, assessed, strict=True)) / sum(trust)
        competencies[competency] = CompetencyScore(
            competency=competency,
            level=level,
            confidence=sum(r.confidence for r in assessed) / len(assessed),
            answers=len(assessed),
            skipped=len(results) - len(assessed),
        )
    unassessed = sorted(c for c, w in weights.items() if w > 0 and c not in competencies)
    total = sum(w for c, w in weights.items() if c in competencies and w > 0)
    used = {c: w / total for c, w in sorted(weights.items()) if c in competencies and w > 0} if total else {}
    overall = sum(used[c] * competencies[c].level for c in used) if used else None
    return InterviewScore(
        competencies=competencies,
        overall=overall,
        match=None if overall is None else level_to_normalized(overall),
        weights=used,
        unassessed=unassessed,
    )
