from __future__ import annotations

import json

import pytest

from scoring.aggregate import aggregate
from scoring.scorer import Evidence, ScoreResult


def result(
    competency: str, level: float | None, confidence: float = 0.8, insufficient: str | None = None
) -> ScoreResult:
    rounded = None if level is None else round(level)
    return ScoreResult("q", competency, level, rounded, confidence, insufficient, Evidence(), "model", "v1")


def test_weights_renormalise_over_assessed_competencies() -> None:
    scores = {
        "teamwork": [result("teamwork", 4.0), result("teamwork", 2.0)],
        "skills": [result("skills", 5.0), None],
        "leadership": [None, result("leadership", None, 0.0, "empty")],
    }
    interview = aggregate(scores, {"teamwork": 0.5, "skills": 0.25, "leadership": 0.25})
    assert interview.unassessed == ["leadership"]
    assert interview.weights == pytest.approx({"skills": 1 / 3, "teamwork": 2 / 3})
    assert interview.competencies["teamwork"].level == pytest.approx(3.0)
    assert interview.competencies["skills"].answers == 1 and interview.competencies["skills"].skipped == 1
    assert interview.overall == pytest.approx(2 / 3 * 3.0 + 1 / 3 * 5.0)
    assert interview.match == pytest.approx((interview.overall - 1) / 4)
    json.dumps(interview.to_dict())


def test_confidence_weights_answers_within_a_competency() -> None:
    interview = aggregate({"t": [result("t", 5.0, 0.9), result("t", 1.0, 0.1)]}, {"t": 1.0})
    assert interview.competencies["t"].level == pytest.approx((0.9 * 5 + 0.1 * 1) / 1.0)


def test_nothing_assessed() -> None:
    interview = aggregate({"t": [None]}, {"t": 0.6, "s": 0.4})
    assert interview.overall is None and interview.match is None
    assert interview.unassessed == ["s", "t"] and interview.competencies == {}
