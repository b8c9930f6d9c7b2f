"""Benchmark the rubric scorer on human-scored short answers (SemEval-2013 Task 7, Chinese SAS).

Usage::

    python -m scoring.benchmark --data FILE.jsonl [--protocol loo|unseen-question] [--out results.json]
    python -m scoring.benchmark --speed [--model minilm|e5]

Input rows (JSON lines): ``question_id, question, reference_answer, reference_answers (optional),
answer, score, score_max, label_3way (optional), split (optional), dataset (optional)``.

Protocols:

* ``loo``: rows with a ``train`` split (SemEval) use the train answers of each question as exemplars
  and score the other splits; in test splits whose questions have no train answers
  (unseen questions / domains) only reference answers and the question are used. Data without
  splits is scored leave-one-out: each answer against the other answers of its question.
* ``unseen-question``: every answer is scored without any exemplar of its own question.

In both, the stacker that combines features is fit on rows whose labels the scored answer never
contributes to: SemEval's train split (its features computed leave-one-out), or, for data without
splits, folds that hold out whole questions. Nothing is random; two runs print the same numbers.

Embeddings are cached on disk (``var/cache/embeddings``) keyed by model id, kind and text hash, so
reruns are fast; a cold cache works too, only slower.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score
from threadpoolctl import threadpool_limits

from language.embeddings import Embedder, Kind, load_embedder, token_states
from language.text import detect_language
from language.vector_cache import CachedEmbedder
from scoring.features import FeatureSet, FloatArray, IntArray, QuestionContext, answer_features, build_context
from scoring.stacker import StackedModel, StackerKind, group_folds, pair_vectors

Protocol = Literal["loo", "unseen-question"]
DEFAULT_CACHE = Path(__file__).resolve().parent.parent / "var" / "cache" / "embeddings"
TRAIN = "train"
N_BINS = 3
"""Coarse classes for data without labels: thirds of the normalised score."""
FOLDS = 5


@dataclass(frozen=True)
class Row:
    """One human-scored answer."""

    dataset: str
    split: str
    question_id: str
    question: str
    references: tuple[str, ...]
    answer: str
    score: float
    score_max: float
    label: str | None

    @property
    def rating(self) -> float:
        """Score normalised to 0..1."""
        return self.score / self.score_max if self.score_max else 0.0


def load_rows(path: Path) -> list[Row]:
    rows: list[Row] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                references = data.get("reference_answers") or [data["reference_answer"]]
                rows.append(
                    Row(
                        dataset=str(data.get("dataset") or path.stem),
                        split=str(data.get("split") or ""),
                        question_id=str(data["question_id"]),
                        question=str(data["question"]),
                        references=tuple(str(r) for r in references if str(r).strip()),
                        answer=str(data["answer"]),
                        score=float(data["score"]),
                        score_max=float(data["score_max"]),
                        label=data.get("label_3way"),
                    )
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(
                    f"{path}:{number}: bad row ({exc}); see scoring/benchmark.py for the fields"
                ) from exc
    return rows


@dataclass
class Settings:
    """Knobs of one benchmark run; the defaults are the product's choices."""

    model: str | None = None
    """``minilm`` or ``e5``; default by the data's language (English: minilm, Chinese: e5)."""
    exemplar_kind: Kind = "query"
    """How exemplars, references and questions are embedded (answers always as ``query``)."""
    stacker: StackerKind = "linear"
    pairs: bool = True
    """Stack a pair model (answer x closest reference x question vectors) trained across questions."""
    cache: Path | None = DEFAULT_CACHE
    questions: int | None = None
    """Use only the first N questions of each dataset (for quick, deterministic checks)."""
    embedders: dict[str, Embedder] = field(default_factory=dict)


def _model_for(rows: Sequence[Row], settings: Settings) -> str:
    if settings.model:
        return settings.model
    chinese = sum(detect_language(r.answer) == "zh" for r in rows)
    return "e5" if chinese > len(rows) / 2 else "minilm"


