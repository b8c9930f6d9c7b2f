"""The per-answer fast path computes what the previous sklearn/scipy path computed.

Scoring an answer used to call sklearn's ``TfidfVectorizer.transform``, scipy sparse products
against the question's matrices and sklearn's ``predict``/``predict_proba``; those are replaced by
`Lexicon.encode`, `QuestionContext.match` and the linear models' coefficients. The reference
implementation below is the previous code, kept verbatim (bar names), so the equivalence stays
checked: every feature must agree to 1e-9.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge

from language.embeddings import Embedder
from scoring import features as sf
from scoring.features import FeatureSet, FloatArray, IntArray, Lexicon, QuestionContext, build_context
from scoring.scorer import Scorer
from scoring.stacker import (
    PAIR_C,
    LabelStacker,
    LinearModel,
    PairModel,
    RatingStacker,
    linear_predict,
    logistic_proba,
)
from tests.scoring.conftest import CONFLICT, DEADLINE, PYTHON, STRONG, WEAK, teamwork_exemplars

REFERENCES = [
    "Two engineers disagreed about a design. I met each of them, listened to both sides; we agreed a "
    "compromise and shipped on time.",
    "我先分别听取双方的意见，然后组织会议，最后达成妥协，项目按时完成。",
]
ANSWERS = [
    *STRONG,
    *WEAK,
    "我们两个人一起开会讨论，最后达成了妥协，项目按时完成。",
    "I listened  to both sides\tand we agreed a COMPROMISE; Café déjà-vu!",
    "xyzzy qqq",  # no known n-gram but the padding spaces
    "",
    "the the the the the",
]


def _unit(rng: np.random.Generator, n: int, dim: int = 16) -> FloatArray:
    vectors = rng.normal(size=(n, dim))
    out: FloatArray = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    return out


def _exemplar_texts(n: int) -> list[str]:
    base = STRONG + WEAK
    return [f"{t} ({i})" if i >= len(base) else t for i, t in enumerate(base * 3)][:n]


def _context(n_exemplars: int, anchors: int = 3, seed: int = 0) -> tuple[QuestionContext, FloatArray]:
    rng = np.random.default_rng(seed)
    texts = _exemplar_texts(n_exemplars)
    ratings = [(i * 7 % 5) / 4 for i in range(len(texts))]
    context = build_context(
        exemplar_texts=texts,
        exemplar_vectors=_unit(rng, len(texts)),
        exemplar_ratings=ratings,
        exemplar_classes=[min(int(r * 3), 2) for r in ratings],
        n_classes=3,
        reference_texts=REFERENCES,
        reference_vectors=_unit(rng, len(REFERENCES)),
        anchor_vectors=_unit(rng, anchors),
        anchor_values=list(np.linspace(0, 1, anchors)),
        question_text=CONFLICT.text,
        question_vector=_unit(rng, 1)[0],
        extra_texts=CONFLICT.talking_points,
        talking_points=CONFLICT.talking_points,
    )
    return context, _unit(rng, len(ANSWERS))


# ---- the previous implementation (scipy sparse products, sklearn transform) -------------------


def _old_softmax_rows(sims: FloatArray, temperature: float) -> FloatArray:
    finite = np.isfinite(sims)
    top = np.where(finite, sims, -np.inf).max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    weights = np.where(finite, np.exp((np.where(finite, sims, 0.0) - top) / temperature), 0.0)
    total = weights.sum(axis=1, keepdims=True)
    out: FloatArray = weights / np.where(total > 0, total, 1.0)
    return out


def _old_topk_mask(sims: FloatArray, k: int) -> Any:
    n, m = sims.shape
    mask = np.zeros((n, m), dtype=bool)
    if m == 0:
        return mask
    k = min(k, m)
    idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    np.put_along_axis(mask, idx, True, axis=1)
    return mask & np.isfinite(sims)


def _old_exemplar_block(ctx: QuestionContext, sims: FloatArray) -> dict[str, FloatArray]:
    ratings, classes = ctx.exemplar_ratings, ctx.exemplar_classes
    n = sims.shape[0]
    out: dict[str, FloatArray] = {}
    finite = np.isfinite(sims)
    available = finite.any(axis=1)
    safe = np.where(finite, sims, -1.0)
    top_mask = _old_topk_mask(np.where(finite, sims, -np.inf), sf.KNN_K)
    masked = np.where(top_mask, sims, -np.inf)
    w_top = _old_softmax_rows(masked, sf.KNN_TEMPERATURE)
    w_sharp = _old_softmax_rows(masked, sf.SHARP_TEMPERATURE)
    w_all = _old_softmax_rows(np.where(finite, sims, -np.inf), sf.KNN_TEMPERATURE / 2)
    mean_rating = float(ratings.mean()) if len(ratings) else 0.5
    out["knn_rating"] = np.where(available, w_top @ ratings, mean_rating)
    out["knn_rating_all"] = np.where(available, w_all @ ratings, mean_rating)
    out["knn_rating_sharp"] = np.where(available, w_sharp @ ratings, mean_rating)
    best = safe.argmax(axis=1) if safe.shape[1] else np.zeros(n, dtype=np.int64)
    out["top1_sim"] = np.where(available, safe.max(axis=1, initial=-1.0), 0.0)
    out["top1_rating"] = np.where(available, ratings[best] if len(ratings) else mean_rating, mean_rating)
    k3 = min(3, safe.shape[1])
    top3 = -np.sort(-safe, axis=1)[:, :k3] if k3 else np.zeros((n, 1))
    out["top3_sim_mean"] = top3.mean(axis=1)
    for c in range(ctx.n_classes):
        in_class = classes == c
        out[f"knn_vote_c{c}"] = w_top[:, in_class].sum(axis=1) if in_class.any() else np.zeros(n)
        out[f"max_sim_c{c}"] = safe[:, in_class].max(axis=1) if in_class.any() else np.zeros(n)
    return out


def _old_answer_features(
    ctx: QuestionContext,
    features: FeatureSet,
    answer_texts: Sequence[str],
    answer_vectors: FloatArray,
    exemplar_texts: Sequence[str],
    exemplar_sims: FloatArray | None = None,
    exclude: IntArray | None = None,
) -> FloatArray:
    lexicon = ctx.lexicon
    points: list[str] = [p for r in ctx.reference_texts for p in sf.split_points(r)]
    exemplar_lex = lexicon.tfidf(exemplar_texts)
    reference_lex = lexicon.tfidf(ctx.reference_texts)
    reference_weights = lexicon.weights(ctx.reference_texts)
    point_weights = lexicon.weights(points)
    question_presence = lexicon.presence([ctx.question_text])
    n = len(answer_texts)
    answer_lex = lexicon.tfidf(answer_texts)
    cols: list[FloatArray] = []
    if features.exemplars:
        assert exemplar_sims is not None
        sims = np.array(exemplar_sims, dtype=np.float64)
        lex_sims = np.asarray((answer_lex @ exemplar_lex.T).todense(), dtype=np.float64)
        named = sf._ridge_block(ctx, sims, lex_sims, exclude)
        if exclude is not None:
            rows = np.flatnonzero(exclude >= 0)
            sims[rows, exclude[rows]] = -np.inf
            lex_sims[rows, exclude[rows]] = -np.inf
        named.update(_old_exemplar_block(ctx, sims))
        named.update({f"lex_{k}": v for k, v in _old_exemplar_block(ctx, lex_sims).items()})
        cols += [named[name] for name in features.exemplar_names()]
    ref_sims = (answer_vectors @ ctx.reference_vectors.T).astype(np.float64)
    ref_max = ref_sims.max(axis=1)
    lengths = np.array([math.log1p(sf.count_tokens(t)) for t in answer_texts])
    if features.exemplars:
        valid = np.isfinite(sims)
        pool_ref = np.where(valid, ctx.exemplar_ref_sims[np.newaxis, :], np.nan)
        pool_len = np.where(valid, ctx.exemplar_lengths[np.newaxis, :], np.nan)
        with np.errstate(invalid="ignore", divide="ignore"), sf._quiet_nan():
            ref_mu, ref_sd = np.nanmean(pool_ref, axis=1), np.nanstd(pool_ref, axis=1)
            len_mu, len_sd = np.nanmean(pool_len, axis=1), np.nanstd(pool_len, axis=1)
        cols.append(np.nan_to_num((ref_max - ref_mu) / np.maximum(ref_sd, 0.02)))
        cols.append(np.nan_to_num((lengths - len_mu) / np.maximum(len_sd, 0.1)))
    cols.append(ref_max)
    cols.append(ref_sims.mean(axis=1))
    cols.append(np.asarray((answer_lex @ reference_lex.T).max(axis=1).todense()).ravel())
    presence = answer_lex.copy()
    presence.data[:] = 1.0
    ref_total = np.asarray(reference_weights.sum(axis=1)).ravel()
    hit = np.asarray((presence @ reference_weights.T).todense())
    recall = hit / np.maximum(ref_total[np.newaxis, :], 1e-9)
    cols.append(recall.max(axis=1))
    answer_weight = np.asarray(presence.multiply(lexicon.idf[np.newaxis, :]).sum(axis=1)).ravel()
    cols.append((hit / np.maximum(answer_weight[:, np.newaxis], 1e-9)).max(axis=1))
    point_total = np.asarray(point_weights.sum(axis=1)).ravel()
    point_recall = np.asarray((presence @ point_weights.T).todense()) / np.maximum(
        point_total[np.newaxis, :], 1e-9
    )
    best_mean = np.zeros(n)
    best_share = np.zeros(n)
    for ref in range(reference_lex.shape[0]):
        own = ctx.point_owner == ref
        if own.any():
            best_mean = np.maximum(best_mean, point_recall[:, own].mean(axis=1))
            best_share = np.maximum(best_share, (point_recall[:, own] >= 0.5).mean(axis=1))
    cols += [best_mean, best_share]
    cols.append((answer_vectors @ ctx.question_vector).astype(np.float64))
    answer_grams = np.maximum(np.asarray(presence.sum(axis=1)).ravel(), 1.0)
    cols.append(np.asarray((presence @ question_presence.T).todense()).ravel() / answer_grams)
    cols.append(lengths)
    ref_len = max((math.log1p(sf.count_tokens(t)) for t in ctx.reference_texts), default=1.0)
    cols.append(lengths - ref_len)
    ref_neg = any(sf.has_negation(t) for t in ctx.reference_texts)
    cols.append(np.array([float(sf.has_negation(t) != ref_neg) for t in answer_texts]))
    if not features.exemplars:  # added after the fast path; plain Python sets either way
        cols += list(sf.demoted_overlap(ctx, answer_texts).T)
        cols += [np.zeros(n)] * len(sf.ALIGN_NAMES)  # no token states given
    if features.anchors:
        anchor_sims = (answer_vectors @ ctx.anchor_vectors.T).astype(np.float64)
        weights = _old_softmax_rows(anchor_sims, sf.KNN_TEMPERATURE)
        cols.append(weights @ ctx.anchor_values)
        cols.append(ctx.anchor_values[anchor_sims.argmax(axis=1)])
        cols.append(anchor_sims.max(axis=1))
    out = np.column_stack(cols)
    return np.nan_to_num(out.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)


# ---- the checks --------------------------------------------------------------------------------


def test_encode_equals_sklearn_transform() -> None:
    lexicon = Lexicon.fit([*STRONG, *REFERENCES, CONFLICT.text])
    expected = lexicon.tfidf(ANSWERS).toarray()
    batch = lexicon.encode(ANSWERS)
    assert np.abs(batch.to_sparse().toarray() - expected).max() < 1e-9
    for i, text in enumerate(ANSWERS):  # one at a time, as `Scorer.score` calls it
        assert np.abs(lexicon.encode([text]).to_sparse().toarray()[0] - expected[i]).max() < 1e-9
    assert len(lexicon.encode([])) == 0


def test_match_equals_sparse_products() -> None:
    context, _ = _context(20)
    lexicon = context.lexicon
    answers = ANSWERS * 3  # more than one dense slice (LEX_CHUNK rows)
    assert len(answers) > sf.LEX_CHUNK
    sparse_rows = lexicon.tfidf(answers)
    presence = sparse_rows.copy()
    presence.data[:] = 1.0
    match = context.match(lexicon.encode(answers))
    cosines = (sparse_rows @ lexicon.tfidf([*_exemplar_texts(20), *REFERENCES]).T).toarray()
    assert np.abs(match.cosines - cosines).max() < 1e-9
    points = [p for r in REFERENCES for p in sf.split_points(r)]
    weights = [
        lexicon.weights(REFERENCES),
        lexicon.weights(points),
        lexicon.presence([CONFLICT.text]),
        lexicon.weights(CONFLICT.talking_points),
    ]
    shared = np.hstack([(presence @ w.T).toarray() for w in weights])
    assert np.abs(match.shared - shared).max() < 1e-9
    idf_sum = np.asarray(presence.multiply(lexicon.idf[np.newaxis, :]).sum(axis=1)).ravel()
    assert np.abs(match.weight - idf_sum).max() < 1e-9
    assert np.array_equal(match.grams, np.asarray(presence.sum(axis=1)).ravel())


@pytest.mark.parametrize("loo", [False, True])
def test_answer_features_equal_the_previous_implementation(loo: bool) -> None:
    context, vectors = _context(18)
    exemplar_texts = _exemplar_texts(18)
    rng = np.random.default_rng(1)
    sims = rng.uniform(-0.2, 0.9, size=(len(ANSWERS), context.n_exemplars))
    exclude = None
    if loo:  # some answers are exemplars themselves, one is cut off from half of the pool
        exclude = np.full(len(ANSWERS), -1, dtype=np.int64)
        exclude[:5] = [0, 3, 7, 11, 17]
        sims[6, ::2] = -np.inf
    full = FeatureSet(n_classes=3, exemplars=True, anchors=True)
    bare = FeatureSet(n_classes=3, exemplars=False, anchors=True)
    for schema, given in ((full, sims), (bare, None)):
        expected = _old_answer_features(context, schema, ANSWERS, vectors, exemplar_texts, given, exclude)
        batch = sf.answer_features(context, schema, ANSWERS, vectors, given, exclude)
        assert batch.shape == expected.shape == (len(ANSWERS), len(schema.names()))
        assert np.abs(batch - expected).max() < 1e-9
        if not loo:  # one answer at a time, as the scorer does
            for i, text in enumerate(ANSWERS):
                row_sims = None if given is None else given[i : i + 1]
                one = vectors[i : i + 1]
                previous = _old_answer_features(context, schema, [text], one, exemplar_texts, row_sims)
                row = sf.answer_features(context, schema, [text], one, row_sims)
                assert np.abs(row - previous).max() < 1e-9


def test_fast_linear_models_equal_sklearn_predictions() -> None:
    """The fitted coefficients alone (`LinearModel`) give scikit-learn's predictions, bit for bit."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(80, 6))
    y = x @ rng.normal(size=6) + rng.normal(scale=0.1, size=80)
    ridge = Ridge(alpha=1.0).fit(x, y)
    assert np.array_equal(linear_predict(LinearModel.of(ridge), x), ridge.predict(x))
    for n_classes in (2, 3):
        labels = np.argsort(np.argsort(y)) * n_classes // len(y)
        model = LogisticRegression(C=1.0, max_iter=2000).fit(x, labels)
        assert np.array_equal(logistic_proba(LinearModel.of(model), x), model.predict_proba(x))
        wide = x * 40  # decisions far from 0, where the logistic function saturates
        assert np.array_equal(logistic_proba(LinearModel.of(model), wide), model.predict_proba(wide))
        single = x[:1].astype(np.float32)  # one float32 row, as the intent classifier passes
        assert np.array_equal(logistic_proba(LinearModel.of(model), single), model.predict_proba(single))
    # and through the stackers that use them, which keep only the coefficients
    unit = (y - y.min()) / (y.max() - y.min())
    rating = RatingStacker("linear").fit(x, unit)
    assert isinstance(rating._model, LinearModel) and rating._scaler is not None
    scaler = rating._scaler
    ridge = Ridge(alpha=1.0).fit(scaler(x), unit)
    assert np.array_equal(rating.predict(x), np.clip(ridge.predict(scaler(x)), 0, 1))
    classes = np.minimum((unit * 3).astype(np.int64), 2)
    label = LabelStacker("linear").fit(x, classes)
    assert isinstance(label._model, LinearModel) and label._scaler is not None
    classifier = LogisticRegression(C=1.0, max_iter=2000).fit(label._scaler(x), classes)
    assert np.array_equal(label.predict_proba(x), classifier.predict_proba(label._scaler(x)))
    pair = PairModel(4).fit(x, classes)  # a class the data never has keeps probability 0
    assert pair._model is not None and pair._scaler is not None
    pairs = LogisticRegression(C=PAIR_C, max_iter=3000).fit(pair._scaler(x), classes)
    expected = np.zeros((len(x), 4))
    expected[:, :3] = pairs.predict_proba(pair._scaler(x))
    assert np.array_equal(pair.predict_proba(x), expected)


