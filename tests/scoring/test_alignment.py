"""The soft alignment (BERTScore) of an answer with the reference answers, on the real MiniLM."""

from __future__ import annotations

import numpy as np

from language.embeddings import Embedder, load_embedder, token_states
from scoring import features as sf
from scoring.features import FeatureSet, build_context
from scoring.records import Exemplar
from scoring.scorer import Scorer
from tests.scoring.conftest import CONFLICT, DEADLINE, teamwork_exemplars

QUESTION = "Explain why you got a voltage reading of 1.5 for terminal 1 and the positive terminal."
REFERENCES = [
    "Terminal 1 and the positive terminal are separated by the gap",
    "Terminal 1 and the positive terminal are not connected",
]


def _context(minilm: Embedder) -> sf.QuestionContext:
    states = token_states(minilm, [QUESTION, *REFERENCES])
    assert states is not None
    return build_context(
        exemplar_texts=[],
        exemplar_vectors=np.zeros((0, minilm.dim), dtype=np.float32),
        exemplar_ratings=[],
        exemplar_classes=[],
        n_classes=3,
        reference_texts=REFERENCES,
        reference_vectors=minilm.encode(REFERENCES, "query"),
        anchor_vectors=np.zeros((0, minilm.dim), dtype=np.float32),
        anchor_values=[],
        question_text=QUESTION,
        question_vector=minilm.encode([QUESTION], "query")[0],
        reference_tokens=states[1:],
        question_tokens=states[0],
    )


def test_a_paraphrase_aligns_better_than_the_question_said_back(minilm: Embedder) -> None:
    context = _context(minilm)
    answers = [
        "The positive battery terminal is separated by a gap from terminal 1",  # right, in other words
        "I got a voltage reading of 1.5 for terminal 1 and the positive terminal",  # the question back
        "Because the bulb is bright and the switch is closed",  # wrong
    ]
    states = token_states(minilm, answers)
    rows = sf.soft_alignment(states or [], context.reference_tokens, context.question_token_ids)
    named = dict(zip(sf.ALIGN_NAMES, rows.T, strict=True))
    assert named["align_f1"][0] > named["align_f1"][1] and named["align_f1"][0] > named["align_f1"][2]
    assert named["align_recall"][0] > 0.8
    for column in rows.T:
        assert ((column >= -1.0) & (column <= 1.0)).all()
    assert (named["align_recall_max"] >= named["align_recall"]).all()
    # in the feature row of a question without exemplars; zeros without the answers' states
    bare = FeatureSet(n_classes=3, exemplars=False)
    vectors = minilm.encode(answers, "query")
    with_states = sf.answer_features(context, bare, answers, vectors, answer_tokens=states)
    without = sf.answer_features(context, bare, answers, vectors)
    start = bare.names().index("align_precision")
    assert np.allclose(with_states[:, start : start + len(sf.ALIGN_NAMES)], rows)
    assert not without[:, start : start + len(sf.ALIGN_NAMES)].any()
    assert np.array_equal(with_states[:, :start], without[:, :start])


def test_question_pieces_function_words_and_punctuation_weigh_less(minilm: Embedder) -> None:
    context = _context(minilm)
    (states,) = token_states(minilm, ["The terminal is not connected, because of the gap."]) or []
    weights = dict(zip(states.tokens, sf.alignment_weights(states, context.question_token_ids), strict=True))
    assert weights["[CLS]"] == weights["[SEP]"] == weights[","] == weights["."] == 0.0
    assert weights["gap"] == 1.0 and weights["connected"] == 1.0
    assert weights["not"] == 1.0  # a negation keeps its weight
    assert weights["because"] == sf.ALIGN_FUNCTION_WEIGHT
    assert weights["terminal"] == sf.ALIGN_QUESTION_WEIGHT  # the question's word
    assert weights["the"] == sf.ALIGN_FUNCTION_WEIGHT * sf.ALIGN_QUESTION_WEIGHT


def test_an_engine_without_token_states_leaves_the_columns_at_zero() -> None:
    e5 = load_embedder("e5")
    assert token_states(e5, ["顺序表的存储空间连续"]) is None
    rows = sf.soft_alignment([None], (), frozenset())
    assert rows.shape == (1, len(sf.ALIGN_NAMES)) and not rows.any()


def test_the_scorer_aligns_answers_to_questions_without_exemplars(minilm: Embedder) -> None:
    scorer = Scorer(minilm, [CONFLICT, DEADLINE], teamwork_exemplars())
    prepared = scorer._questions["conflict"]
    assert len(prepared.reference_tokens) == len(CONFLICT.reference_answers) == 1
    assert not scorer._questions["deadline"].reference_tokens  # no reference answer: nothing to align
    alone = scorer._context(prepared, scorer._no_pool)
    assert alone.reference_tokens and alone.question_token_ids
    # the exemplars' rows without exemplars carry the alignment, and are computed once each
    bare = scorer._bare.names().index("align_f1")
    rows = scorer._bare_cache["conflict"]
    assert len(rows) == sum(e.question_id == "conflict" for e in teamwork_exemplars())
    assert all(0.0 < row[bare] <= 1.0 for row in rows.values())
    before = dict(rows)
    late = Exemplar("new", "conflict", "teamwork", "I listened to both sides and we agreed.", 4)
    scorer.add_exemplars([late])
    assert set(rows) == {*before, late.text} and all(rows[k] is before[k] for k in before)