def _embedder(name: str, settings: Settings) -> Embedder:
    if name not in settings.embedders:
        base = load_embedder(name)
        settings.embedders[name] = CachedEmbedder(base, settings.cache) if settings.cache else base
    return settings.embedders[name]


@dataclass
class _Question:
    rows: list[int]
    context: QuestionContext
    exemplar_rows: list[int]
    exemplar_vectors: FloatArray


def _classes(rows: Sequence[Row], labels: list[str]) -> IntArray:
    if labels:
        return np.array([labels.index(r.label) if r.label in labels else 0 for r in rows], dtype=np.int64)
    return np.array([min(int(r.rating * N_BINS), N_BINS - 1) for r in rows], dtype=np.int64)


def _dataset_features(
    rows: list[Row], embedder: Embedder, settings: Settings, protocol: Protocol, labels: list[str]
) -> dict[str, FloatArray]:
    """Feature rows for every row, with and without exemplar features (dicts keyed by schema)."""
    answers = embedder.encode([r.answer for r in rows], "query")
    kind = settings.exemplar_kind
    # symmetric (the default): exemplars are the answers' own query vectors, embedded once
    exemplar_vectors = answers if kind == "query" else embedder.encode([r.answer for r in rows], kind)
    texts = sorted({t for r in rows for t in (r.question, *r.references)})
    text_vectors = dict(zip(texts, embedder.encode(texts, kind), strict=True))
    # token states for the soft alignment of the schema without exemplars (MiniLM; e5 has none)
    text_tokens = token_states(embedder, texts)
    answer_tokens = token_states(embedder, [r.answer for r in rows])
    tokens_of = dict(zip(texts, text_tokens, strict=True)) if text_tokens is not None else {}
    classes = _classes(rows, labels)
    n_classes = len(labels) or N_BINS
    has_train = any(r.split == TRAIN for r in rows)
    full = FeatureSet(n_classes=n_classes, exemplars=True)
    bare = FeatureSet(n_classes=n_classes, exemplars=False)
    x_full = np.zeros((len(rows), len(full.names())))
    x_bare = np.zeros((len(rows), len(bare.names())))
    closest = np.zeros(answers.shape, dtype=np.float64)
    asked = np.zeros(answers.shape, dtype=np.float64)
    by_question: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_question[row.question_id].append(i)
    for members in by_question.values():
        first = rows[members[0]]
        pool = [i for i in members if rows[i].split == TRAIN] if has_train else list(members)
        if protocol == "unseen-question":
            pool = []

        def context_of(pool: list[int], first: Row = first) -> QuestionContext:
            return build_context(
                exemplar_texts=[rows[i].answer for i in pool],
                exemplar_vectors=exemplar_vectors[pool],
                exemplar_ratings=[rows[i].rating for i in pool],
                exemplar_classes=classes[pool].tolist(),
                n_classes=n_classes,
                reference_texts=list(first.references),
                reference_vectors=np.stack([text_vectors[t] for t in first.references]),
                anchor_vectors=np.zeros((0, embedder.dim), dtype=np.float32),
                anchor_values=[],
                question_text=first.question,
                question_vector=text_vectors[first.question],
                reference_tokens=[tokens_of[t] for t in first.references] if tokens_of else (),
                question_tokens=tokens_of.get(first.question),
            )

        context = context_of(pool)
        # features without exemplars come from a context without them, as for a new question
        # (the TF-IDF weights would otherwise differ between training rows and new questions)
        bare_context = context_of([]) if pool else context
        member_texts = [rows[i].answer for i in members]
        member_vectors = answers[members]
        closest[members] = context.reference_vectors[
            (member_vectors @ context.reference_vectors.T).argmax(axis=1)
        ]
        asked[members] = context.question_vector
        member_tokens = [answer_tokens[i] for i in members] if answer_tokens is not None else None
        x_bare[members] = answer_features(
            bare_context, bare, member_texts, member_vectors, answer_tokens=member_tokens
        )
        if pool:
            position = {row: j for j, row in enumerate(pool)}
            exclude = np.array([position.get(i, -1) for i in members], dtype=np.int64)
            sims = (member_vectors @ exemplar_vectors[pool].T).astype(np.float64)
            x_full[members] = answer_features(context, full, member_texts, member_vectors, sims, exclude)
    return {"full": x_full, "bare": x_bare, "pairs": pair_vectors(answers.astype(np.float64), closest, asked)}