def test_lexicon_n_grams_are_sklearns() -> None:
    """`char_wb_ngrams` (what a lexicon fit in another process analyses answers with) is
    scikit-learn's ``char_wb`` analyser: the same n-grams in the same order."""
    analyse = TfidfVectorizer(analyzer="char_wb", ngram_range=sf.NGRAM_RANGE, lowercase=True).build_analyzer()
    texts = [
        *ANSWERS,
        *REFERENCES,
        *STRONG,
        *WEAK,
        " a  b\n\nc\t d ",
        "x",
        "ÀÉÎ ÕÜ straße İstanbul",
        "a\u3000b",
    ]
    for text in texts:
        assert sf.char_wb_ngrams(text) == analyse(text)


def test_a_pickled_lexicon_encodes_as_the_fitted_one() -> None:
    """A lexicon sent from a fitting process keeps no scikit-learn object and encodes answers the same."""
    context, _ = _context(12)
    received = pickle.loads(pickle.dumps(context))
    assert received.lexicon.vectorizer is None and context.lexicon.vectorizer is not None
    for text in ANSWERS:
        mine, theirs = context.lexicon.encode([text]), received.lexicon.encode([text])
        assert np.array_equal(mine.indices, theirs.indices) and np.array_equal(mine.data, theirs.data)


