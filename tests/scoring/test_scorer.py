from __future__ import annotations

import json

import numpy as np
import pytest

from language.embeddings import Embedder
from scoring.records import Exemplar
from scoring.scorer import Scorer, ScorerConfig
from tests.scoring.conftest import CONFLICT, DEADLINE, PYTHON, teamwork_exemplars


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("ok sure", "too short"),
        ("我们两个人一起开会讨论，最后达成了妥协，项目按时完成。", "language"),
        ("12345 678 !!! ??? 42 %%% 99", "unreadable"),
        ("The weather in Paris is lovely in spring and the croissants are great.", "off-topic"),
    ],
)
def test_insufficient_answers_get_a_reason_not_a_score(scorer: Scorer, answer: str, reason: str) -> None:
    result = scorer.score("conflict", answer)
    assert result.insufficient is not None and result.insufficient.startswith(reason)
    assert result.level is None and result.rounded_level is None and not result.assessed
    assert result.confidence == 0.0


def test_min_words_is_configurable(minilm: Embedder) -> None:
    lenient = Scorer(minilm, [CONFLICT], config=ScorerConfig(min_words=1))
    assert lenient.insufficient_reason("compromise") is None
    assert Scorer(minilm, [CONFLICT]).insufficient_reason("compromise") is not None


def test_strong_answer_outscores_weak_answer(scorer: Scorer) -> None:
    strong = scorer.score(
        "conflict",
        "Two colleagues disagreed about the release plan. I listened to both sides in a meeting, we agreed "
        "a compromise and delivered on time.",
    )
    weak = scorer.score("conflict", "It was not my problem, I blamed them and ignored the whole thing.")
    assert strong.assessed and weak.assessed
    assert strong.level is not None and weak.level is not None
    assert 1.0 <= weak.level < strong.level <= 5.0
    assert strong.level - weak.level >= 1.5
    assert strong.rounded_level == round(strong.level)


def test_evidence_explains_the_score(scorer: Scorer) -> None:
    answer = "I listened to both sides, we agreed a compromise and the project shipped on time."
    result = scorer.score("conflict", answer, flow_version="flow-sha-123")
    evidence = result.evidence
    assert result.model_id == scorer.embedder.model_id and "MiniLM" in result.model_id
    assert result.flow_version == "flow-sha-123"
    assert evidence.pool == "question"
    assert evidence.method == "knn"  # 18 exemplars: too few to fit a stacker (see test below)
    ids = [e.id for e in evidence.exemplars]
    assert len(ids) == 5 and len(set(ids)) == 5
    assert all(e.question_id == "conflict" for e in evidence.exemplars)
    sims = [e.similarity for e in evidence.exemplars]
    assert sims == sorted(sims, reverse=True)
    assert evidence.exemplars[0].id.startswith("s")  # the nearest exemplar is a strong answer
    assert evidence.anchor_level in CONFLICT.anchors
    covered = {t.text for t in evidence.talking_points_covered}
    missed = {t.text for t in evidence.talking_points_missed}
    assert covered | missed == set(CONFLICT.talking_points) and not covered & missed
    assert {"listened to both sides", "agreed a compromise"} <= covered
    assert 0.0 < result.confidence <= 1.0
    data = json.loads(json.dumps(result.to_dict()))
    assert data["evidence"]["exemplars"][0]["id"] == ids[0]
    assert data["level"] == result.level and data["insufficient"] is None


def test_given_vector_is_used_instead_of_embedding_again(scorer: Scorer, minilm: Embedder) -> None:
    answer = "I listened to both sides and we agreed a compromise that kept the project on schedule."
    vector = minilm.encode([answer], "query")[0]
    with_vector = scorer.score("conflict", answer, vector)
    without = scorer.score("conflict", answer)
    assert with_vector.level == pytest.approx(without.level, abs=1e-3)
    # a different vector changes the result: the text is not re-embedded
    other = minilm.encode(["I blamed everyone and walked away."], "query")[0]
    assert scorer.score("conflict", answer, other).evidence.exemplars[0].id.startswith("w")


def test_question_with_few_exemplars_falls_back_to_its_competency(scorer: Scorer) -> None:
    result = scorer.score(
        "deadline", "We cut scope, split the tasks and told the client early; we delivered on time."
    )
    assert result.assessed and result.evidence.pool == "competency"
    assert {e.question_id for e in result.evidence.exemplars} <= {"conflict", "deadline"}


def test_question_without_any_exemplar_is_scored_from_its_rubric(scorer: Scorer) -> None:
    result = scorer.score("python", "I write unit tests with pytest, run mypy and ask for code review.")
    assert result.assessed and result.evidence.pool == "none" and result.evidence.exemplars == []
    assert result.evidence.anchor_level == 5
    assert result.confidence <= 0.5


def test_exemplars_can_be_added_later(minilm: Embedder) -> None:
    scorer = Scorer(minilm, [CONFLICT, DEADLINE, PYTHON], teamwork_exemplars())
    answer = "I review my Python with unit tests, type hints checked by mypy and a colleague's review."
    assert scorer.score("python", answer).evidence.pool == "none"
    extra = [
        Exemplar(f"p{i}", "python", "skills", text, rating)
        for i, (text, rating) in enumerate(
            [
                ("I write unit tests and run them in CI, plus mypy and code review.", 5),
                ("I test by hand sometimes.", 2),
                ("I don't test, the users will tell me.", 1),
                ("Pytest for units, hypothesis for properties, and reviews on every merge request.", 5),
                ("I print values to check them.", 2),
                ("Type checking and a test suite that runs on every commit.", 4),
                ("Tests are for QA, not for me.", 1),
                ("I write a few tests for the tricky parts and lint the code.", 3),
            ]
        )
    ]
    assert scorer.add_exemplars(extra) == 8
    assert scorer.add_exemplars(extra[:2]) == 0  # re-importing is harmless
    assert len(scorer.index) == len(teamwork_exemplars()) + 8
    result = scorer.score("python", answer)
    assert result.evidence.pool == "question" and result.evidence.exemplars[0].id.startswith("p")
    assert result.evidence.method == "stacker"
    assert result.level is not None and result.level >= 3.5


def test_score_many_matches_score(scorer: Scorer) -> None:
    answers = [
        "I listened to both sides and we agreed a compromise that kept the project on time.",
        "",
        "It was their fault and I ignored them.",
    ]
    batch = scorer.score_many("conflict", answers)
    assert [r.insufficient is None for r in batch] == [True, False, True]
    for answer, result in zip(answers, batch, strict=True):
        single = scorer.score("conflict", answer)
        assert single.insufficient == result.insufficient
        if single.level is not None:
            assert result.level == pytest.approx(single.level, abs=1e-3)


def test_unknown_question_is_a_clear_error(scorer: Scorer) -> None:
    with pytest.raises(KeyError, match="unknown question"):
        scorer.score("nope", "some answer text here")


def test_exemplar_rating_must_lie_on_its_scale() -> None:
    with pytest.raises(ValueError, match="outside its scale"):
        Exemplar("x", "q", "c", "text", 7)
    assert Exemplar("x", "q", "c", "text", 7, scale_max=10, scale_min=0).normalized == pytest.approx(0.7)
    assert np.isclose(Exemplar("y", "q", "c", "t", 3).level, 3.0)