def _metrics(
    rows: Sequence[Row], predicted: FloatArray, labels: list[str], predicted_labels: IntArray | None
) -> dict[str, Any]:
    gold = np.array([r.rating for r in rows])
    result: dict[str, Any] = {"n": len(rows)}
    if len(rows) >= 2 and gold.std() > 0 and predicted.std() > 0:
        result["pearson"] = round(float(stats.pearsonr(gold, predicted)[0]), 4)
        result["spearman"] = round(float(stats.spearmanr(gold, predicted)[0]), 4)
    else:
        result["pearson"] = result["spearman"] = None
    result["rmse"] = round(float(np.sqrt(np.mean((gold - predicted) ** 2))), 4)
    if labels and predicted_labels is not None:
        truth = _classes(rows, labels)
        result["accuracy"] = round(float(accuracy_score(truth, predicted_labels)), 4)
        result["macro_f1"] = round(
            float(f1_score(truth, predicted_labels, average="macro", labels=list(range(len(labels))))), 4
        )
    return result


def _evaluate_dataset(rows: list[Row], settings: Settings, protocol: Protocol) -> list[dict[str, Any]]:
    embedder = _embedder(_model_for(rows, settings), settings)
    labels = sorted({r.label for r in rows if r.label}) if all(r.label for r in rows) else []
    x = _dataset_features(rows, embedder, settings, protocol, labels)
    has_train = any(r.split == TRAIN for r in rows)
    question_ids = sorted({r.question_id for r in rows})
    group_of = {q: i for i, q in enumerate(question_ids)}
    groups = np.array([group_of[r.question_id] for r in rows], dtype=np.int64)
    y = np.array([r.rating for r in rows])
    classes = _classes(rows, labels)
    n_classes = len(labels) or N_BINS
    pairs = x["pairs"]
    predicted = np.zeros(len(rows))
    predicted_labels = np.zeros(len(rows), dtype=np.int64)
    results: list[dict[str, Any]] = []
    if has_train:
        train = np.array([r.split == TRAIN for r in rows])
        train_questions = {r.question_id for r in rows if r.split == TRAIN}
        seen = np.array([r.question_id in train_questions for r in rows])
        passes = [("full", ~train & seen), ("bare", ~train & ~seen)]
        if protocol == "unseen-question":
            passes = [("bare", ~train)]
        for schema, mask in passes:
            if not mask.any():
                continue
            matrix = x[schema]
            model = StackedModel(n_classes, settings.stacker, settings.pairs)
            model.fit(
                matrix[train],
                pairs[train],
                y[train],
                classes[train],
                groups[train],
                bool(labels),
                new_questions=schema == "bare",
                select=schema == "bare",
            )
            predicted[mask] = model.predict(matrix[mask], pairs[mask])
            if labels:
                predicted_labels[mask] = model.predict_labels(matrix[mask], pairs[mask])
        scored = [s for s in sorted({r.split for r in rows}) if s != TRAIN]
    else:
        schema = "full" if protocol == "loo" else "bare"
        matrix = x[schema]
        for fit_rows, test_rows in group_folds(groups, FOLDS):
            model = StackedModel(n_classes, settings.stacker, settings.pairs)
            model.fit(
                matrix[fit_rows],
                pairs[fit_rows],
                y[fit_rows],
                classes[fit_rows],
                groups[fit_rows],
                bool(labels),
                new_questions=True,
                select=schema == "bare",
            )
            predicted[test_rows] = model.predict(matrix[test_rows], pairs[test_rows])
            if labels:
                predicted_labels[test_rows] = model.predict_labels(matrix[test_rows], pairs[test_rows])
        scored = sorted({r.split for r in rows})
    for split in scored:
        index = [i for i, r in enumerate(rows) if r.split == split]
        metrics = _metrics([rows[i] for i in index], predicted[index], labels, predicted_labels[index])
        results.append(
            {"dataset": rows[0].dataset, "split": split or "all", "model": embedder.model_id, **metrics}
        )
    return results