def test_contexts_are_built_with_the_scorer_not_on_the_first_answer(
    minilm: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    scorer = Scorer(minilm, [CONFLICT, DEADLINE, PYTHON], teamwork_exemplars())

    def no_build(**_: Any) -> QuestionContext:
        raise AssertionError("a context was built while scoring")

    monkeypatch.setattr("scoring.scorer.build_context", no_build)
    answer = "I listened to both sides and we agreed a compromise that kept the project on time."
    for question in (CONFLICT, DEADLINE, PYTHON):
        assert scorer.score(question.id, answer).question_id == question.id


def test_softmax_treats_every_non_finite_entry_as_absent() -> None:
    rng = np.random.default_rng(2)
    sims = rng.uniform(-1, 1, size=(5, 7))
    sims[1, 2] = -np.inf
    sims[2, [0, 3]] = [np.nan, np.inf]
    sims[3, :] = -np.inf
    sims[4, :] = np.nan
    for temperature in (0.05, 0.01):
        expected = _old_softmax_rows(sims, temperature)
        assert np.array_equal(sf._softmax_rows(sims, temperature), expected)


def test_demoted_overlap_sets_the_questions_own_words_aside() -> None:
    rng = np.random.default_rng(0)
    context = build_context(
        exemplar_texts=[],
        exemplar_vectors=np.zeros((0, 16), dtype=np.float32),
        exemplar_ratings=[],
        exemplar_classes=[],
        n_classes=3,
        reference_texts=["The battery terminal is separated from the bulb by a gap in the circuit"],
        reference_vectors=_unit(rng, 1),
        anchor_vectors=np.zeros((0, 16), dtype=np.float32),
        anchor_values=[],
        question_text="Why does the bulb not light when connected to the battery terminal?",
        question_vector=_unit(rng, 1)[0],
    )
    parrot, right = "The bulb does not light with the battery terminal", "there is a gap in the circuit"
    rows = sf.demoted_overlap(context, [parrot, right])
    names = dict(zip(sf.DEMOTED_NAMES, rows.T, strict=True))
    assert names["demoted_recall"][0] == 0.0 < names["demoted_recall"][1]  # the question's words say nothing
    assert names["question_recall"][0] > names["question_recall"][1]
    assert names["new_unit_share"][1] == 0.0
    bare = FeatureSet(n_classes=3, exemplars=False)
    assert sf.answer_features(context, bare, [parrot, right], _unit(rng, 2)).shape == (2, len(bare.names()))
