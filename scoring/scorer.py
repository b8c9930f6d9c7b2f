"""Score interview answers on the rubric scale the way human raters do, with evidence.

A `Scorer` holds the questions of a flow (one language), an `ExemplarIndex` of rated past answers
and two stackers fit on those exemplars: one for questions that have exemplars to compare with and
one for questions scored from their rubric anchors and reference answers alone. Each exemplar's
training row is computed leave-one-out (the exemplar is never its own neighbour), so the stacker
learns how much to trust neighbours as they will be at scoring time.

``score(question_id, answer_text, vector=None)``: the engine embeds the candidate's message once
(``kind="query"``, for intent detection) and passes that vector; the scorer then embeds nothing
else. Exemplars, anchors, references and questions are embedded once, at construction or when
exemplars are added, as ``query`` too by default (symmetric; see ``ScorerConfig.exemplar_kind``).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from language.embeddings import Embedder, Kind, Matrix, TokenStates, Vector, token_states
from language.fitting import Fitter, fit_here
from language.text import count_words
from scoring.background import WORK, background_kind, background_texts
from scoring.checks import (
    CAP_LEVEL,
    Check,
    SourceText,
    Vocabulary,
    check_copy,
    check_language,
    check_narrative,
    check_padding,
    check_paraphrase,
    check_restated,
    check_specifics,
    content_units,
    describes_weak_answer,
    framing_units,
    is_behavioural,
    rubric_clauses,
    rubric_units,
    text_language,
    topic_similarity,
)
from scoring.features import (
    FeatureSet,
    FloatArray,
    LexicalMatch,
    QuestionContext,
    answer_features,
    build_context,
)
from scoring.index import ExemplarIndex, ExemplarPool, PoolKind
from scoring.records import LEVELS, Exemplar, RubricQuestion, level_to_normalized, normalized_to_level
from scoring.stacker import StackedModel, StackerKind, fit_stacked, pair_vectors

N_CLASSES = 3
"""Exemplars are grouped into low / middle / high thirds of the scale for per-class features."""
MIN_STACKER_ROWS = 24
"""Fewer exemplars than this (over all questions) and the scorer falls back to plain kNN / anchors."""

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")
_SENTENCES = re.compile(r"(?<=[.!?。！？；;])\s*|\n+")

OFFTOPIC_THRESHOLDS = {"minilm": 0.12, "e5": 0.76}
"""Below this best cosine to anything about the question, an answer is off-topic (per model: e5's
cosines crowd into 0.7..1, MiniLM's spread over 0..1). Measured on the benchmark data: see
``scoring/README.md``."""
TALKING_POINT_THRESHOLDS = {"minilm": 0.4, "e5": 0.85}
TOPIC_MARGINS = {"minilm": 0.0, "e5": 0.012}
"""How far below the least on-topic of a question's own exemplars an answer may fall (its topic
similarity: the mean of its 3 highest cosines to the question's material) before it is off-topic."""
OTHER_QUESTION_MARGINS = {"minilm": 0.15, "e5": 0.02}
"""How much closer to another question's material than to its own an answer must be to count as an
answer to that other question, each compared in the answer's language (`_Prepared.by_language`).
e5: the sample roles' exemplars, each left out, are at most 0.016 closer to another question (en;
zh 0.014), the genuine answers of four dev sets at most 0.016; stories told to another question
0.019 and more (it was 0.025 when an English answer was compared with mostly Chinese material)."""
OTHER_QUESTION_WORDS = 3
"""An answer closer (by embedding) to another question of the flow than to its own is about that
question when it uses that question's own words (used by no other question's texts) at least twice as
often as this question's, plus this many. Dev sets: answers to another question 5 and 13 of its words
against 1 and 0; genuine answers closer to another question at most 4 against 1."""
OTHER_JOB_MARGINS = {"minilm": 0.05, "e5": 0.05}
"""Whose job is this? How much further an answer may lean towards other work than the most leaning of
its question's own exemplars (each left out) before it is an account of another job. Leaning: with the
role's centre taken away from every side (`Scorer._centred`), the topic similarity (mean of the 3
highest cosines) to other occupations' accounts (`scoring.background`, less the role's own work) less
the topic similarity to the question's own material, both in the answer's language. Raw cosines put any
well-told working-day story near every behavioural question; once what the role's answers share is
taken away, a nurse's night shift is nearer a nurse's account than an incident question's material.
Five dev sets, answers of `OTHER_JOB_MIN_WORDS` or more: genuine answers at most 0.021 (e5) and 0.013
(MiniLM) above their question's most leaning exemplar; stories from other jobs 0.059 to 0.47 above,
sales stories told to the engineering questions 0.034 to 0.19. The same margin for life outside work
(`scoring.background.LIFE_OUTSIDE_WORK`), against its own floor per question."""
OTHER_JOB_MIN_WORDS = 30
"""Shorter answers are not judged for other work: a story of another job needs room to be one (five dev
sets: such stories 34 words and more), and a one-line answer's leaning is a few words' noise (the genuine
short answers it flagged were 21-23 words)."""
OTHER_JOB_OWN_SHARE = 0.25
"""An occupation that at least this share of a role's exemplars (in one language) are closest to is that
role's own work (sample roles: software for rd_engineer, 57% en and 46% zh; selling for sales_manager,
41%; no other occupation above 18%), and is not "other work" for it."""
LEXICAL_FLOOR = 0.7
"""An answer less on-topic than half the question's exemplars must share at least this part of the
exemplars' lowest overlap with the role's vocabulary (e5 puts any two Chinese texts close: a
football report is as close to an incident question as a weak answer; its words are not)."""
LIST_ROLE_WORDS = 0.3
"""A list (the ``keyword_list`` or ``talking_points`` check failed) with at least this share of its words
the role's (and at least the question's lexical floor) is on the topic whatever its similarity: a list
embeds far from told answers, so the similarity floors misjudge it as off-topic, and the candidate
would be told "does not address the question" of a list of the question's own terms. It is scored as a
list (capped) instead. Dev sets: such lists 0.38-0.82 of their words the role's; answers in other
languages 0.10-0.20; a list of another subject's words has almost none."""
LIST_CHECKS = frozenset({"keyword_list", "talking_points"})
"""The checks that find a list rather than an account."""


def _engine(model_id: str) -> str:
    return "e5" if "e5" in model_id.lower() else "minilm"


@dataclass(frozen=True)
class ScorerConfig:
    """Tunable behaviour; the defaults are what the benchmark numbers were measured with.

    Attributes:
        min_exemplars: a question with fewer borrows its competency's exemplars.
        min_words: shorter answers are insufficient (words; two Chinese characters count as one).
        min_letter_share: answers whose non-space characters are mostly not letters are unreadable.
        offtopic_threshold: see `OFFTOPIC_THRESHOLDS`; ``None`` picks the model's default.
        talking_point_threshold: see `TALKING_POINT_THRESHOLDS`; ``None`` picks the model's default.
        languages: languages the model reads; ``None``: English for MiniLM, English and Chinese for e5.
        exemplar_kind: how stored texts are embedded; answers are always ``query``.
        stacker: ``linear`` (ridge; generalises across questions best in the benchmark) or ``gbm``.
        pairs: stack the pair model (answer x closest reference x question vectors).
        evidence_exemplars: how many nearest exemplars the evidence lists.
        talking_point_sentences: embed answer sentences to match talking points (off by default: it
            would triple the model's work on the reply path for evidence only; one extra
            batched embedding call per multi-sentence answer); off: the whole answer's vector and
            lexical overlap decide.
        answer_languages: the flow's languages: an answer in another is not scored (py3langid);
            ``None``: the languages the model reads.
        checks: run the answer checks of `scoring.checks` (off: the score alone, as benchmarks
            that rate one-word science answers need).
    """

    min_exemplars: int = 8
    min_words: int = 3
    min_letter_share: float = 0.5
    offtopic_threshold: float | None = None
    talking_point_threshold: float | None = None
    languages: frozenset[str] | None = None
    exemplar_kind: Kind = "query"
    stacker: StackerKind = "linear"
    evidence_exemplars: int = 5
    talking_point_sentences: bool = False
    pairs: bool = True
    answer_languages: frozenset[str] | None = None
    checks: bool = True


@dataclass(frozen=True)
class ExemplarEvidence:
    id: str
    question_id: str
    similarity: float
    rating: float
    level: float


@dataclass(frozen=True)
class TalkingPointEvidence:
    text: str
    similarity: float
    covered: bool


@dataclass(frozen=True)
class Evidence:
    """Why an answer got its score; enough to explain and recompute it later."""

    exemplars: list[ExemplarEvidence] = field(default_factory=list)
    pool: PoolKind = "none"
    """Whose exemplars were compared: the question's own, its competency's, or none."""
    anchor_level: int | None = None
    anchor_similarity: float | None = None
    talking_points_covered: list[TalkingPointEvidence] = field(default_factory=list)
    talking_points_missed: list[TalkingPointEvidence] = field(default_factory=list)
    method: str = "none"
    """``stacker``, ``knn`` (too few exemplars to fit a stacker), ``anchors`` or ``none``."""
    relevance: float | None = None
    """Best cosine between the answer and the question's material (exemplars, anchors, question)."""
    checks: list[Check] = field(default_factory=list)
    """The answer checks (`scoring.checks`): each with its value, threshold and, if failed, reason."""
    flags: list[str] = field(default_factory=list)
    """Reasons of the failed checks that capped the level; HR see them beside the score."""
    uncapped_level: float | None = None
    """The level before a failed check capped it at `scoring.checks.CAP_LEVEL`."""


@dataclass(frozen=True)
class ScoreResult:
    """One answer's score on the rubric scale (1..5), or the reason it could not be scored."""

    question_id: str
    competency: str
    level: float | None
    rounded_level: int | None
    confidence: float
    insufficient: str | None
    evidence: Evidence
    model_id: str
    flow_version: str | None = None

    @property
    def assessed(self) -> bool:
        return self.insufficient is None and self.level is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict."""
        data: dict[str, Any] = json_safe(asdict(self))
        return data


def apply_caps(result: ScoreResult, extra: Sequence[Check] = ()) -> ScoreResult:
    """The result with ``extra`` checks added to its evidence and its level capped at `CAP_LEVEL`
    (or the lowest ``cap_level`` of the failed checks) when any failed check's action is "cap". Each
    such reason becomes a flag HR see, except that a check with ``flag_when_capping`` (`generic`,
    `no_first_person`) is a flag only when the level shown before the caps (rounded, as
    ``rounded_level``) was above its cap: a weak answer at 2.3 is shown at 2 with or without it."""
    checks = [*result.evidence.checks, *extra]
    capping = [c for c in checks if not c.passed and c.action == "cap" and c.reason]
    if not extra and not capping:
        return result
    level, rounded, uncapped = result.level, result.rounded_level, result.evidence.uncapped_level
    before = uncapped if uncapped is not None else level
    cap = min((c.cap_level if c.cap_level is not None else CAP_LEVEL for c in capping), default=CAP_LEVEL)
    if capping and level is not None and level > cap:
        uncapped = uncapped if uncapped is not None else level
        level, rounded = cap, round(cap)

    def lowers(check: Check) -> bool:
        limit = check.cap_level if check.cap_level is not None else CAP_LEVEL
        return before is not None and round(before) > limit

    # a check that judges how an answer is told is a flag only where it held the level down
    flags = [c.reason for c in capping if c.reason and (not c.flag_when_capping or lowers(c))]
    evidence = replace(result.evidence, checks=checks, flags=flags, uncapped_level=uncapped)
    return replace(result, level=level, rounded_level=rounded, evidence=evidence)


@dataclass(frozen=True)
class QuestionReliability:
    """How a question is scored and how sure its scores are, for HR (`Scorer.reliability`)."""

    question_id: str
    competency: str
    exemplars: int
    """Rated answers of this question itself."""
    pool: str
    """Whose exemplars its answers are compared with: ``question``, ``competency`` or ``none``
    (scored from the rubric anchors and reference answers alone)."""
    method: str
    """``stacker``, ``knn``, ``anchors`` or ``none``, as in `Evidence.method`."""
    expected_error: float | None
    """Cross-validated error of the model that scores it, in rubric levels (folds by question for
    questions without exemplars); None when there is too little rated data to measure it."""
    confidence: float
    """The highest confidence one of its scores can get (`Scorer` halves it without exemplars)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = json_safe(asdict(self))
        return out


def json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else round(value, 4)
    return value


@dataclass
class _Prepared:
    """A question with its embedded material."""

    question: RubricQuestion
    anchor_levels: list[int]
    anchor_vectors: Matrix
    reference_vectors: Matrix
    talking_point_vectors: Matrix
    question_vector: Vector
    sources: list[SourceText] = field(default_factory=list)
    behavioural: bool = False
    material: Matrix | None = None
    """Vectors the on-topic check compares with: own exemplars, references, anchors, talking
    points and the question (set by calibration)."""
    topic_floor: float | None = None
    topic_median: float | None = None
    centred_material: Matrix | None = None
    """The material less the role's centre (`Scorer._centre`), normalised: what is this question's
    rather than what every answer to the role shares."""
    centred_floor: float | None = None
    """The least centred topic similarity of the question's own exemplars (each left out)."""
    topic_vectors: Matrix | None = None
    """The question, rubric levels, talking points and reference answers in every flow language
    (`RubricQuestion.topic_texts`), embedded."""
    topic_languages: list[str] = field(default_factory=list)
    """The language of each row of ``topic_vectors``."""
    by_language: dict[str, Matrix] = field(default_factory=dict)
    """Per flow language: the own exemplars written in it and ``topic_vectors`` in it (set by
    calibration): what an answer in that language is compared with, here and at other questions."""
    lexical_floor: float = 0.0
    other_work_floors: dict[str, float] = field(default_factory=dict)
    """Per kind of background (`scoring.background.background_kind`: other occupations' work, life
    outside work), the most any of the question's own exemplars (each left out) leans towards it
    (`OTHER_JOB_MARGINS`); empty with fewer than 5 exemplars (nothing to calibrate on)."""
    rubric_units: set[str] = field(default_factory=set)
    """Content units of the rubric levels and talking points, every flow language (paraphrase check)."""
    question_units: set[str] = field(default_factory=set)
    """Content units of the question (every flow language), its rubric, talking points and reference
    answers: what ties a short answer to this question (generic check)."""
    rubric_clause_vectors: Matrix | None = None
    """The rubric levels' and talking points' clauses, embedded (paraphrase check)."""
    contexts: dict[tuple[str, int], QuestionContext] = field(default_factory=dict)
    reference_tokens: list[TokenStates] = field(default_factory=list)
    """The reference answers' token states, for the soft alignment (none with e5)."""
    question_tokens: TokenStates | None = None
    """By pool (kind, size): the context of the pool it is scored against and, once built, the
    context without exemplars (``("none", 0)``) that calibration uses."""


def _clip(value: float, low: float, high: float) -> float:
    """``float(np.clip(value, low, high))`` for one number."""
    return min(max(value, low), high)


def _class_of(normalized: float) -> int:
    return min(int(normalized * N_CLASSES), N_CLASSES - 1)


class Scorer:
    """Rubric scorer for one flow version in one language.

    Args:
        embedder: the model; the same one the engine embeds answers with. Answers are embedded
            through it, and only through it.
        questions: the flow's questions (see `scoring.records.questions_from_flow`).
        exemplars: rated past answers; more can be added with `add_exemplars`.
        config: thresholds and choices.
        material: embeds what the scorer is built from (questions, rubric anchors, reference
            answers, talking points, exemplars): the same model, possibly behind a disk cache,
            which answers never reach. ``embedder`` by default.
        fitter: where the lexicons and stackers are fit (`language.fitting`): in this process
            by default.
        background: (occupation, language, text) accounts of other work, what the on-topic check
            asks "whose job is this?" against; the built-in `scoring.background` texts by default.
    """

    def __init__(
        self,
        embedder: Embedder,
        questions: Sequence[RubricQuestion],
        exemplars: Sequence[Exemplar] = (),
        config: ScorerConfig | None = None,
        *,
        material: Embedder | None = None,
        fitter: Fitter = fit_here,
        background: Sequence[tuple[str, str, str]] | None = None,
    ) -> None:
        if material is not None and material.model_id != embedder.model_id:
            raise ValueError(f"material embedder {material.model_id} is not {embedder.model_id}")
        self.fitter = fitter
        self.embedder = embedder
        self.material = material or embedder
        self.config = config or ScorerConfig()
        engine = _engine(embedder.model_id)
        self._offtopic = (
            self.config.offtopic_threshold
            if self.config.offtopic_threshold is not None
            else OFFTOPIC_THRESHOLDS[engine]
        )
        self._tp_threshold = (
            self.config.talking_point_threshold
            if self.config.talking_point_threshold is not None
            else TALKING_POINT_THRESHOLDS[engine]
        )
        self._languages = self.config.languages or (
            frozenset({"en", "zh"}) if engine == "e5" else frozenset({"en"})
        )
        self._answer_languages = self.config.answer_languages or self._languages
        self._topic_margin = TOPIC_MARGINS[engine]
        self._distinct: dict[str, set[str]] | None = None
        self._other_margin = OTHER_QUESTION_MARGINS[engine]
        self._job_margin = OTHER_JOB_MARGINS[engine]
        self._background = list(background_texts() if background is None else background)
        self._background_vectors: dict[tuple[str, str], tuple[list[str], Matrix]] = {}
        """Per language and kind (work, life): the topics and vectors of the background (set by
        `_embed_questions`)."""
        self._other_work: dict[tuple[str, str], tuple[list[str], Matrix]] = {}
        """Per language and kind: the background less this role's own work (set by calibration)."""
        self._vocabulary = Vocabulary()
        self._centre = np.zeros(embedder.dim, dtype=np.float32)
        self.index = ExemplarIndex(embedder.dim, self.config.min_exemplars)
        self._no_pool = ExemplarPool("none", "", (), np.zeros((0, embedder.dim), dtype=np.float32))
        self._full = FeatureSet(n_classes=N_CLASSES, exemplars=True, anchors=True)
        self._bare = FeatureSet(n_classes=N_CLASSES, exemplars=False, anchors=True)
        self._columns = {
            has_pool: {name: j for j, name in enumerate(schema.names())}
            for has_pool, schema in ((True, self._full), (False, self._bare))
        }
        self._stackers: dict[str, StackedModel] = {}
        self._bare_cache: dict[str, dict[str, FloatArray]] = {}
        """Per question, per exemplar text (an id re-imported with another text is computed again):
        its feature row without exemplars (`_bare_rows`)."""
        self._questions: dict[str, _Prepared] = {}
        self._embed_questions(questions)
        self.add_exemplars(exemplars)

    # ---- building ---------------------------------------------------------------------------

    def _embed_questions(self, questions: Sequence[RubricQuestion]) -> None:
        kind = self.config.exemplar_kind
        texts: list[str] = []
        rubric: dict[str, list[str]] = {}
        for q in questions:
            texts += [q.text, *q.anchors.values(), *q.reference_answers, *q.talking_points]
            texts += [t for _, t in q.topic_texts]
            # what a candidate would paraphrase to look better: the levels above the cap and the points
            rubric[q.id] = [
                t for k, t in q.flow_texts if k != "question" and not describes_weak_answer(k)
            ] or [*(t for level, t in q.anchors.items() if level > CAP_LEVEL), *q.talking_points]
            texts += rubric_clauses(rubric[q.id])
        texts += [text for _, _, text in self._background]
        unique = sorted(set(texts))
        vectors = dict(zip(unique, self.material.encode(unique, kind), strict=True)) if unique else {}
        empty = np.zeros((0, self.embedder.dim), dtype=np.float32)

        def stack(items: Sequence[str]) -> Matrix:
            return np.stack([vectors[t] for t in items]) if items else empty

        # word-piece states of the references and questions, once (the soft alignment of answers to
        # questions without exemplars); an engine without them (e5) leaves those columns at 0
        aligned = sorted({t for q in questions for t in (q.text, *q.reference_answers)})
        states = token_states(self.material, aligned) if aligned else None
        tokens = dict(zip(aligned, states, strict=True)) if states is not None else {}

        grouped: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        for topic, code, text in self._background:
            grouped[code, background_kind(topic)].append((topic, text))
        self._background_vectors = {
            key: ([topic for topic, _ in items], stack([text for _, text in items]))
            for key, items in sorted(grouped.items())
        }
        self._framing = framing_units(
            "\n".join(t for kind, t in q.flow_texts if kind == "question") or q.text for q in questions
        )
        for q in questions:
            if q.id in self._questions:
                raise ValueError(f"duplicate question id {q.id!r}")
            levels = sorted(q.anchors)
            self._questions[q.id] = _Prepared(
                question=q,
                anchor_levels=levels,
                anchor_vectors=stack([q.anchors[level] for level in levels]),
                reference_vectors=stack(q.reference_answers),
                talking_point_vectors=stack(q.talking_points),
                question_vector=vectors[q.text],
                sources=[SourceText(kind, text) for kind, text in q.flow_texts]
                or [
                    SourceText("question", q.text),
                    *(SourceText(f"rubric (level {lv})", t) for lv, t in q.anchors.items()),
                    *(SourceText("talking points", t) for t in q.talking_points),
                ],
                behavioural=any(is_behavioural(t) for kind, t in q.flow_texts if kind == "question")
                or is_behavioural(q.text),
                rubric_units=rubric_units(rubric[q.id]),
                question_units=rubric_units(
                    [*rubric[q.id], q.text, *q.reference_answers, *(t for _, t in q.flow_texts)]
                ),
                rubric_clause_vectors=stack(rubric_clauses(rubric[q.id])),
                topic_vectors=stack([t for _, t in q.topic_texts]) if q.topic_texts else None,
                topic_languages=[code for code, _ in q.topic_texts],
                reference_tokens=[tokens[t] for t in q.reference_answers] if tokens else [],
                question_tokens=tokens.get(q.text),
            )

    def reliability(self) -> list[QuestionReliability]:
        """Per question, in the scorer's order: its own exemplars, the pool and model that score its
        answers, and how sure those scores are (what HR see beside a question without exemplars)."""
        out: list[QuestionReliability] = []
        for question_id, prepared in self._questions.items():
            q = prepared.question
            pool = self.index.pool(question_id, q.competency)
            own = sum(1 for e in pool.exemplars if e.question_id == question_id)
            has_pool = len(pool) > 0
            stacker = self._stackers.get("full" if has_pool else "bare")
            if stacker is not None:
                method, error = "stacker", stacker.cv_rmse
            elif has_pool:
                method, error = "knn", 0.3
            elif len(prepared.anchor_vectors) or len(prepared.reference_vectors):
                method, error = "anchors", 0.35
            else:
                method, error = "none", 1.0
            measured = stacker is not None and not math.isnan(stacker.cv_rmse)
            base = _clip(1.0 - 2.0 * (error if not math.isnan(error) else 0.25), 0.05, 0.95)
            out.append(
                QuestionReliability(
                    question_id=question_id,
                    competency=q.competency,
                    exemplars=own,
                    pool=pool.kind if has_pool else "none",
                    method=method,
                    expected_error=round(error * (len(LEVELS) - 1), 2) if measured else None,
                    confidence=round(base if has_pool else base * 0.5, 3),
                )
            )
        return out

    def add_exemplars(self, exemplars: Sequence[Exemplar], vectors: Matrix | None = None) -> int:
        """Embed and index more rated answers (an HR import), then refit the stackers.

        Exemplars of unknown questions are kept for their competency; ids already indexed are
        skipped. Returns how many were added.
        """
        if not exemplars:
            if not self._stackers:
                self._calibrate()
            return 0
        fresh = [e for e in exemplars if e.id not in self.index]
        if not fresh:
            return 0
        if vectors is None:
            vectors = self.material.encode([e.text for e in fresh], self.config.exemplar_kind)
        else:
            keep = [i for i, e in enumerate(exemplars) if e.id not in self.index]
            vectors = vectors[keep]
        added = self.index.add(fresh, vectors)
        for prepared in self._questions.values():
            prepared.contexts.clear()
        self._calibrate()
        return len(added)

    def _context(self, prepared: _Prepared, pool: ExemplarPool) -> QuestionContext:
        key = (pool.kind, len(pool))
        context = prepared.contexts.get(key)
        if context is None and not len(pool):
            context = prepared.contexts.get(("none", 0))
        if context is None:
            q = prepared.question
            context = self.fitter(
                build_context,
                exemplar_texts=[e.text for e in pool.exemplars],
                exemplar_vectors=pool.vectors,
                exemplar_ratings=[e.normalized for e in pool.exemplars],
                exemplar_classes=[_class_of(e.normalized) for e in pool.exemplars],
                n_classes=N_CLASSES,
                reference_texts=q.reference_answers,
                reference_vectors=prepared.reference_vectors,
                anchor_vectors=prepared.anchor_vectors,
                anchor_values=[level_to_normalized(level) for level in prepared.anchor_levels],
                question_text=q.text,
                question_vector=prepared.question_vector,
                extra_texts=[*q.anchors.values(), *q.talking_points],
                talking_points=q.talking_points,
                reference_tokens=prepared.reference_tokens,
                question_tokens=prepared.question_tokens,
            )
            # a pool of the same kind but another size is stale; the other kind's context stays
            kept = {k: v for k, v in prepared.contexts.items() if k[0] != key[0]}
            prepared.contexts = {**kept, key: context}
        return context

    def _tokens(
        self, context: QuestionContext, texts: Sequence[str], embedder: Embedder | None = None
    ) -> list[TokenStates] | None:
        """The answers' token states when the question's soft alignment needs them: one more pass
        of the model (MiniLM: a few ms per short answer), only for questions without exemplars."""
        if not context.reference_tokens:
            return None
        return token_states(embedder or self.material, texts)

    def _bare_rows(
        self, question_id: str, alone: QuestionContext, exemplars: Sequence[Exemplar], vectors: Matrix
    ) -> FloatArray:
        """Exemplars' feature rows as answers to a question without exemplars; they depend on the
        question and the exemplar alone, so each is computed once (an HR import adds only its own,
        and the soft alignment's model pass runs for new exemplars only)."""
        cache = self._bare_cache.setdefault(question_id, {})
        todo = [i for i, e in enumerate(exemplars) if e.text not in cache]
        if todo:
            texts = [exemplars[i].text for i in todo]
            rows = answer_features(
                alone, self._bare, texts, vectors[todo], answer_tokens=self._tokens(alone, texts)
            )
            cache.update(dict(zip(texts, rows, strict=True)))
        return np.stack([cache[e.text] for e in exemplars])

    def _calibrate(self) -> None:
        """Fit the stackers on leave-one-out feature rows of every exemplar of a known question."""
        full_rows: list[FloatArray] = []
        bare_rows: list[FloatArray] = []
        pair_rows: list[FloatArray] = []
        targets: list[float] = []
        groups: list[int] = []
        for number, (question_id, prepared) in enumerate(sorted(self._questions.items())):
            pool = self.index.pool(question_id, prepared.question.competency)
            own = [i for i, e in enumerate(pool.exemplars) if e.question_id == question_id]
            if not own:
                continue
            context = self._context(prepared, pool)
            texts = [pool.exemplars[i].text for i in own]
            vectors = pool.vectors[own]
            _, sims = self.index.search(question_id, prepared.question.competency, vectors)
            exclude = np.array(own, dtype=np.int64)
            full_rows.append(answer_features(context, self._full, texts, vectors, sims, exclude))
            # as a question without exemplars would be scored (same TF-IDF weights as at scoring time)
            alone = self._context(prepared, self._no_pool)
            bare_rows.append(self._bare_rows(question_id, alone, [pool.exemplars[i] for i in own], vectors))
            pair_rows.append(self._pairs(prepared, vectors))
            targets += [pool.exemplars[i].normalized for i in own]
            groups += [number] * len(own)
        # every question's scoring context now, so that no answer waits for one to be built
        for question_id, prepared in self._questions.items():
            self._context(prepared, self.index.pool(question_id, prepared.question.competency))
        self._calibrate_topics()
        self._stackers = {}
        if len(targets) < MIN_STACKER_ROWS or len(set(groups)) < 2:
            return
        y = np.array(targets)
        g = np.array(groups, dtype=np.int64)
        classes = np.array([_class_of(t) for t in targets], dtype=np.int64)
        pairs = np.vstack(pair_rows)
        kind, use_pairs = self.config.stacker, self.config.pairs
        self._stackers["full"] = self.fitter(
            fit_stacked, N_CLASSES, kind, use_pairs, np.vstack(full_rows), pairs, y, classes, g
        )
        self._stackers["bare"] = self.fitter(
            fit_stacked, N_CLASSES, kind, use_pairs, np.vstack(bare_rows), pairs, y, classes, g, True, True
        )

    def _calibrate_topics(self) -> None:
        """Per question, the material the on-topic check compares with, and how on-topic its own
        exemplars are (each left out of its own comparison)."""
        texts: list[str] = []
        for prepared in self._questions.values():
            texts += [source.text for source in prepared.sources]
        for prepared in self._questions.values():
            q = prepared.question
            pool = self.index.pool(q.id, q.competency)
            own = [i for i, e in enumerate(pool.exemplars) if e.question_id == q.id]
            texts += [pool.exemplars[i].text for i in own]
        self._vocabulary = Vocabulary(texts)
        materials = []
        for prepared in self._questions.values():
            q = prepared.question
            pool = self.index.pool(q.id, q.competency)
            own = [i for i, e in enumerate(pool.exemplars) if e.question_id == q.id]
            materials += [pool.vectors[own], prepared.reference_vectors, prepared.anchor_vectors]
            materials += [prepared.talking_point_vectors, prepared.question_vector[None, :]]
        self._centre = np.vstack(materials).mean(axis=0).astype(np.float32)
        for prepared in self._questions.values():
            q = prepared.question
            pool = self.index.pool(q.id, q.competency)
            own = [i for i, e in enumerate(pool.exemplars) if e.question_id == q.id]
            fixed = np.vstack(
                [
                    prepared.reference_vectors,
                    prepared.anchor_vectors,
                    prepared.talking_point_vectors,
                    prepared.question_vector[None, :],
                ]
            ).astype(np.float32)
            prepared.material = np.vstack([pool.vectors[own], fixed]).astype(np.float32) if own else fixed
            # the floors stay calibrated on the flow's own language: with every language's texts in
            # the material an English exemplar's neighbours rise, and so does the floor (two short
            # honest English answers fell below it on the dev sets)
            prepared.by_language = {}
            if prepared.topic_vectors is not None:
                written = [text_language(pool.exemplars[i].text) for i in own]
                languages = prepared.topic_languages
                for code in sorted(set(languages)):
                    rows = [pool.vectors[i] for i, w in zip(own, written, strict=True) if w == code]
                    rows += [v for v, c in zip(prepared.topic_vectors, languages, strict=True) if c == code]
                    prepared.by_language[code] = np.stack(rows).astype(np.float32)
            prepared.topic_floor = prepared.topic_median = prepared.centred_floor = None
            prepared.centred_material = self._centred(prepared.material)
            prepared.lexical_floor = 0.0
            if len(own) >= 5:
                vectors = pool.vectors[own]
                sims = vectors @ prepared.material.T
                sims[np.arange(len(own)), np.arange(len(own))] = -1.0  # never its own neighbour
                top = -np.sort(-sims, axis=1)[:, :3]
                values = top.mean(axis=1)
                prepared.topic_floor = float(values.min()) - self._topic_margin
                prepared.topic_median = float(np.median(values))
                if len(self._questions) >= 2:  # a centre of one question's texts says nothing
                    centred = self._centred(vectors) @ prepared.centred_material.T
                    centred[np.arange(len(own)), np.arange(len(own))] = -1.0
                    prepared.centred_floor = float((-np.sort(-centred, axis=1)[:, :3]).mean(axis=1).min())
                overlaps = [self._vocabulary.overlap(pool.exemplars[i].text, own=True) for i in own]
                prepared.lexical_floor = LEXICAL_FLOOR * float(min(overlaps))
        self._calibrate_other_work()

    def _calibrate_other_work(self) -> None:
        """Per language and kind of background (other occupations, life outside work), its texts that
        are not this role's own work, centred; per question and kind, how far its own exemplars (each
        left out) lean towards them (`OTHER_JOB_MARGINS`).

        The role's own work is the occupation that at least `OTHER_JOB_OWN_SHARE` of the role's
        exemplars in that language are closest to (software for an engineering role, selling for a
        sales role): a story of it is not "other work"."""
        self._other_work = {}
        own_by_question: dict[str, list[tuple[str, Vector]]] = {}
        for question_id, prepared in self._questions.items():
            pool = self.index.pool(question_id, prepared.question.competency)
            own_by_question[question_id] = [
                (text_language(e.text), pool.vectors[i])
                for i, e in enumerate(pool.exemplars)
                if e.question_id == question_id
            ]
        for (code, kind), (jobs, vectors) in self._background_vectors.items():
            written = [v for rows in own_by_question.values() for w, v in rows if w == code]
            if not len(vectors) or not written:
                continue
            nearest = np.bincount((np.stack(written) @ vectors.T).argmax(axis=1), minlength=len(jobs))
            keep = nearest < OTHER_JOB_OWN_SHARE * len(written)
            if keep.any():
                self._other_work[code, kind] = (
                    [j for j, k in zip(jobs, keep, strict=True) if k],
                    self._centred(vectors[keep]),
                )
        for question_id, prepared in self._questions.items():
            prepared.other_work_floors = {}
            rows = own_by_question[question_id]
            if len(rows) < 5:
                continue
            for code, vector in rows:
                material = prepared.by_language.get(code)
                if material is None:
                    continue
                material = material[(material @ vector) < 0.9999]  # never its own neighbour
                for kind, (value, _) in self._leanings(vector, material, code).items():
                    floors = prepared.other_work_floors
                    floors[kind] = max(value, floors.get(kind, value))

    def _leanings(self, vector: Vector, material: Matrix, code: str) -> dict[str, tuple[float, str]]:
        """Per kind of background in ``code`` (other work, life outside work): how far the answer leans
        towards it, with the role's centre taken away from every side (`_centred`), as its topic
        similarity to that kind's texts less its topic similarity to ``material``; and the closest
        topic. The answer and the material are centred once for every kind."""
        centred = self._centred(vector[None, :])
        own = float(topic_similarity(centred, self._centred(material))[0])
        out: dict[str, tuple[float, str]] = {}
        for (language, kind), (topics, texts) in self._other_work.items():
            if language == code:
                sims = centred @ texts.T
                out[kind] = (float(topic_similarity(centred, texts)[0]) - own, topics[int(sims.argmax())])
        return out

    def _centred(self, vectors: Matrix) -> Matrix:
        """Vectors less the role's centre (the mean of every question's material), normalised.

        Embedding models put any two texts of a kind close together (e5's cosines crowd into
        0.7..1: any story of a working day is near any other); what is left once the role's centre
        is taken away is what makes a text about one question rather than the role's others."""
        shifted = np.asarray(vectors, dtype=np.float32) - self._centre
        norms = np.linalg.norm(shifted, axis=1, keepdims=True)
        result: Matrix = shifted / np.maximum(norms, 1e-6)
        return result

    def _rubric_closeness(
        self, prepared: _Prepared, pool: ExemplarPool, vectors: Matrix, sims: FloatArray
    ) -> list[tuple[float, float]]:
        """Per answer: its best cosine to a rubric clause, and the mean of its 3 best cosines to the
        question's own rated answers (-1 without any), for `check_paraphrase`."""
        clauses = prepared.rubric_clause_vectors
        rubric = (
            (vectors @ clauses.T).max(axis=1)
            if clauses is not None and len(clauses)
            else np.full(len(vectors), -1.0)
        )
        own = [j for j, e in enumerate(pool.exemplars) if e.question_id == prepared.question.id]
        if own:
            top = -np.sort(-sims[:, own], axis=1)[:, : min(3, len(own))]
            rated = top.mean(axis=1)
        else:
            rated = np.full(len(vectors), -1.0)
        return [(float(a), float(b)) for a, b in zip(rubric, rated, strict=True)]

    def _off_topic(self, prepared: _Prepared, texts: list[str], vectors: Matrix) -> list[Check]:
        """Is each answer about this question: close enough to its own material, and not closer
        to another question's of the role?"""
        assert prepared.material is not None
        own = topic_similarity(vectors, prepared.material)
        centred = (
            topic_similarity(self._centred(vectors), prepared.centred_material)
            if prepared.centred_material is not None
            else np.full(len(vectors), np.inf)
        )
        others = [
            (p.question.id, topic_similarity(vectors, p.material))
            for p in self._questions.values()
            if p is not prepared and p.material is not None
        ]
        # this question against the others, each in the answer's language where every question has
        # material in it (a Chinese-first flow's English texts and English exemplars for an English
        # answer): across languages, every question is about as far, and the differences shrink
        compared = self._compared_in_language(prepared, texts, vectors)
        checks: list[Check] = []
        for i, text in enumerate(texts):
            value = float(own[i])
            floor = prepared.topic_floor if prepared.topic_floor is not None else self._offtopic
            nearest = max(others, key=lambda item: float(item[1][i]), default=None)
            mine, closest = compared[i] or (value, nearest)
            if value < floor:
                checks.append(
                    Check(
                        "off_topic",
                        False,
                        round(value, 4),
                        round(floor, 4),
                        "insufficient",
                        f"off-topic: similarity {value:.2f} to this question's rubric, reference and past "
                        f"answers is below the least of its past answers ({floor:.2f})",
                    )
                )
                continue
            if prepared.topic_median is not None and value < prepared.topic_median:
                overlap = self._vocabulary.overlap(text)
                if overlap < prepared.lexical_floor:
                    checks.append(
                        Check(
                            "off_topic",
                            False,
                            round(overlap, 4),
                            round(prepared.lexical_floor, 4),
                            "insufficient",
                            f"off-topic: few of the answer's words ({overlap:.0%}) are ones this role's "
                            "questions and answers use, and it is less similar to the question than "
                            "most past answers",
                        )
                    )
                    continue
            lexical = self._other_question_words(prepared, text) if closest is not None else None
            if closest is not None and float(closest[1][i]) > mine and lexical is not None:
                other_id, own_count, other_count = lexical
                checks.append(
                    Check(
                        "off_topic",
                        False,
                        float(other_count),
                        float(2 * own_count + OTHER_QUESTION_WORDS),
                        "insufficient",
                        f"off-topic: the answer is about another question of the interview ({other_id}): it "
                        f"uses {other_count} words only that question uses and {own_count} of this one's, "
                        "and is closer to it",
                        other_id,
                    )
                )
                continue
            if closest is not None and float(closest[1][i]) - mine > self._other_margin:
                checks.append(
                    Check(
                        "off_topic",
                        False,
                        round(float(closest[1][i]) - mine, 4),
                        self._other_margin,
                        "insufficient",
                        f"off-topic: the answer is about another question of the interview "
                        f"({closest[0]}) rather than this one",
                        closest[0],
                    )
                )
                continue
            if prepared.centred_floor is not None and float(centred[i]) < prepared.centred_floor:
                checks.append(
                    Check(
                        "off_topic",
                        False,
                        round(float(centred[i]), 4),
                        round(prepared.centred_floor, 4),
                        "insufficient",
                        "off-topic: set against the role's other questions, the answer is less about "
                        "this question than any of its past answers (similarity "
                        f"{float(centred[i]):.2f} once what all the role's texts share is taken away; "
                        f"the least of its past answers {prepared.centred_floor:.2f})",
                        "centred",
                    )
                )
                continue
            job = self._other_job(prepared, text, vectors[i])
            if job is not None:
                checks.append(job)
                continue
            checks.append(Check("on_topic", True, round(value, 4), round(floor, 4)))
        return checks

    def _list_on_topic(self, prepared: _Prepared, text: str, topic: Check, checks: Sequence[Check]) -> bool:
        """Whether a failed similarity floor (`_off_topic`: below the least exemplar, raw or centred)
        should yield to the list checks: the answer is a list of the role's own words
        (`LIST_ROLE_WORDS`)."""
        if topic.passed or topic.detail not in (None, "centred"):
            return False  # another question, another job, life outside work: off-topic as a list too
        if not any(not c.passed and c.name in LIST_CHECKS for c in checks):
            return False
        return self._vocabulary.overlap(text) >= max(prepared.lexical_floor, LIST_ROLE_WORDS)

    def _other_job(self, prepared: _Prepared, text: str, vector: Vector) -> Check | None:
        """Whose job is this? A failed check when the answer leans towards other occupations' work
        (`scoring.background`) more than any of the question's own exemplars, by the margin."""
        code = text_language(text)
        material = prepared.by_language.get(code)
        if material is None or count_words(text) < OTHER_JOB_MIN_WORDS:
            return None
        failing = []
        for kind, (value, topic) in self._leanings(vector, material, code).items():
            floor = prepared.other_work_floors.get(kind)
            if floor is None:
                continue
            limit = floor + self._job_margin
            if value > limit:
                failing.append((value - limit, kind, topic, value, limit, floor))
        if not failing:
            return None
        _, kind, topic, value, limit, floor = max(failing)  # the kind it leans towards most
        return self._other_work_check(kind, topic, value, limit, floor)

    @staticmethod
    def _other_work_check(kind: str, topic: str, value: float, limit: float, floor: float) -> Check:
        """The failed ``off_topic`` check of an answer that leans towards other work or life outside work."""
        what = "other work" if kind == WORK else "life outside work"
        return Check(
            "off_topic",
            False,
            round(value, 4),
            round(limit, 4),
            "insufficient",
            f"off-topic: the answer reads as an account of {what} (nearest: {topic}) more than as an "
            "answer to this question: set against what all the role's answers share, it is closer to such "
            f"accounts than to this question's rubric, reference and past answers, more than any of them "
            f"({value:+.3f}; its past answers at most {floor:+.3f})",
            "another job" if kind == WORK else "life outside work",
        )

    def _compared_in_language(
        self, prepared: _Prepared, texts: Sequence[str], vectors: Matrix
    ) -> list[tuple[float, tuple[str, FloatArray]] | None]:
        """Per answer: its topic similarity to this question and the closest other question (id and
        similarities), each over the material in the answer's language (`_Prepared.by_language`);
        None where some question has no material in that language (then all of it is compared)."""
        out: list[tuple[float, tuple[str, FloatArray]] | None] = []
        cache: dict[str, tuple[FloatArray, list[tuple[str, FloatArray]]]] = {}
        others = [p for p in self._questions.values() if p is not prepared]
        for i, text in enumerate(texts):
            code = text_language(text)
            if not others or any(code not in p.by_language for p in [prepared, *others]):
                out.append(None)
                continue
            if code not in cache:
                cache[code] = (
                    topic_similarity(vectors, prepared.by_language[code]),
                    [(p.question.id, topic_similarity(vectors, p.by_language[code])) for p in others],
                )
            own, rest = cache[code]
            closest = max(rest, key=lambda item: float(item[1][i]))
            out.append((float(own[i]), closest))
        return out

    def _other_question_words(self, prepared: _Prepared, text: str) -> tuple[str, int, int] | None:
        """(other question, words of this question's own, words of that one's) when the answer uses
        another question's own words (content units no other question of the flow uses) at least
        `OTHER_QUESTION_WORDS` more than twice as often as this question's; else None."""
        distinct = self._distinct_units()
        found = content_units(text)
        own = len(found & distinct.get(prepared.question.id, set()))
        best = max(
            ((len(found & units), qid) for qid, units in distinct.items() if qid != prepared.question.id),
            default=(0, ""),
        )
        if best[0] >= 2 * own + OTHER_QUESTION_WORDS:
            return best[1], own, best[0]
        return None

    def _distinct_units(self) -> dict[str, set[str]]:
        """Per question: the content units of its own texts that no other question of the flow uses."""
        if self._distinct is None:
            every = {qid: p.question_units for qid, p in self._questions.items()}
            self._distinct = {
                qid: units - set().union(*(u for other, u in every.items() if other != qid))
                for qid, units in every.items()
            }
        return self._distinct

    def _pairs(self, prepared: _Prepared, vectors: Matrix) -> FloatArray:
        """Pair-model input: the answer, its closest reference (or top anchor) and the question."""
        targets = prepared.reference_vectors
        if not len(targets) and len(prepared.anchor_vectors):
            targets = prepared.anchor_vectors[-1:]
        closest = targets[(vectors @ targets.T).argmax(axis=1)] if len(targets) else np.zeros_like(vectors)
        asked = np.broadcast_to(prepared.question_vector, vectors.shape)
        return pair_vectors(vectors.astype(np.float64), closest.astype(np.float64), asked.astype(np.float64))

    # ---- scoring ----------------------------------------------------------------------------

    def insufficient_reason(self, answer_text: str, question_id: str | None = None) -> str | None:
        """Why an answer cannot be scored from its text alone (before any similarity), or None.

        With ``question_id`` (and checks on), the text checks run too: the flow's languages,
        padding, and copies of the question's own texts."""
        failed = self._text_checks(answer_text, question_id)
        return next((c.reason for c in failed if not c.passed and c.action == "insufficient"), None)

    def _text_checks(self, answer_text: str, question_id: str | None) -> list[Check]:
        basic = self._basic_reason(answer_text)
        if basic is not None:
            return [Check(basic.split(":", 1)[0], False, action="insufficient", reason=basic)]
        prepared = self._questions.get(question_id or "")
        if not self.config.checks or prepared is None:
            return []
        steps: list[Callable[[], Check]] = [
            lambda: check_language(answer_text, self._answer_languages),
            lambda: check_padding(answer_text),
            lambda: check_copy(answer_text, prepared.sources),
            lambda: check_restated(answer_text, prepared.sources, self._framing),
        ]
        checks: list[Check] = []
        for step in steps:
            checks.append(step())
            if checks[-1].action == "insufficient" and not checks[-1].passed:
                break  # the first reason not to score is the one given
        return checks

    def _basic_reason(self, answer_text: str) -> str | None:
        text = answer_text.strip()
        if not text:
            return "empty"
        visible = [ch for ch in text if not ch.isspace()]
        letters = sum(ch.isalpha() for ch in visible)
        if letters / len(visible) < self.config.min_letter_share:
            return "unreadable: mostly not letters"
        cjk = len(_CJK.findall(text))
        latin = len(_LATIN.findall(text))
        if cjk > latin and "zh" not in self._languages:
            readable = ", ".join(sorted(self._languages))
            return f"language: the model {self.embedder.model_id} reads {readable} only"
        if cjk + latin < letters * 0.5:
            return "language: mostly a script the model cannot read"
        if count_words(text) < self.config.min_words:
            return f"too short: fewer than {self.config.min_words} words"
        return None

    def score(
        self,
        question_id: str,
        answer_text: str,
        vector: Vector | None = None,
        flow_version: str | None = None,
    ) -> ScoreResult:
        """Score one answer; pass ``vector`` (``kind="query"``) when the answer is already embedded."""
        vectors = None if vector is None else np.asarray(vector, dtype=np.float32).reshape(1, -1)
        return self.score_many(question_id, [answer_text], vectors, flow_version)[0]

    def score_many(
        self,
        question_id: str,
        answer_texts: Sequence[str],
        vectors: Matrix | None = None,
        flow_version: str | None = None,
    ) -> list[ScoreResult]:
        """Score several answers to one question in one batch (one embedding call at most)."""
        try:
            prepared = self._questions[question_id]
        except KeyError:
            raise KeyError(
                f"unknown question {question_id!r}; the scorer knows {sorted(self._questions)}"
            ) from None
        q = prepared.question
        text_checks = [self._text_checks(t, question_id) for t in answer_texts]
        reasons = [
            next((c.reason for c in checks if not c.passed and c.action == "insufficient"), None)
            for checks in text_checks
        ]
        todo = [i for i, reason in enumerate(reasons) if reason is None]
        if vectors is None:
            vectors = self.embedder.encode([answer_texts[i] for i in todo], "query")
            mine = dict(zip(todo, vectors, strict=True))
        else:
            if len(vectors) != len(answer_texts):
                raise ValueError(f"{len(answer_texts)} answers but {len(vectors)} vectors")
            mine = {i: vectors[i] for i in todo}
        results: list[ScoreResult | None] = [None] * len(answer_texts)
        for i, reason in enumerate(reasons):
            if reason is not None:
                results[i] = self._unscored(q, reason, flow_version, text_checks[i])
        if todo:
            batch = np.stack([mine[i] for i in todo]).astype(np.float32)
            texts = [answer_texts[i] for i in todo]
            scored = self._score_batch(prepared, texts, batch, flow_version, [text_checks[i] for i in todo])
            for i, result in zip(todo, scored, strict=True):
                results[i] = result
        return [r for r in results if r is not None]

    def _unscored(
        self, q: RubricQuestion, reason: str, flow_version: str | None, checks: Sequence[Check] = ()
    ) -> ScoreResult:
        return ScoreResult(
            q.id,
            q.competency,
            None,
            None,
            0.0,
            reason,
            Evidence(checks=list(checks)),
            self.embedder.model_id,
            flow_version,
        )

    def _score_batch(
        self,
        prepared: _Prepared,
        texts: list[str],
        vectors: Matrix,
        flow_version: str | None,
        text_checks: Sequence[Sequence[Check]],
    ) -> list[ScoreResult]:
        q = prepared.question
        pool, sims = self.index.search(q.id, q.competency, vectors)
        context = self._context(prepared, pool)
        has_pool = len(pool) > 0
        schema = self._full if has_pool else self._bare
        # once: features and talking points share it
        lexical = context.match(context.lexicon.encode(texts))
        x = answer_features(
            context,
            schema,
            texts,
            vectors,
            sims if has_pool else None,
            lexical=lexical,
            answer_tokens=None if has_pool else self._tokens(context, texts, self.embedder),
        )
        column = self._columns[has_pool]
        stacker = self._stackers.get("full" if has_pool else "bare")
        if stacker is not None:
            predicted = stacker.predict(x, self._pairs(prepared, vectors))
            method = "stacker"
            error = stacker.cv_rmse if not math.isnan(stacker.cv_rmse) else 0.25
        elif has_pool:
            predicted, method, error = x[:, column["knn_rating"]], "knn", 0.3
        elif len(prepared.anchor_vectors):
            predicted, method, error = x[:, column["anchor_expected"]], "anchors", 0.35
        else:
            predicted, method, error = np.full(len(texts), np.nan), "none", 1.0
        relevance = self._relevance(prepared, vectors, sims)
        covered = self._talking_points(prepared, context, texts, vectors, lexical)
        topic = self._off_topic(prepared, texts, vectors) if self.config.checks else [None] * len(texts)
        closeness = self._rubric_closeness(prepared, pool, vectors, sims) if self.config.checks else []
        results: list[ScoreResult] = []
        for i in range(len(texts)):
            checks = list(text_checks[i])
            topic_check = topic[i]
            if topic_check is not None:
                checks.append(topic_check)
            if self.config.checks:
                named = {c.name for c in checks if not c.passed}
                checks += [
                    c
                    for c in check_narrative(texts[i], prepared.question.talking_points, prepared.behavioural)
                    if c.passed or c.name not in named
                ]
                checks.append(check_paraphrase(texts[i], prepared.rubric_units, *closeness[i]))
                if prepared.behavioural:
                    checks.append(check_specifics(texts[i], prepared.question_units))
                if topic_check is not None and self._list_on_topic(prepared, texts[i], topic_check, checks):
                    kept = Check("on_topic", True, topic_check.value, topic_check.threshold, detail="a list")
                    checks[checks.index(topic_check)] = topic_check = kept
            evidence = Evidence(
                checks=checks,
                exemplars=self._nearest(pool, sims[i]),
                pool=pool.kind,
                method=method,
                relevance=float(relevance[i]),
                talking_points_covered=[t for t in covered[i] if t.covered],
                talking_points_missed=[t for t in covered[i] if not t.covered],
                **self._anchor(prepared, vectors[i]),
            )
            if topic_check is not None and not topic_check.passed and topic_check.reason:
                results.append(
                    ScoreResult(
                        q.id,
                        q.competency,
                        None,
                        None,
                        0.0,
                        topic_check.reason,
                        evidence,
                        self.embedder.model_id,
                        flow_version,
                    )
                )
                continue
            if relevance[i] < self._offtopic:
                results.append(
                    ScoreResult(
                        q.id,
                        q.competency,
                        None,
                        None,
                        0.0,
                        f"off-topic: similarity {relevance[i]:.2f} to the question and its rubric is below "
                        f"{self._offtopic:.2f}",
                        evidence,
                        self.embedder.model_id,
                        flow_version,
                    )
                )
                continue
            if math.isnan(predicted[i]):
                results.append(
                    ScoreResult(
                        q.id,
                        q.competency,
                        None,
                        None,
                        0.0,
                        "no exemplars, anchors or reference answers to compare with",
                        evidence,
                        self.embedder.model_id,
                        flow_version,
                    )
                )
                continue
            level = normalized_to_level(float(predicted[i]))
            top = float(x[i, column["top1_sim"]]) if has_pool else 0.0
            confidence = self._confidence(error, sims[i], pool, context, top, has_pool)
            result = ScoreResult(
                q.id,
                q.competency,
                round(level, 3),
                max(LEVELS[0], min(LEVELS[-1], round(level))),
                round(confidence, 3),
                None,
                evidence,
                self.embedder.model_id,
                flow_version,
            )
            results.append(apply_caps(result))
        return results

    def _relevance(self, prepared: _Prepared, vectors: Matrix, sims: FloatArray) -> FloatArray:
        parts = [vectors @ prepared.question_vector]
        for block in (prepared.anchor_vectors, prepared.reference_vectors):
            if len(block):
                parts.append((vectors @ block.T).max(axis=1))
        if sims.shape[1]:
            parts.append(np.where(np.isfinite(sims), sims, -1.0).max(axis=1))
        relevance: FloatArray = np.max(np.column_stack(parts), axis=1).astype(np.float64)
        return relevance

    def _confidence(
        self,
        error: float,
        sims: FloatArray,
        pool: ExemplarPool,
        context: QuestionContext,
        top: float,
        has_pool: bool,
    ) -> float:
        """0..1 from the stacker's cross-validated error, neighbour agreement and closeness.

        ``base`` maps the CV error on the 0..1 scale to trust (0.1 error -> 0.8, 0.35+ -> 0.3
        and below); agreement is 1 minus twice the similarity-weighted spread of the nearest
        ratings; closeness scales with how similar the best exemplar is, relative to the
        off-topic threshold. Questions scored without exemplars get at most half the trust.
        """
        base = _clip(1.0 - 2.0 * error, 0.05, 0.95)
        if not has_pool:
            return base * 0.5
        finite = np.isfinite(sims)
        k = min(10, int(finite.sum()))
        if k == 0:
            return base * 0.5
        order = np.argsort(-np.where(finite, sims, -np.inf))[:k]
        ratings = context.exemplar_ratings[order]  # the pool's normalised ratings
        weights = np.exp((sims[order] - sims[order[0]]) / 0.05)
        # np.average's arithmetic, and np.clip's, without their overhead
        total = float(weights.sum())
        mean = float((ratings * weights).sum() / total)
        spread = math.sqrt(float(((ratings - mean) ** 2 * weights).sum() / total))
        agreement = _clip(1.0 - 2.0 * spread, 0.0, 1.0)
        closeness = _clip((top - self._offtopic) / max(1.0 - self._offtopic, 1e-6) * 1.5, 0.0, 1.0)
        scale = 1.0 if pool.kind == "question" else 0.7
        return base * (0.5 + 0.5 * agreement) * (0.5 + 0.5 * closeness) * scale

    def _nearest(self, pool: ExemplarPool, sims: FloatArray) -> list[ExemplarEvidence]:
        if not len(pool):
            return []
        order = np.argsort(-np.where(np.isfinite(sims), sims, -np.inf), kind="stable")
        out: list[ExemplarEvidence] = []
        for j in order[: self.config.evidence_exemplars]:
            if not np.isfinite(sims[j]):
                break
            e = pool.exemplars[j]
            out.append(
                ExemplarEvidence(e.id, e.question_id, round(float(sims[j]), 4), e.rating, round(e.level, 3))
            )
        return out

    def _anchor(self, prepared: _Prepared, vector: Vector) -> dict[str, Any]:
        if not len(prepared.anchor_vectors):
            return {}
        sims = prepared.anchor_vectors @ vector
        best = int(np.argmax(sims))
        return {
            "anchor_level": prepared.anchor_levels[best],
            "anchor_similarity": round(float(sims[best]), 4),
        }

    def _talking_points(
        self,
        prepared: _Prepared,
        context: QuestionContext,
        texts: list[str],
        vectors: Matrix,
        lexical: LexicalMatch,
    ) -> list[list[TalkingPointEvidence]]:
        points = prepared.question.talking_points
        if not points:
            return [[] for _ in texts]
        best = (vectors @ prepared.talking_point_vectors.T).astype(np.float64)
        if self.config.talking_point_sentences:
            sentences: list[str] = []
            owner: list[int] = []
            for i, text in enumerate(texts):
                parts = [p for p in (s.strip() for s in _SENTENCES.split(text)) if p]
                if len(parts) > 1:
                    sentences += parts
                    owner += [i] * len(parts)
            if sentences:
                sentence_sims = self.embedder.encode(sentences, "query") @ prepared.talking_point_vectors.T
                for row, i in zip(sentence_sims, owner, strict=True):
                    best[i] = np.maximum(best[i], row)
        # lexical recall catches a point named in other words than the embedding expects
        recall = context.talking_point_recall(lexical)
        out: list[list[TalkingPointEvidence]] = []
        for i in range(len(texts)):
            out.append(
                [
                    TalkingPointEvidence(
                        point,
                        round(float(best[i, j]), 4),
                        bool(best[i, j] >= self._tp_threshold or recall[i, j] >= 0.8),
                    )
                    for j, point in enumerate(points)
                ]
            )
        return out