def run_benchmark(
    data_path: Path | str,
    protocol: Protocol = "loo",
    out: Path | str | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Score every answer in ``data_path`` and compare with the human scores.

    Returns:
        ``{"protocol", "data", "settings", "results": [{"dataset", "split", "model", "n",
        "pearson", "spearman", "rmse", "accuracy"?, "macro_f1"?}, ...]}``; written to ``out`` as
        JSON when given.
    """
    settings = settings or Settings()
    if protocol not in ("loo", "unseen-question"):
        raise ValueError(f"unknown protocol {protocol!r}; choose loo or unseen-question")
    path = Path(data_path)
    rows = load_rows(path)
    by_dataset: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_dataset[row.dataset].append(row)
    results: list[dict[str, Any]] = []
    for name in sorted(by_dataset):
        subset = by_dataset[name]
        if settings.questions:
            keep = sorted({r.question_id for r in subset})[: settings.questions]
            subset = [r for r in subset if r.question_id in keep]
        results.extend(_evaluate_dataset(subset, settings, protocol))
    report: dict[str, Any] = {
        "protocol": protocol,
        "data": str(path),
        "settings": {
            "model": settings.model or "auto",
            "exemplar_kind": settings.exemplar_kind,
            "stacker": settings.stacker,
            "pairs": settings.pairs,
            "questions": settings.questions,
        },
        "results": results,
    }
    if out:
        Path(out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return report


SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "scoring"
"""The human-scored data sets, read in place from the workplace's shared folder beside the repo."""
SPEED_DATA = {"minilm": SHARED_DATA / "semeval2013_3way.jsonl", "e5": SHARED_DATA / "zh_sas_ads_le.jsonl"}


def speed_benchmark(
    model: str = "minilm",
    data_path: Path | str | None = None,
    answers: int | None = None,
    questions: int = 10,
) -> dict[str, Any]:
    """Answers scored per second against the raw embedding throughput of the same model.

    A `Scorer` is built from the first ``questions`` questions of the data (their train answers,
    or every other answer, as exemplars; reference answers as references and their points as
    talking points). Then the same held-out answers are (1) embedded by the bare model, batched
    and one at a time, and (2) scored end to end (embedding included), batched per question with
    `Scorer.score_many` and one at a time with `Scorer.score`. The ratios say how much scoring
    adds on top of embedding.
    """
    from scoring.features import split_points
    from scoring.records import Exemplar, RubricQuestion
    from scoring.scorer import Scorer

    path = Path(data_path) if data_path else SPEED_DATA[model]
    rows = load_rows(path)
    keep = sorted({r.question_id for r in rows})[:questions]
    rows = [r for r in rows if r.question_id in keep]
    has_train = any(r.split == TRAIN for r in rows)
    exemplar_rows = [r for i, r in enumerate(rows) if (r.split == TRAIN if has_train else i % 2 == 0)]
    test_rows = [r for i, r in enumerate(rows) if (r.split != TRAIN if has_train else i % 2 == 1)]
    limit = answers or (300 if model == "minilm" else 60)
    test_rows = test_rows[:: max(1, len(test_rows) // limit)][:limit]
    embedder = load_embedder(model)
    firsts = {r.question_id: r for r in reversed(rows)}
    question_set = [
        RubricQuestion(
            id=q,
            competency="knowledge",
            text=firsts[q].question,
            talking_points=split_points(firsts[q].references[0])[:4],
            reference_answers=list(firsts[q].references),
        )
        for q in keep
    ]
    exemplars = [
        Exemplar(
            f"x{i}", r.question_id, "knowledge", r.answer, r.score, r.score_max, "benchmark", scale_min=0
        )
        for i, r in enumerate(exemplar_rows)
    ]
    # As the bot runs it: one BLAS thread for scoring's small matrices beside the model's threads.
    threadpool_limits(limits=1, user_api="blas")
    started = time.perf_counter()
    scorer = Scorer(embedder, question_set, exemplars)
    build = time.perf_counter() - started
    texts = [r.answer for r in test_rows]
    embedder.encode(texts[:8], "query")  # warm up

    def rate(run: Any) -> float:
        begin = time.perf_counter()
        run()
        return len(texts) / (time.perf_counter() - begin)

    by_question: dict[str, list[str]] = defaultdict(list)
    for r in test_rows:
        by_question[r.question_id].append(r.answer)
    raw_batched = rate(lambda: embedder.encode(texts, "query"))
    raw_single = rate(lambda: [embedder.encode([t], "query") for t in texts])
    scored_batched = rate(lambda: [scorer.score_many(q, group) for q, group in by_question.items()])
    scored_single = rate(lambda: [scorer.score(r.question_id, r.answer) for r in test_rows])
    vectors = embedder.encode(texts, "query")
    given = rate(lambda: [scorer.score(r.question_id, r.answer, vectors[i]) for i, r in enumerate(test_rows)])
    return {
        "model": embedder.model_id,
        "data": str(path),
        "questions": len(keep),
        "exemplars": len(exemplars),
        "answers": len(texts),
        "build_seconds": round(build, 2),
        "embed_per_second_batched": round(raw_batched, 1),
        "embed_per_second_single": round(raw_single, 1),
        "score_per_second_batched": round(scored_batched, 1),
        "score_per_second_single": round(scored_single, 1),
        "score_per_second_given_vector": round(given, 1),
        "ratio_batched": round(scored_batched / raw_batched, 3),
        "ratio_single": round(scored_single / raw_single, 3),
    }


def format_results(results: Sequence[dict[str, Any]]) -> str:
    header = f"{'dataset':<26}{'split':<24}{'n':>6}{'r':>8}{'rho':>8}{'rmse':>8}{'acc':>8}{'F1':>8}"
    lines = [header, "-" * len(header)]

    def cell(value: Any) -> str:
        return f"{value:>8.3f}" if isinstance(value, float) and not math.isnan(value) else f"{'-':>8}"

    for r in results:
        lines.append(
            f"{r['dataset']:<26}{r['split']:<24}{r['n']:>6}{cell(r.get('pearson'))}{cell(r.get('spearman'))}"
            f"{cell(r.get('rmse'))}{cell(r.get('accuracy'))}{cell(r.get('macro_f1'))}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scoring.benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="human-scored answers, JSON lines")
    parser.add_argument("--protocol", choices=["loo", "unseen-question"], default="loo")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--model", choices=["minilm", "e5"], help="embedding model (default: by language)")
    parser.add_argument("--exemplar-kind", choices=["query", "passage"], default="query")
    parser.add_argument("--stacker", choices=["gbm", "linear"], default="linear")
    parser.add_argument("--no-pairs", action="store_true", help="leave the pair model out of the stack")
    parser.add_argument("--questions", type=int, help="only the first N questions of each dataset")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="embedding cache directory")
    parser.add_argument("--no-cache", action="store_true", help="embed everything afresh")
    parser.add_argument("--speed", action="store_true", help="measure throughput instead of accuracy")
    parser.add_argument("--answers", type=int, help="answers to time with --speed")
    args = parser.parse_args(argv)
    if args.speed:
        speed = speed_benchmark(args.model or "minilm", args.data, args.answers, args.questions or 10)
        text = json.dumps(speed, indent=2)
        if args.out:
            args.out.write_text(text + "\n", encoding="utf-8")
        sys.stdout.write(text + "\n")
        return 0
    if args.data is None:
        parser.error("--data is required")
    settings = Settings(
        model=args.model,
        exemplar_kind=args.exemplar_kind,
        stacker=args.stacker,
        pairs=not args.no_pairs,
        cache=None if args.no_cache else args.cache,
        questions=args.questions,
    )
    started = time.perf_counter()
    report = run_benchmark(args.data, args.protocol, args.out, settings)
    sys.stdout.write(format_results(report["results"]) + "\n")
    sys.stdout.write(f"protocol {args.protocol}; {time.perf_counter() - started:.1f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
