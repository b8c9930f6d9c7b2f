"""The shipped sample roles: for every question, a held-out level-5 exemplar outscores a level-1 one."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import ROOT
from flows.schema import load_flow_file
from knowledge.ehr import read_export, role_schemas
from language.embeddings import load_embedder
from language.vector_cache import CachedEmbedder
from scoring.records import Exemplar, questions_from_flow
from scoring.scorer import Scorer

SAMPLES = {
    "sales_manager": ("sales_manager_exemplars.csv", "minilm"),
    "rd_engineer": ("rd_engineer_exemplars.json", "e5"),
}


@pytest.mark.parametrize("role", sorted(SAMPLES))
def test_strong_answers_outscore_weak_ones_on_every_question(role: str) -> None:
    file_name, model = SAMPLES[role]
    flow = load_flow_file(ROOT / "dialogues" / "flows" / f"{role}.yml").flow
    result = read_export(ROOT / "dialogues" / "ehr" / file_name, id_key=b"t" * 32, known=role_schemas([flow]))
    assert not result.problems
    exemplars = [
        Exemplar(
            id=r.key, question_id=r.question_id or "", competency=r.competency, text=r.text, rating=r.rating
        )
        for r in result.exemplars
    ]
    held_out: dict[str, tuple[Exemplar, Exemplar]] = {}
    for question in flow.questions:
        own = [e for e in exemplars if e.question_id == question.id]
        held_out[question.id] = (
            next(e for e in own if e.rating == 5 and e.source == "past_interview"),
            next(e for e in own if e.rating == 1),
        )
    kept = {e.id for pair in held_out.values() for e in pair}
    embedder = CachedEmbedder(load_embedder(model), ROOT / "var" / "cache" / "embeddings")
    scorer = Scorer(
        embedder, questions_from_flow(flow, flow.languages[0]), [e for e in exemplars if e.id not in kept]
    )
    for question_id, (strong, weak) in held_out.items():
        high, low = scorer.score(question_id, strong.text), scorer.score(question_id, weak.text)
        assert high.level is not None, (question_id, high.insufficient)
        # A weak answer may be too thin to score at all; that is never a higher score.
        assert low.level is None or high.level > low.level, (question_id, high.level, low.level)


def test_sample_flow_reference_answers_score_at_the_top() -> None:
    flow = load_flow_file(Path(ROOT / "dialogues" / "flows" / "sales_manager.yml")).flow
    result = read_export(
        ROOT / "dialogues" / "ehr" / "sales_manager_exemplars.csv",
        id_key=b"t" * 32,
        known=role_schemas([flow]),
    )
    exemplars = [
        Exemplar(
            id=r.key, question_id=r.question_id or "", competency=r.competency, text=r.text, rating=r.rating
        )
        for r in result.exemplars
    ]
    embedder = CachedEmbedder(load_embedder("minilm"), ROOT / "var" / "cache" / "embeddings")
    scorer = Scorer(embedder, questions_from_flow(flow, "en"), exemplars)
    for question in flow.questions:
        level = scorer.score(question.id, question.reference_answers[0]["en"]).level
        assert level is not None and level >= 4, (question.id, level)
