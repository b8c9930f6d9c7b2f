"""Practice feedback on one answer: rubric level, talking points, STAR structure and delivery.

What a practising candidate sees straight after an answer (like Google's Interview Warmup, but
against the role's rubric): the level the scorer gave and what that level means for this question,
the talking points covered and missed, which parts of a STAR answer (situation, task, action,
result) are there, delivery from the text (length against strong answers, filler words and hedges,
repeated words, readability, job-related terms and most-used words), one concrete suggestion, and,
after a retry, what changed. `build_feedback` returns a JSON-ready `AnswerFeedback`; `render` and
`render_comparison` turn results into short candidate-facing text in English or Chinese.

Strong exemplars (real people's rated answers) feed statistics only: the length range and the
vocabulary that marks a term as job-related. Nothing from an exemplar is shown: talking points come
from the question (its talking points, else clauses of its level-5 rubric anchor), and the words
listed are the candidate's own.

Units: English counts words. Chinese counts characters (each Chinese character is one unit, each
Latin word or number one more), because that is how Chinese speakers measure text (字数); rates
such as fillers "per 100" are then per 100 characters, and the length range of strong answers is
computed in the same unit, so every comparison is like for like.

Everything here is deterministic: regular expressions, counts and fixed thresholds; no model.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from flows.schema import Competency, Language, Question, Texts

StarName = Literal["situation", "task", "action", "result"]
STAR_PARTS: tuple[StarName, ...] = ("situation", "task", "action", "result")
SUGGESTION_ORDER: tuple[StarName, ...] = ("action", "result", "situation", "task")
"""Which missing STAR part to suggest first: the candidate's own actions matter most, then the
result; the task is often implied by the question (strong sample answers state it in words less
than half the time), so its advice comes after fillers and missed talking points."""

LEVEL_COUNT = 5
LENGTH_QUANTILES = (25, 75)
"""The length range is the 25th..75th percentile of the strong exemplars' lengths."""
MIN_EXEMPLARS_FOR_RANGE = 3
DEFAULT_LENGTH_RANGE: dict[str, tuple[int, int]] = {"en": (100, 200), "zh": (150, 300)}
"""Used when a question has fewer strong exemplars than `MIN_EXEMPLARS_FOR_RANGE`: about one to two
minutes of speech (the middle half of the sample exemplars rated 4-5: 105-180 words, 155-260
characters)."""
FAR_TOO_SHORT = 0.5
"""Below this share of the range's low end, expanding the answer is the suggestion."""
FILLER_HEAVY_PER_100: dict[str, float] = {"en": 3.0, "zh": 2.0}
"""Filler rate at which cutting fillers becomes advice. Strong sample answers stay under 1 (en) and
1.5 (zh); a habit of um/like/然后 in every sentence is 5 and more."""
OVERUSED_MIN = 4
OVERUSED_SHARE = 0.05
"""A content word is overused when it appears at least this often and makes up this share of the
answer (words of the question's job vocabulary are exempt: using them is expected)."""
TALKING_POINT_RECALL = 0.5
"""Lexical fallback: a talking point counts as covered when the answer holds this share of its terms."""
JOB_VOCABULARY_SIZE = 80
MIN_ANSWER_SHARE = 0.2
"""A term outside the question's wording joins the job vocabulary when this share of the strong
answers (and at least three) use it."""
HARD_READING_EASE = 40.0
"""English: Flesch reading ease below this reads as hard for a spoken answer (30-50 is 'difficult')."""
LONG_SENTENCE: dict[str, float] = {"en": 30.0, "zh": 50.0}
"""Mean sentence length (words / characters) above which sentences are long for a listener."""
LIST_LIMIT = 8

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)*(?:-[A-Za-z0-9]+)*")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_ZH_SENTENCE_END = re.compile(r"[。！？!?；;\n]+")
_PUNCT_ZH = set("，,。.！!？?；;：:、…—-（）()\"“”‘’'《》【】[]·~～ \t\n")


def _word_list(words: str) -> list[str]:
    """A whitespace-separated word list (long lists read better as text than as literals)."""
    return words.split()


# ---- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WordCount:
    word: str
    count: int


@dataclass(frozen=True)
class RubricLevel:
    """The scorer's verdict and what it means for this question.

    Attributes:
        level: rubric level 1..5, None when the answer was not scored.
        score: the scorer's continuous level (1.0..5.0), if any.
        confidence: the scorer's confidence 0..1, if any.
        anchor: the question's anchor for ``level``, shortened to one line, per language.
        insufficient: the scorer's reason for not scoring (its own wording), if any.
        insufficient_kind: ``empty``, ``unreadable``, ``language``, ``too_short``, ``off_topic``,
            ``padded``, ``copy``, ``restated``, ``unscorable`` or ``not_scored`` (no score result
            was given); None when scored.
        capped_by: the answer checks that held the level at 2 or below (`CAP_FLAGS`): why, in a
            word, the answer could not score higher whatever it mentions.
    """

    level: int | None
    score: float | None
    confidence: float | None
    anchor: Texts
    insufficient: str | None
    insufficient_kind: str | None
    of: int = LEVEL_COUNT
    capped_by: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RubricLevel:
        return cls(
            level=data.get("level"),
            score=data.get("score"),
            confidence=data.get("confidence"),
            anchor=dict(data.get("anchor") or {}),
            insufficient=data.get("insufficient"),
            insufficient_kind=data.get("insufficient_kind"),
            of=int(data.get("of", LEVEL_COUNT)),
            capped_by=tuple(data.get("capped_by") or ()),
        )


@dataclass(frozen=True)
class TalkingPoint:
    """A point a good answer makes (from the question, never from an exemplar).

    ``similarity`` is the scorer's (embedding) evidence; ``overlap`` the share of the point's terms
    found in the answer when coverage was computed lexically.
    """

    text: Texts
    covered: bool
    similarity: float | None = None
    overlap: float | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TalkingPoint:
        return cls(dict(data["text"]), bool(data["covered"]), data.get("similarity"), data.get("overlap"))


@dataclass(frozen=True)
class StarPart:
    """One STAR part; ``cues`` are the phrases of the answer that showed it (at most three)."""

    part: StarName
    present: bool
    cues: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StarPart:
        return cls(data["part"], bool(data["present"]), list(data.get("cues", [])))


@dataclass(frozen=True)
class Length:
    """The answer's length against the range of strong answers (``source`` says where it came from)."""

    count: int
    unit: Literal["words", "characters"]
    low: int
    high: int
    source: Literal["exemplars", "default"]
    status: Literal["short", "ok", "long"]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Length:
        return cls(
            int(data["count"]),
            data["unit"],
            int(data["low"]),
            int(data["high"]),
            data["source"],
            data["status"],
        )


@dataclass(frozen=True)
class Fillers:
    """Filler words and hedges, with the rate per 100 length units (words, or Chinese characters)."""

    count: int
    per_100: float
    found: list[WordCount]
    heavy: bool

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fillers:
        return cls(
            int(data["count"]),
            float(data["per_100"]),
            [WordCount(w["word"], int(w["count"])) for w in data.get("found", [])],
            bool(data["heavy"]),
        )


@dataclass(frozen=True)
class Readability:
    """English: Flesch reading ease and Flesch-Kincaid grade (textstat's formulas) and words per
    sentence. Chinese: mean sentence length in characters (Flesch does not apply)."""

    sentences: int
    mean_sentence_length: float
    unit: Literal["words", "characters"]
    reading_ease: float | None
    grade: float | None
    status: Literal["ok", "hard", "long_sentences", "empty"]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Readability:
        return cls(
            int(data["sentences"]),
            float(data["mean_sentence_length"]),
            data["unit"],
            data.get("reading_ease"),
            data.get("grade"),
            data["status"],
        )


PACE_RANGE: dict[str, tuple[int, int]] = {"en": (110, 170), "zh": (180, 300)}
"""Comfortable speaking pace for an interview answer: words a minute in English, characters a
minute in Chinese (conversational English is about 120-160 wpm; Mandarin about 200-280 characters)."""
LONG_PAUSES_NOTED = 2
"""This many long pauses in one answer, or one of `VERY_LONG_PAUSE` seconds, is worth a remark."""
VERY_LONG_PAUSE = 5.0


@dataclass(frozen=True)
class Speech:
    """How a spoken answer was delivered: pace over the time from the first to the last word,
    and the long silences inside it (``pauses``, seconds, from the recogniser's voice detection)."""

    pace: int
    unit: Literal["words", "characters"]
    low: int
    high: int
    status: Literal["slow", "ok", "fast"]
    seconds: float
    pauses: list[float]
    pauses_noted: bool

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Speech:
        return cls(
            int(data["pace"]),
            data["unit"],
            int(data["low"]),
            int(data["high"]),
            data["status"],
            float(data["seconds"]),
            [float(p) for p in data.get("pauses", [])],
            bool(data.get("pauses_noted")),
        )


def speech_delivery(spoken: Mapping[str, Any] | None, language: Language) -> Speech | None:
    """Pace and long pauses of a spoken answer from the recogniser's facts (``text`` of the
    recording, ``speech_seconds``, ``pauses``); None for a typed answer or one too short to judge."""
    if not spoken:
        return None
    seconds = float(spoken.get("speech_seconds") or 0.0)
    count = answer_length(str(spoken.get("text") or ""))
    if seconds < 3.0 or count == 0:
        return None
    pace = round(count / (seconds / 60.0))
    low, high = PACE_RANGE[language]
    status: Literal["slow", "ok", "fast"] = "slow" if pace < low else "fast" if pace > high else "ok"
    pauses = [round(float(p), 1) for p in spoken.get("pauses") or []]
    noted = len(pauses) >= LONG_PAUSES_NOTED or any(p >= VERY_LONG_PAUSE for p in pauses)
    unit: Literal["words", "characters"] = "words" if language == "en" else "characters"
    return Speech(pace, unit, low, high, status, round(seconds, 1), pauses, noted)


@dataclass(frozen=True)
class Delivery:
    length: Length
    fillers: Fillers
    repeated: list[str]
    """Immediate repetitions as written, e.g. ``the the``, ``这个这个``."""
    overused: list[WordCount]
    readability: Readability
    job_terms: list[str]
    """The candidate's words that belong to this question's job vocabulary, most specific first."""
    top_words: list[WordCount]
    """The candidate's most-used content words (stopwords and fillers excluded)."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Delivery:
        return cls(
            Length.from_dict(data["length"]),
            Fillers.from_dict(data["fillers"]),
            list(data.get("repeated", [])),
            [WordCount(w["word"], int(w["count"])) for w in data.get("overused", [])],
            Readability.from_dict(data["readability"]),
            list(data.get("job_terms", [])),
            [WordCount(w["word"], int(w["count"])) for w in data.get("top_words", [])],
        )


@dataclass(frozen=True)
class Suggestion:
    """The single most useful next step.

    ``kind``: ``example`` (not scorable: give a real example), ``expand`` (far too short), ``star``
    (a STAR part is missing), ``fillers``, ``talking_point``, ``tighten`` (long) or ``keep``.
    ``params`` hold what the text needs, so it can be rendered in either language; ``text`` is the
    suggestion in the answer's language.
    """

    kind: str
    params: dict[str, Any]
    text: str

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Suggestion:
        return cls(data["kind"], dict(data.get("params", {})), data.get("text", ""))


@dataclass(frozen=True)
class AnswerFeedback:
    """Feedback on one practice answer; `to_dict` is JSON-ready and `from_dict` reads it back."""

    question_id: str
    competency: str
    competency_name: Texts
    language: Language
    rubric: RubricLevel
    talking_points: list[TalkingPoint]
    talking_points_source: Literal["scorer", "lexical", "none"]
    star: list[StarPart]
    delivery: Delivery
    suggestion: Suggestion
    speech: Speech | None = None
    """Pace and long pauses, for an answer given by voice."""

    @property
    def covered(self) -> list[TalkingPoint]:
        return [p for p in self.talking_points if p.covered]

    @property
    def missed(self) -> list[TalkingPoint]:
        return [p for p in self.talking_points if not p.covered]

    @property
    def star_missing(self) -> list[StarName]:
        return [p.part for p in self.star if not p.present]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["star_missing"] = list(self.star_missing)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnswerFeedback:
        return cls(
            question_id=data["question_id"],
            competency=data["competency"],
            competency_name=dict(data.get("competency_name") or {}),
            language=data["language"],
            rubric=RubricLevel.from_dict(data["rubric"]),
            talking_points=[TalkingPoint.from_dict(p) for p in data.get("talking_points", [])],
            talking_points_source=data.get("talking_points_source", "none"),
            star=[StarPart.from_dict(p) for p in data["star"]],
            delivery=Delivery.from_dict(data["delivery"]),
            suggestion=Suggestion.from_dict(data["suggestion"]),
            speech=Speech.from_dict(data["speech"]) if data.get("speech") else None,
        )


@dataclass(frozen=True)
class FeedbackComparison:
    """What changed between two attempts at the same question (`compare`)."""

    question_id: str
    language: Language
    level_before: int | None
    level_after: int | None
    level_change: int | None
    """After minus before; None when either attempt was not scored."""
    star_added: list[StarName]
    star_lost: list[StarName]
    fillers_before: float
    fillers_after: float
    fillers_change: float
    length_before: int
    length_after: int
    length_change: int
    unit: Literal["words", "characters"]
    talking_points_new: list[Texts]
    talking_points_lost: list[Texts]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- the feedback -------------------------------------------------------------------------------


def build_feedback(
    answer: str,
    language: Language,
    question: Question,
    score: Mapping[str, Any] | None,
    strong_exemplars: Sequence[str] = (),
    *,
    competency: Competency | None = None,
    other_questions: Sequence[Question] = (),
    background_texts: Sequence[str] = (),
    speech: Mapping[str, Any] | None = None,
) -> AnswerFeedback:
    """Feedback on one answer to ``question``.

    Args:
        answer: the candidate's answer (main answer and follow-ups joined).
        language: the answer's language, ``en`` or ``zh``; the suggestion is written in it.
        question: the flow's question (its rubric, talking points and reference answers).
        score: the scorer's result: `ScoreResult.to_dict()`, or the engine's stored form (with
            ``rounded_level`` inside ``evidence``); None when no scorer served the answer.
        strong_exemplars: texts of exemplars of this question rated 4 or more, in ``language``;
            used for the length range and the job vocabulary only, never shown.
        competency: the question's competency from the flow, for its name.
        other_questions: the flow's other questions (this one is skipped): their texts, rubric,
            talking points and reference answers are the background that job-related terms are
            contrasted with.
        background_texts: more background, e.g. exemplar answers to the other questions (the
            same genre as the answer, so everyday narrative words cancel out); statistics only.
        speech: for an answer given by voice, the recogniser's facts about the recording
            (``text``, ``speech_seconds``, ``pauses``): pace and long pauses (`speech_delivery`).
    """
    if language not in ("en", "zh"):
        raise ValueError(f"feedback language must be 'en' or 'zh', not {language!r}")
    rubric = _rubric_level(question, score)
    points, source = _talking_points(answer, language, question, score)
    star = star_parts(answer, language)
    vocabulary = job_vocabulary(language, question, strong_exemplars, other_questions, background_texts)
    delivery = _delivery(answer, language, strong_exemplars, vocabulary)
    feedback = AnswerFeedback(
        question_id=question.id,
        competency=question.competency,
        competency_name=dict(competency.name) if competency is not None else {},
        language=language,
        rubric=rubric,
        talking_points=points,
        talking_points_source=source,
        star=star,
        delivery=delivery,
        suggestion=Suggestion("keep", {}, ""),
        speech=speech_delivery(speech, language),
    )
    kind, params = _choose_suggestion(feedback, question)
    suggestion = Suggestion(kind, params, _suggestion_text(kind, params, language, delivery.length.unit))
    return replace(feedback, suggestion=suggestion)


# ---- rubric level -------------------------------------------------------------------------------


def _rubric_level(question: Question, score: Mapping[str, Any] | None) -> RubricLevel:
    if score is None:
        return RubricLevel(None, None, None, {}, None, "not_scored")
    evidence = score.get("evidence") or {}
    reason = score.get("insufficient")
    raw = score.get("level")
    rounded = score.get("rounded_level", evidence.get("rounded_level"))
    if rounded is None and raw is not None:
        rounded = round(float(raw))
    if reason is not None or rounded is None:
        kind = insufficient_kind(reason) if reason is not None else "unscorable"
        return RubricLevel(None, None, None, {}, reason, kind)
    level = max(1, min(LEVEL_COUNT, int(rounded)))
    anchors = question.rubric.get(level, {})
    anchor = {code: one_line(text, code) for code, text in anchors.items() if text.strip()}
    confidence = score.get("confidence")
    return RubricLevel(
        level,
        None if raw is None else round(float(raw), 2),
        None if confidence is None else round(float(confidence), 2),
        anchor,
        None,
        None,
        capped_by=tuple(capped_by(score)),
    )


def insufficient_kind(reason: str) -> str:
    """The kind of a scorer's reason for not scoring: ``off_topic``, ``language``, ``padded``, ``copy``,
    ``restated``, ``too_short`` ... (``unscorable`` when unknown)."""
    head = reason.split(":", 1)[0].strip().lower()
    return {
        "empty": "empty",
        "unreadable": "unreadable",
        "language": "language",
        "too short": "too_short",
        "off-topic": "off_topic",
        "padded": "padded",
        "copy": "restated" if "restates the question" in reason else "copy",
    }.get(head, "unscorable")


CAP_FLAGS = (
    "keyword_list",
    "talking_points",
    "rubric_paraphrase",
    "no_first_person",
    "generic",
    "near_duplicate",
)
"""Failed checks that cap a level (`scoring.checks`), in the order the candidate is told about them."""


def capped_by(score: Mapping[str, Any] | None) -> list[str]:
    """Names of the failed checks that capped this score's level, most telling first."""
    if score is None:
        return []
    checks = (score.get("evidence") or {}).get("checks") or []
    failed = {c.get("name") for c in checks if isinstance(c, Mapping) and not c.get("passed", True)}
    failed = {name for name in failed if name in CAP_FLAGS}
    return [name for name in CAP_FLAGS if name in failed]


def one_line(text: str, language: str, limit: int | None = None) -> str:
    """The first sentence of an anchor, cut at a clause boundary to fit one line."""
    limit = limit or (110 if language == "en" else 50)
    text = " ".join(text.split())
    first = re.split(r"(?<=[.!?])\s+|(?<=[。！？])", text, maxsplit=1)[0].rstrip(".。")
    if len(first) <= limit:
        return first
    head = first[:limit]
    cut = max(head.rfind(mark) for mark in (", ", "; ", "，", "；", "、", "("))
    if cut < limit // 3:
        cut = head.rfind(" ") if language == "en" else limit
    if cut <= 0:
        cut = limit
    return head[:cut].rstrip(" ,;，；、(") + "…"


# ---- talking points -----------------------------------------------------------------------------


def _talking_points(
    answer: str, language: Language, question: Question, score: Mapping[str, Any] | None
) -> tuple[list[TalkingPoint], Literal["scorer", "lexical", "none"]]:
    evidence = (score or {}).get("evidence") or {}
    covered = evidence.get("talking_points_covered") or []
    missed = evidence.get("talking_points_missed") or []
    if covered or missed:
        by_index: dict[int, TalkingPoint] = {}
        unknown: list[TalkingPoint] = []
        for item, is_covered in [(c, True) for c in covered] + [(m, False) for m in missed]:
            text = str(item.get("text", "")).strip()
            similarity = item.get("similarity")
            similarity = None if similarity is None else round(float(similarity), 3)
            index = _point_index(question, text)
            if index is None:
                unknown.append(TalkingPoint({_guess_language(text): text}, is_covered, similarity))
            else:
                by_index[index] = TalkingPoint(dict(question.talking_points[index]), is_covered, similarity)
        return [by_index[i] for i in sorted(by_index)] + unknown, "scorer"
    points = [dict(p) for p in question.talking_points] or _anchor_points(question, language)
    if not points:
        return [], "none"
    answer_terms = set(_terms(answer, language))
    out: list[TalkingPoint] = []
    for point in points:
        terms = set(_terms(_pick(point, language), language))
        overlap = len(terms & answer_terms) / len(terms) if terms else 0.0
        out.append(TalkingPoint(point, overlap >= TALKING_POINT_RECALL, None, round(overlap, 2)))
    return out, "lexical"


def _point_index(question: Question, text: str) -> int | None:
    for index, point in enumerate(question.talking_points):
        if any(value.strip() == text for value in point.values()):
            return index
    return None


def _anchor_points(question: Question, language: Language) -> list[Texts]:
    """Clauses of the level-5 anchor, for questions written without talking points."""
    top = question.rubric.get(max(question.rubric), {}) if question.rubric else {}
    code = language if top.get(language, "").strip() else next((c for c, t in top.items() if t.strip()), None)
    if code is None:
        return []
    clauses = [c.strip(" .。") for c in re.split(r"[;；。,，()（）]|\band\b", top[code])]
    keep = [c for c in clauses if len(_terms(c, code)) >= (3 if code == "en" else 2)]
    return [{code: clause} for clause in keep[:5]]


# ---- STAR ---------------------------------------------------------------------------------------

_EN_ACTION_VERBS = (
    "built|led|ran|went|spoke|took|made|gave|sat|told|brought|sent|found|began|chose|put|got|held|kept|"
    "taught|set|wrote|met|drove|sold|did|dug|broke|rolled|sought|call|ask|build|lead|decide|meet|set up|"
    "talk|review|check|run|sit|write|propose|offer|test|coach|start|create|prepare|push|walk"
)
_EN_NOT_ACTIONS = frozenset(
    _word_list(
        "needed wanted liked loved hoped seemed wished enjoyed worried believed assumed supposed "
        "expected felt thought"
    )
)
_ZH_ACTION_ADVERBS = (
    "[先就又也还再便才都]|首先|立刻|马上|随后|接着|主动|亲自|第一时间|直接|于是|一起|当即|立即"
)
_ZH_ACTION_VERBS = (
    "决定|组织|推动|推进|主导|设计|实现|分析|统计|定位|排查|回滚|对比|提出|建议|沟通|整理|梳理|重构|优化|"
    "压测|联系|对接|安排|协调|说服|制定|引入|发起|申请|争取|收集|复现|抓包|验证|确认|评估|上线|发布|召集|"
    "研究|总结|复盘|分享|同步|汇报|通知|解释|准备|带领|指导|培训|拜访|处理|解决|搭建|开发|部署|配置|编写|"
    "选择|暂停|关闭|冻结|限流|降级|打开|做|写|改|查|看|找|拉|约|开|加|用|搭|建|把|将|给|带|修|测|问|试|"
    "调|推|拆|列|花|跑|请|打|换|学|读|帮|谈|停|拿|选"
)
_STAR_CUES: dict[str, dict[StarName, list[re.Pattern[str]]]] = {
    "en": {
        "situation": [
            re.compile(p, re.IGNORECASE)
            for p in (
                r"\b(?:last|this|that|one|previous|past) (?:year|quarter|month|week|summer|spring|autumn|"
                r"fall|winter|day|morning|evening|time)\b",
                r"\b(?:a few |two |three |several |\d+ )?(?:years?|months?|weeks?|days?) ago\b",
                r"\bwhen (?:i|we) (?:was|were|had|joined|started|worked|moved|took|first)\b",
                r"\bwhile (?:i|we) (?:was|were)\b",
                r"\bat (?:my|our) (?:previous|last|former|current|old|first) (?:company|job|role|employer|"
                r"team|firm)\b",
                r"\bat my (?:previous|last|former)\b",
                r"\bin (?:19|20)\d\d\b",
                r"\bin q[1-4]\b",
                r"\bback in\b",
                r"\bat the time\b",
                r"\bthere was (?:a|one) time\b",
                r"\bi was (?:working|managing|leading|running|selling|the|a|an) ",
                r"\b(?:we|our team|the team|our company|the company|a customer|a client|the customer|"
                r"the client) (?:was|were|had)\b",
                r"\bwhen (?:our|the|my) \w+",
                r"\bi (?:was|worked as) (?:\w+ ){0,3}(?:manager|engineer|lead|owner|rep|director|head|"
                r"developer|analyst|consultant)\b",
                r"\bi worked (?:at|for|in)\b",
                r"\bin my (?:last|previous|first|current|old) (?:role|job|company|team|position)\b",
                r"\bnew (?:territory|market|segment|product line|region)\b",
                r"\b[qh][1-4]\b",
                r"(?:^|[.!?]\s+)(?:a|an|one of our) [\w ,'-]{1,60}?\b(?:asked|wanted|was|were|had|needed|"
                r"renewing|came|complained|called|approached|threatened)\b",
            )
        ],
        "task": [
            re.compile(p, re.IGNORECASE)
            for p in (
                r"\b(?:my|our|the) (?:goal|aim|objective|task|target|job|responsibility|mission|challenge)\b",
                r"\bi was (?:responsible|in charge|asked|tasked|expected)\b",
                r"\bresponsible for\b",
                r"\bin charge of\b",
                r"\b(?:needed|had|wanted) to\b",
                r"\bneed to\b",
                r"\basked (?:me|us) to\b",
                r"\btasked with\b",
                r"\bmy role was\b",
                r"\b(?:target|quota|deadline)s?\b",
            )
        ],
        "action": [
            re.compile(
                r"\b(?:i|we)(?: (?:then|first|also|just|quickly|immediately|personally|finally|"
                rf"\w+ly))? (?:{_EN_ACTION_VERBS})\b",
                re.IGNORECASE,
            ),
            re.compile(r"\b(?:i|we)(?: (?:then|first|also|just|\w+ly))? ([a-z]+ed)\b", re.IGNORECASE),
        ],
        "result": [
            re.compile(p, re.IGNORECASE)
            for p in (
                r"\bas a result\b",
                r"\bresult(?:s|ed)?\b",
                r"\boutcomes?\b",
                r"\bin the end\b",
                r"\beventually\b",
                r"\bended up\b",
                r"\bled to\b",
                r"\bwhich meant\b",
                r"\b(?:increased|decreased|reduced|improved|grew|rose|fell|dropped|doubled|tripled|halved|"
                r"saved|achieved|won|signed|renewed|exceeded|delivered|shipped|launched|recovered|"
                r"resolved)\b",
                r"\d\s*%|\bper ?cent\b",
                r"\b\d+(?:\.\d+)?\s*(?:x|times)\b",
            )
        ],
    },
    "zh": {
        "situation": [
            re.compile(p)
            for p in (
                r"(?:去|今|前|那|当)年",
                r"\d{2,4}\s*年",
                r"\d{1,2}\s*月",
                r"当时|那时|那次|有一次|有次|之前|以前|曾经|那天|有天|有一天|某天|刚入职",
                r"上一?家(?:公司)?",
                r"在[^，。,；;！？\s]{1,12}(?:公司|团队|项目|部门)",
                r"我们[^，。,；;！？]{0,12}(?:系统|平台|服务|项目|团队|产品|业务|公司|游戏)",
            )
        ],
        "task": [
            re.compile(p)
            for p in (
                r"负责|目标|任务|职责|需要|要求|必须|值班|挑战|为了",
                r"我是[^，。,；;]{0,12}(?:负责人|owner|维护者|组长|leader)",
                r"(?:\d+|[一两二三四五六七八九十几半]+)\s*(?:天|周|个月|月|小时)内?要",
            )
        ],
        "action": [
            re.compile(rf"我们?(?:{_ZH_ACTION_ADVERBS})*(?:{_ZH_ACTION_VERBS})"),
            re.compile(
                rf"(?:^|[，。；：:,;\s])(?:先|首先|然后|接着|随后|于是|再|立刻|马上|第一时间|当即)(?:{_ZH_ACTION_VERBS})"
            ),
        ],
        "result": [
            re.compile(p)
            for p in (
                r"结果|最终|最后|终于|提升|提高|降低|下降|减少|增加|增长|上升|缩短|节省|节约|恢复|达到|"
                r"超过|翻倍|解决了|效果|没再|再也没",
                r"\d+(?:\.\d+)?\s*(?:%|％|倍|个百分点)|百分之",
            )
        ],
    },
}


def star_parts(answer: str, language: Language) -> list[StarPart]:
    """Which STAR parts an answer shows, from cue phrases (see `_STAR_CUES`)."""
    cues = _STAR_CUES[language]
    parts: list[StarPart] = []
    for part in STAR_PARTS:
        found: list[str] = []
        for pattern in cues[part]:
            for match in pattern.finditer(answer):
                if part == "action" and language == "en" and match.groups():
                    verb = (match.group(1) or "").lower()
                    if verb in _EN_NOT_ACTIONS:
                        continue
                phrase = match.group(0).strip(" \t\n，。；：,.;:")
                lowered = phrase.lower()
                if any(lowered in f.lower() for f in found):
                    continue
                found = [f for f in found if f.lower() not in lowered] + [phrase]
        parts.append(StarPart(part, bool(found), found[:3]))
    return parts


# ---- fillers ------------------------------------------------------------------------------------

_EN_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
_EN_SIMPLE_FILLERS = {
    "um": "um",
    "umm": "um",
    "uhm": "um",
    "uh": "uh",
    "uhh": "uh",
    "er": "er",
    "erm": "er",
    "hmm": "hmm",
    "basically": "basically",
}
_LIKE_NOT_AFTER = frozenset(
    _word_list(
        "i you we they he she people customers clients would don't didn't doesn't do does did not to "
        "feel feels felt look looks looked sound sounds sounded seem seems seemed just more most much "
        "really also something anything nothing things thing exactly"
    )
)
_LIKE_FILLER_AFTER = frozenset(_word_list("so and but or um uh was were is it's that's there's it like"))
_KIND_OF_NOT_AFTER = frozenset(
    _word_list(
        "a an the this that these those what which any some every each same different one other another "
        "no all"
    )
)
_YOU_KNOW_NOT_AFTER = frozenset(_word_list("do did don't didn't if as to would will let let's"))
_YOU_KNOW_NOT_BEFORE = frozenset(
    _word_list(
        "that how what why when where whether if who which about the a an him her them this these those "
        "your my our their"
    )
)
_ZH_FILLERS = re.compile(r"嗯+|呃+|然后|其实|好像|那个|这个|就是")
_ZH_FILLER_STARTS = ("那个", "这个", "嗯", "呃", "就是", "然后")


def count_fillers(answer: str, language: Language) -> list[WordCount]:
    """Filler words and hedges in the answer, most frequent first.

    English: um/uh/er/hmm, basically, "I guess", and "like", "you know", "sort of", "kind of" only
    where they are fillers: "I'd like to", "would like", "feel like", "a kind of", "do you know
    what" are not counted; "like" counts after a pause (punctuation) or words such as "so", "and",
    "was", or before a comma or a number ("like 20 people"). Chinese: 嗯, 呃, 然后, 其实 and 好像
    every time; 那个/这个 when followed by a pause or another filler (not "这个问题"); 就是 at the
    start of a clause or before a pause (not "根因就是").
    """
    found: Counter[str] = Counter()
    if language == "zh":
        for match in _ZH_FILLERS.finditer(answer):
            word = match.group(0)
            before = answer[match.start() - 1] if match.start() else ""
            after = answer[match.end() :]
            pause_after = not after or after[0] in _PUNCT_ZH or after.startswith(_ZH_FILLER_STARTS)
            if word in ("那个", "这个") and not pause_after:
                continue
            if word == "就是":
                clause_start = (
                    not before
                    or before in _PUNCT_ZH
                    or answer[: match.start()].endswith(("嗯", "呃", "然后", "那个", "这个"))
                )
                if not (clause_start or pause_after or after.startswith("说")):
                    continue
            found[word[0] if word[0] in "嗯呃" else word] += 1
        return _sorted_counts(found)
    tokens = _EN_TOKEN.findall(answer.lower().replace("’", "'"))
    for i, word in enumerate(tokens):
        prev = tokens[i - 1] if i else ""
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        after = tokens[i + 2] if i + 2 < len(tokens) else ""
        prev_is_pause = not prev or not prev[0].isalnum()
        if word in _EN_SIMPLE_FILLERS:
            found[_EN_SIMPLE_FILLERS[word]] += 1
        elif word == "like":
            if prev in _LIKE_NOT_AFTER or prev.endswith("'d") or nxt == "to":
                continue
            number_next = bool(nxt) and (nxt[0].isdigit() or nxt in ("$", "€", "£"))
            if prev_is_pause or prev in _LIKE_FILLER_AFTER or nxt == "," or number_next:
                found["like"] += 1
        elif word in ("kind", "sort") and nxt == "of" and prev not in _KIND_OF_NOT_AFTER:
            found[f"{word} of"] += 1
        elif word == "you" and nxt == "know":
            if prev not in _YOU_KNOW_NOT_AFTER and after not in _YOU_KNOW_NOT_BEFORE:
                found["you know"] += 1
        elif word == "i" and nxt == "guess":
            found["I guess"] += 1
    return _sorted_counts(found)


def _sorted_counts(counts: Counter[str]) -> list[WordCount]:
    return [WordCount(word, n) for word, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


# ---- words and terms ----------------------------------------------------------------------------

_EN_STOPWORDS = frozenset(
    _word_list("""
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing don't down during each few for from further
    had has have having he her here hers herself him himself his how i i'd i'll i'm i've if in into is
    it it's its itself just let's me more most my myself no nor not now of off on once only or other
    our ours ourselves out over own same she should so some such than that that's the their theirs
    them themselves then there there's these they they'd they're this those through to too under
    until up very was we we'd we're we've were what when where which while who whom why will with
    would you you'd your yours yourself get got go went going make made said say says thing things
    really lot lots one two three first still even much many well back way something anything
    everything know think thought like um uh er erm hmm basically guess sort kind actually maybe
    yeah okay ok since though however per every told tell asked ask time came come take took
    bit quite pretty just sure want wanted need needed able""")
)
_EN_GENERAL = frozenset(
    _word_list("""
    year years month months week weeks day days hour hours minute minutes second seconds morning
    today yesterday tomorrow quarter later earlier next previous last ago soon instead plus half
    whole four five six seven eight nine ten hundred thousand dozen big bigger small smaller large
    larger high higher low lower long longer short good better best bad worse worst great new old
    different existing real right wrong little less least enough almost around already add added
    buy bought fall fell rise rose grow grew meet met use used show showed start started keep kept
    help helped try tried find found give gave work worked change changed turn turned move moved
    run ran call called look looked see saw seen talk talked spend spent stay stayed put let
    become became began begin felt feel left leave done doing made making went gone put puts
    people person someone everyone nobody anyone thing stuff times""")
)
"""Everyday words that statistics alone would take for job terms in a small sample."""
_ZH_STOP_CHARS = frozenset(
    "的了是在和与及或也都就我你他她它们这那个有不没很把被对给让吗呢吧啊嗯呃着过而并但又还其之一"
)
_ZH_STOP_BIGRAMS = frozenset(
    _word_list(
        "因为 所以 如果 但是 可以 自己 时候 后来 当时 什么 怎么 已经 进行 通过 需要 然后 其实 好像 觉得 "
        "发现 比如 例如 于是 接着 之后 以后 开始 问题 情况 事情 东西 非常 比较 可能 应该 知道 说明 "
        "去年 今年 前年 分钟 小时 时间 当天 那天 一天 大量 出现 正常 显示 这次 那次 左右 以上 以下"
    )
)


def _en_stem(word: str) -> str:
    """A crude, deterministic stem: plural 's' off, then the first six letters."""
    word = word.lower().replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    return word[:6]


def _term_occurrences(text: str, language: str) -> list[tuple[str, str]]:
    """(term, surface) pairs of the content terms of a text, in order.

    English terms are stems of words of three letters or more outside the stopword list. Chinese
    has no word boundaries (and no segmenter is bundled), so its terms are character bigrams
    inside runs of Chinese text that hold no function character, plus Latin words (Redis, P99).
    """
    out: list[tuple[str, str]] = []
    for match in _LATIN_WORD.finditer(text):
        word = match.group(0)
        lowered = word.lower().replace("’", "'")
        if language == "zh":
            if len(word) >= 2 and lowered not in _EN_STOPWORDS | _EN_GENERAL and not word.isdigit():
                out.append((lowered, word))
        elif len(word) >= 3 and word.isalpha() and lowered not in _EN_STOPWORDS | _EN_GENERAL:
            out.append((_en_stem(lowered), lowered))
    if language == "zh":
        for run in _CJK_RUN.findall(text):
            for i in range(len(run) - 1):
                bigram = run[i : i + 2]
                if set(bigram) & _ZH_STOP_CHARS or bigram in _ZH_STOP_BIGRAMS:
                    continue
                # the tail of one word and the head of the next: 然后看 -> not 后看
                if run[max(i - 1, 0) : i + 1] in _ZH_STOP_BIGRAMS or run[i + 1 : i + 3] in _ZH_STOP_BIGRAMS:
                    continue
                out.append((bigram, bigram))
    return out


def _terms(text: str, language: str) -> list[str]:
    return [term for term, _ in _term_occurrences(text, language)]


def _pick(texts: Mapping[str, str], language: str) -> str:
    text = texts.get(language, "").strip()
    return text or next((t.strip() for t in texts.values() if t.strip()), "")


def _guess_language(text: str) -> str:
    return "zh" if _CJK.search(text) else "en"


def _question_material(question: Question, language: str, *, top_levels_only: bool) -> list[str]:
    levels = [3, 4, 5] if top_levels_only else sorted(question.rubric)
    texts = [question.text.get(language, "")]
    texts += [question.rubric[level].get(language, "") for level in levels if level in question.rubric]
    texts += [p.get(language, "") for p in question.talking_points]
    texts += [a.get(language, "") for a in question.reference_answers]
    return [t for t in texts if t.strip()]


def job_vocabulary(
    language: Language,
    question: Question,
    strong_exemplars: Sequence[str] = (),
    other_questions: Sequence[Question] = (),
    background_texts: Sequence[str] = (),
) -> dict[str, float]:
    """Terms typical of this question's rubric and strong answers, weighted by contrast.

    Candidates are the terms of the question's own wording (the question, its level 3-5 anchors
    and talking points: curated job language), plus terms that recur in the strong answers (strong
    exemplars and reference answers: in at least `MIN_ANSWER_SHARE` of them and three). A term's
    weight is its document frequency over all those job texts times an inverse document frequency
    over the background (the other questions' texts and ``background_texts``):
    ``df_job / n_job * log((n_bg + 1) / (df_bg + 0.5))``, or ``df_job / n_job`` without background;
    a term relatively as frequent in the background as in the job texts is dropped, and so are
    Chinese bigrams that are fragments of a longer word (`_zh_fragments`). The top
    `JOB_VOCABULARY_SIZE` are kept.
    """
    wording = [question.text.get(language, "")]
    wording += [question.rubric[level].get(language, "") for level in (3, 4, 5) if level in question.rubric]
    wording += [p.get(language, "") for p in question.talking_points]
    wording = [t for t in wording if t.strip()]
    answers = [a.get(language, "") for a in question.reference_answers if a.get(language, "").strip()]
    answers += [t for t in strong_exemplars if t.strip()]
    wording_docs = [set(_terms(t, language)) for t in wording]
    answer_docs = [set(_terms(t, language)) for t in answers]
    background_raw = [
        t
        for other in other_questions
        if other.id != question.id
        for t in _question_material(other, language, top_levels_only=False)
    ]
    background_raw += [t for t in background_texts if t.strip()]
    background = [set(_terms(t, language)) for t in background_raw]
    job_docs = wording_docs + answer_docs
    if not job_docs:
        return {}
    own: set[str] = set().union(*wording_docs) if wording_docs else set()
    df_answers: Counter[str] = Counter(term for doc in answer_docs for term in doc)
    recurring = max(3, math.ceil(MIN_ANSWER_SHARE * len(answer_docs)))
    df_job: Counter[str] = Counter(term for doc in job_docs for term in doc)
    df_bg: Counter[str] = Counter(term for doc in background for term in doc)
    n_job, n_bg = len(job_docs), len(background)
    fragments = _zh_fragments([*wording, *answers, *background_raw]) if language == "zh" else set()
    weights: dict[str, float] = {}
    for term, df in df_job.items():
        if term in fragments or (term not in own and df_answers[term] < recurring):
            continue
        share = df / n_job
        if n_bg and df_bg[term] / n_bg >= share:
            continue
        idf = math.log((n_bg + 1) / (df_bg[term] + 0.5)) if n_bg else 1.0
        weights[term] = share * idf
    best = sorted(weights.items(), key=lambda item: (-item[1], item[0]))[:JOB_VOCABULARY_SIZE]
    return dict(best)


def _zh_fragments(texts: Iterable[str]) -> set[str]:
    """Chinese bigrams that are mostly the edge of a longer word (看监 of 看监控, 钟内 of 分钟内).

    In a trigram XYZ that accounts for at least half of a bigram's occurrences, the bigram with
    fewer occurrences overall is the fragment (监控 outnumbers 看监; 分钟 outnumbers 钟内).
    """
    bigrams: Counter[str] = Counter()
    trigrams: Counter[str] = Counter()
    for text in texts:
        for run in _CJK_RUN.findall(text):
            bigrams.update(run[i : i + 2] for i in range(len(run) - 1))
            trigrams.update(run[i : i + 3] for i in range(len(run) - 2))
    fragments: set[str] = set()
    for trigram, n in trigrams.items():
        left, right = trigram[:2], trigram[1:]
        if n >= 0.5 * bigrams[left] and bigrams[right] > bigrams[left]:
            fragments.add(left)
        if n >= 0.5 * bigrams[right] and bigrams[left] > bigrams[right]:
            fragments.add(right)
    return fragments


# ---- delivery -----------------------------------------------------------------------------------


def answer_length(answer: str) -> int:
    """Length units: Chinese characters plus Latin words and numbers (see the module docstring)."""
    return len(_CJK.findall(answer)) + len(_LATIN_WORD.findall(answer))


def length_range(strong_exemplars: Sequence[str], language: Language) -> tuple[int, int, str]:
    """(low, high, source): the 25th..75th percentile of strong answers' lengths, or the default."""
    lengths = sorted(answer_length(t) for t in strong_exemplars if t.strip())
    if len(lengths) < MIN_EXEMPLARS_FOR_RANGE:
        default_low, default_high = DEFAULT_LENGTH_RANGE[language]
        return default_low, default_high, "default"
    percentiles = statistics.quantiles(lengths, n=100, method="inclusive")
    low, high = (round(percentiles[q - 1]) for q in LENGTH_QUANTILES)
    return low, max(high, low), "exemplars"


def readability(answer: str, language: Language) -> Readability:
    """Readability of the answer's text (see `Readability`)."""
    unit: Literal["words", "characters"] = "words" if language == "en" else "characters"
    if not answer.strip():
        return Readability(0, 0.0, unit, None, None, "empty")
    if language == "zh":
        sentences = [s for s in (p.strip() for p in _ZH_SENTENCE_END.split(answer)) if answer_length(s)]
        mean = sum(answer_length(s) for s in sentences) / max(len(sentences), 1)
        status: Literal["ok", "hard", "long_sentences", "empty"] = (
            "long_sentences" if mean > LONG_SENTENCE["zh"] else "ok"
        )
        return Readability(len(sentences), round(mean, 1), unit, None, None, status)
    # textstat's counts and Flesch formulas; syllables from pyphen (textstat's own fallback),
    # because textstat 0.7's English syllable count downloads NLTK's cmudict on first use.
    from textstat.backend import counts, selections, utils

    words = counts.count_words(answer)
    sentences_n = counts.count_sentences(answer)
    if not words:
        return Readability(0, 0.0, unit, None, None, "empty")
    hyphenator = utils.get_pyphen("en_US")
    syllables = sum(
        len(hyphenator.positions(word)) + 1 for word in selections.list_words(answer, lowercase=True)
    )
    per_sentence = words / max(sentences_n, 1)
    per_word = syllables / words
    ease = round(206.835 - 1.015 * per_sentence - 84.6 * per_word, 1)
    grade = round(0.39 * per_sentence + 11.8 * per_word - 15.59, 1)
    status = "ok"
    if ease < HARD_READING_EASE:
        status = "hard"
    elif per_sentence > LONG_SENTENCE["en"]:
        status = "long_sentences"
    return Readability(sentences_n, round(per_sentence, 1), unit, ease, grade, status)


def repetitions(answer: str, language: Language) -> list[str]:
    """Immediate repetitions ("the the", "这个这个"), each listed once, in order."""
    if language == "zh":
        pattern = re.compile(r"([\u4e00-\u9fff]{2,3})\1+|(我|你|他|就|这|那)\2+")
    else:
        pattern = re.compile(r"\b([A-Za-z']+)(?:[\s,]+\1\b)+", re.IGNORECASE)
    seen: list[str] = []
    for match in pattern.finditer(answer):
        unit = (match.group(1) or match.group(2) or "").lower()
        if language == "en" and unit in ("that", "had"):
            continue
        phrase = " ".join(match.group(0).lower().replace(",", " ").split())
        if phrase not in seen:
            seen.append(phrase)
    return seen[:LIST_LIMIT]


def _word_counts(answer: str, language: Language) -> tuple[Counter[str], dict[str, str], dict[str, int]]:
    """Term counts, the most frequent surface form per term, and each term's first position."""
    counts: Counter[str] = Counter()
    surfaces: dict[str, Counter[str]] = {}
    first: dict[str, int] = {}
    for position, (term, surface) in enumerate(_term_occurrences(answer, language)):
        counts[term] += 1
        surfaces.setdefault(term, Counter())[surface] += 1
        first.setdefault(term, position)
    shown = {term: c.most_common(1)[0][0] for term, c in surfaces.items()}
    return counts, shown, first


def _top_words(
    counts: Counter[str], shown: dict[str, str], first: dict[str, int], language: Language
) -> list[WordCount]:
    ranked = sorted((t for t in counts if counts[t] >= 2), key=lambda t: (-counts[t], first[t]))
    chosen: list[str] = []
    for term in ranked:
        # overlapping bigrams of one Chinese word ("缓存雪崩": 缓存, 存雪, 雪崩) show once
        overlaps = any(len(c) == 2 and (c[1] == term[0] or c[0] == term[1]) for c in chosen)
        if language == "zh" and len(term) == 2 and _CJK.match(term) and overlaps:
            continue
        chosen.append(term)
        if len(chosen) == 5:
            break
    return [WordCount(shown[t], counts[t]) for t in chosen]


def _delivery(
    answer: str, language: Language, strong_exemplars: Sequence[str], vocabulary: Mapping[str, float]
) -> Delivery:
    unit: Literal["words", "characters"] = "words" if language == "en" else "characters"
    count = answer_length(answer)
    low, high, source = length_range(strong_exemplars, language)
    status: Literal["short", "ok", "long"] = "short" if count < low else "long" if count > high else "ok"
    length = Length(count, unit, low, high, "exemplars" if source == "exemplars" else "default", status)
    found = count_fillers(answer, language)
    filler_count = sum(w.count for w in found)
    per_100 = round(100.0 * filler_count / count, 1) if count else 0.0
    fillers = Fillers(filler_count, per_100, found, per_100 >= FILLER_HEAVY_PER_100[language])
    counts, shown, first = _word_counts(answer, language)
    overused = [
        WordCount(shown[t], n)
        for t, n in sorted(counts.items(), key=lambda item: (-item[1], first[item[0]]))
        if n >= OVERUSED_MIN and n >= OVERUSED_SHARE * count and t not in vocabulary
    ]
    used = sorted((t for t in counts if t in vocabulary), key=lambda t: (-vocabulary[t], first[t]))
    return Delivery(
        length=length,
        fillers=fillers,
        repeated=repetitions(answer, language),
        overused=overused[:LIST_LIMIT],
        readability=readability(answer, language),
        job_terms=[shown[t] for t in used[:LIST_LIMIT]],
        top_words=_top_words(counts, shown, first, language),
    )


# ---- the suggestion -----------------------------------------------------------------------------


def _choose_suggestion(feedback: AnswerFeedback, question: Question) -> tuple[str, dict[str, Any]]:
    """The single most useful next step, in this order: not scorable -> give an example; far too
    short -> expand (with the missing STAR parts or a missed point); a missing action, result or
    situation; short -> expand; filler-heavy -> cut fillers; a missed talking point; a missing task
    (often implied by the question, so it comes late); long -> tighten; else keep."""
    rubric, length, fillers = feedback.rubric, feedback.delivery.length, feedback.delivery.fillers
    missing = [p for p in SUGGESTION_ORDER if p in feedback.star_missing]
    missed = [p.text for p in feedback.missed]
    if rubric.insufficient_kind is not None and rubric.insufficient_kind != "not_scored":
        hint = [dict(p) for p in question.talking_points[:1]]
        return "example", {"reason": rubric.insufficient_kind, "hint": hint}
    if rubric.capped_by:
        return "story", {"reason": rubric.capped_by[0]}
    sizes = {"count": length.count, "low": length.low, "high": length.high}
    if length.count < FAR_TOO_SHORT * length.low or (length.status == "short" and len(missing) >= 2):
        return "expand", {**sizes, "parts": missing, "points": missed[:1]}
    early = [p for p in missing if p != "task"]
    if early:
        return "star", {"part": early[0], "missing": missing}
    if length.status == "short":
        return "expand", {**sizes, "parts": [], "points": missed[:1]}
    if fillers.heavy:
        return "fillers", {"fillers": [w.word for w in fillers.found[:3]], "per_100": fillers.per_100}
    if missed:
        return "talking_point", {"point": missed[0]}
    if missing:
        return "star", {"part": missing[0], "missing": missing}
    if length.status == "long":
        return "tighten", sizes
    return "keep", {}


_PART_NAMES: dict[str, dict[str, str]] = {
    "en": {"situation": "situation", "task": "task", "action": "action", "result": "result"},
    "zh": {"situation": "情境", "task": "任务", "action": "行动", "result": "结果"},
}
_PART_HOW: dict[str, dict[str, str]] = {
    "en": {
        "situation": "Start with the situation: when and where it happened and what was at stake "
        '("Last year, at my previous company, ...").',
        "task": 'Say what your goal or responsibility was ("My goal was ...", "I was responsible for ...").',
        "action": 'Describe what you did yourself, step by step, with "I" '
        '("I called ..., then I decided ...").',
        "result": 'Finish with the result, in numbers if you can ("As a result, ... rose by 20%").',
    },
    "zh": {
        "situation": "先交代情境：什么时候、在哪里、当时面临什么情况（例如“去年在上一家公司……”）。",
        "task": "说明你的任务或目标（“我负责……”“目标是……”）。",
        "action": "讲清你本人做了什么，一步一步说（“我先……，接着我……”）。",
        "result": "最后讲结果，尽量用数字（“最终……提升了 20%”）。",
    },
}
_UNIT_NAMES = {
    "en": {"words": "words", "characters": "characters"},
    "zh": {"words": "词", "characters": "字"},
}


def _join_parts(parts: Iterable[str], language: str) -> str:
    names = [_PART_NAMES[language][p] for p in parts]
    if language == "zh":
        return "、".join(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _quote(text: str, language: str) -> str:
    return f"“{text}”" if language == "zh" else f'"{text}"'


def _suggestion_text(kind: str, params: Mapping[str, Any], language: str, unit: str) -> str:
    zh = language == "zh"
    units = _UNIT_NAMES[language][unit]
    if kind == "story":
        return _CAPPED_WHY[language].get(str(params.get("reason")), "") + _TELL_A_STORY[language]
    if kind == "example":
        hint = params.get("hint") or []
        head = _NOT_AN_ANSWER_WHY[language].get(str(params.get("reason")), "")
        body = (
            "请举一个你亲身经历的具体例子：当时的情况、你具体做了什么、结果如何。"
            if zh
            else "Give one specific example from your own experience: the situation, what you did, and "
            "how it turned out."
        )
        if hint:
            point = _quote(_pick(hint[0], language), language)
            body += f"例如可以讲到{point}。" if zh else f" For instance, cover {point}."
        return head + body
    if kind == "expand":
        parts, points = params.get("parts") or [], params.get("points") or []
        if parts:
            what = (
                f"{_join_parts(parts, language)}部分"
                if zh
                else f"the {_join_parts(parts, language)} of your story"
            )
        elif points:
            what = _quote(_pick(points[0], language), language)
        else:
            what = (
                "具体细节：数字、步骤、你本人做了什么"
                if zh
                else "specifics: numbers, steps, what you did yourself"
            )
        if zh:
            return (
                f"你的回答约 {params['count']} {units}，"
                f"这道题的优秀回答一般在 {params['low']}–{params['high']} {units}。请展开说明，补充{what}。"
            )
        return (
            f"Your answer is {params['count']} {units}; strong answers to this question run "
            f"{params['low']}–{params['high']}. Expand it with {what}."
        )
    if kind == "star":
        part = str(params["part"])
        name = _PART_NAMES[language][part]
        how = _PART_HOW[language][part]
        return f"缺少{name}部分。{how}" if zh else f"Add the {name}. {how}"
    if kind == "fillers":
        words = "、".join(params["fillers"]) if zh else ", ".join(f'"{w}"' for w in params["fillers"])
        if zh:
            return (
                f"口头禅偏多（每百字 {params['per_100']} 个，主要是{words}）。"
                "停顿一下代替它们，句子会更有力。"
            )
        return (
            f"Cut the fillers ({params['per_100']} per 100 {units}, mostly {words}): pause silently "
            "instead; it sounds more confident."
        )
    if kind == "talking_point":
        point = _quote(_pick(params["point"], language), language)
        return f"再补充一点：{point}。" if zh else f"Also mention {point}."
    if kind == "tighten":
        if zh:
            return (
                f"回答偏长（{params['count']} {units}，"
                f"优秀回答一般 {params['low']}–{params['high']} {units}）。"
                "保留最关键的行动和结果，删掉背景细节。"
            )
        return (
            f"Tighten it ({params['count']} {units}; strong answers run {params['low']}–{params['high']}): "
            "keep your key actions and the result, drop background detail."
        )
    if zh:
        return "回答完整。保持这样的结构，最后可以再加一句你学到了什么、下次会怎么做。"
    return "A complete answer. Keep this structure, and close with what you learned or would do differently."


# ---- retry comparison ---------------------------------------------------------------------------


def compare(
    previous: AnswerFeedback | Mapping[str, Any], new: AnswerFeedback | Mapping[str, Any]
) -> FeedbackComparison:
    """What changed from ``previous`` to ``new`` (two attempts at one question; dicts from
    `AnswerFeedback.to_dict` are accepted, as stored)."""
    before = previous if isinstance(previous, AnswerFeedback) else AnswerFeedback.from_dict(previous)
    after = new if isinstance(new, AnswerFeedback) else AnswerFeedback.from_dict(new)
    if before.question_id != after.question_id:
        raise ValueError(
            "compare needs two attempts at one question, "
            f"got {before.question_id!r} and {after.question_id!r}"
        )
    had = {p.part for p in before.star if p.present}
    has = {p.part for p in after.star if p.present}
    covered_before = [p.text for p in before.covered]
    covered_after = [p.text for p in after.covered]
    level_change = (
        after.rubric.level - before.rubric.level
        if after.rubric.level is not None and before.rubric.level is not None
        else None
    )
    return FeedbackComparison(
        question_id=after.question_id,
        language=after.language,
        level_before=before.rubric.level,
        level_after=after.rubric.level,
        level_change=level_change,
        star_added=[p for p in STAR_PARTS if p in has and p not in had],
        star_lost=[p for p in STAR_PARTS if p in had and p not in has],
        fillers_before=before.delivery.fillers.per_100,
        fillers_after=after.delivery.fillers.per_100,
        fillers_change=round(after.delivery.fillers.per_100 - before.delivery.fillers.per_100, 1),
        length_before=before.delivery.length.count,
        length_after=after.delivery.length.count,
        length_change=after.delivery.length.count - before.delivery.length.count,
        unit=after.delivery.length.unit,
        talking_points_new=[t for t in covered_after if t not in covered_before],
        talking_points_lost=[t for t in covered_before if t not in covered_after],
    )


# ---- rendering ----------------------------------------------------------------------------------


def _competency_label(feedback: AnswerFeedback, language: str) -> str:
    name = _pick(feedback.competency_name, language) if feedback.competency_name else ""
    return name or feedback.competency.replace("_", " ").capitalize()


_TELL_A_STORY = {
    "en": "Tell a specific story instead: what happened, what you did yourself, step by step, and how it "
    "turned out.",
    "zh": "请讲一个具体的经历：当时发生了什么、你自己一步步做了什么、结果如何。",
}
_CAPPED_WHY: dict[str, dict[str, str]] = {
    "en": {
        "keyword_list": "Your answer is a list of keywords, so it cannot score above level 2: the rubric "
        "rates what you did, not which terms you know. ",
        "talking_points": "Your answer lists talking points without an example, so it cannot score above "
        "level 2. ",
        "no_first_person": "Your answer does not say what you did (no 'I' or 'we'), so it cannot score "
        "above level 2. ",
        "near_duplicate": "Your answer is almost the same as another candidate's, so it cannot score above "
        "level 2: use your own experience. ",
        "rubric_paraphrase": "Your answer restates what the rubric looks for rather than telling what "
        "happened, so it cannot score above level 2. ",
        "generic": "Your answer could fit any question: it names no situation, numbers or actions of "
        "yours, so it cannot score above level 2. ",
    },
    "zh": {
        "keyword_list": "你的回答是关键词罗列，最高只能得 2 级：评分看的是你做了什么，而不是你知道哪些术语。",
        "talking_points": "你的回答只列了要点，没有具体例子，最高只能得 2 级。",
        "no_first_person": "你的回答没有说明你自己做了什么（没有“我”或“我们”），最高只能得 2 级。",
        "near_duplicate": "你的回答和另一位候选人的几乎一样，最高只能得 2 级：请讲你自己的经历。",
        "rubric_paraphrase": "你的回答是在复述评分标准，而不是讲发生了什么，最高只能得 2 级。",
        "generic": "你的回答放在任何问题下都成立：没有具体的情境、数字或你自己的行动，最高只能得 2 级。",
    },
}
_NOT_AN_ANSWER_WHY: dict[str, dict[str, str]] = {
    "en": {
        "off_topic": "That answer did not seem to address the question. ",
        "language": "Please answer in one of this interview's languages. ",
        "padded": "Most of that answer repeats itself or is filler, so there was little to score. ",
        "copy": "That answer repeats the question's own wording (its rubric or talking points) rather than "
        "your experience. ",
        "restated": "That answer says the question back rather than answering it. ",
    },
    "zh": {
        "off_topic": "这段回答似乎没有回应问题。",
        "language": "请用本次面试支持的语言回答。",
        "padded": "这段回答大部分是重复或口头禅，可评分的内容很少。",
        "copy": "这段回答照搬了题目本身的文字（评分标准或要点），而不是你的经历。",
        "restated": "这段回答只是把问题复述了一遍，没有真正回答。",
    },
}
_NOT_SCORED: dict[str, dict[str, str]] = {
    "en": {
        "empty": "no answer was received",
        "unreadable": "the answer could not be read",
        "language": "the answer is not in one of this interview's languages",
        "too_short": "the answer is too short to score",
        "off_topic": "the answer does not seem to address the question",
        "padded": "the answer is mostly repetition or filler",
        "copy": "the answer copies the question's rubric or talking points",
        "restated": "the answer restates the question",
        "unscorable": "the answer could not be scored",
        "not_scored": "no score for this answer yet",
    },
    "zh": {
        "empty": "没有收到回答",
        "unreadable": "回答无法识别",
        "language": "回答使用的不是本次面试的语言",
        "too_short": "回答太短，无法评分",
        "off_topic": "回答似乎没有回应问题",
        "padded": "回答大部分是重复或口头禅",
        "copy": "回答照搬了题目的评分标准或要点",
        "restated": "回答只是复述了问题",
        "unscorable": "回答无法评分",
        "not_scored": "暂无评分",
    },
}


def render(feedback: AnswerFeedback | Mapping[str, Any], language: Language) -> str:
    """Short candidate-facing feedback as bullet lines, in English or Chinese."""
    fb = feedback if isinstance(feedback, AnswerFeedback) else AnswerFeedback.from_dict(feedback)
    zh = language == "zh"
    sep = "；" if zh else "; "
    comma = "、" if zh else ", "
    d = fb.delivery
    units = _UNIT_NAMES[language][d.length.unit]
    lines: list[str] = []
    label = _competency_label(fb, language)
    rubric = fb.rubric
    if rubric.level is not None:
        anchor = _pick(rubric.anchor, language)
        level = f"第 {rubric.level} 级（共 {rubric.of} 级）" if zh else f"Level {rubric.level} of {rubric.of}"
        lines.append(f"{label}：{level}：{anchor}" if zh else f"{label}: {level}: {anchor}")
        if rubric.capped_by:
            lines.append(_CAPPED_WHY[language].get(rubric.capped_by[0], "").strip())
    else:
        reason = _NOT_SCORED[language].get(rubric.insufficient_kind or "unscorable", "")
        lines.append(f"{label}：未评分（{reason}）" if zh else f"{label}: not scored ({reason})")
    covered = [_pick(p.text, language) for p in fb.covered]
    missed = [_pick(p.text, language) for p in fb.missed]
    if covered:
        lines.append(("已讲到的要点：" if zh else "Talking points covered: ") + sep.join(covered))
    if missed:
        lines.append(("还没讲到的要点：" if zh else "Talking points missed: ") + sep.join(missed))
    marks = ("、" if zh else ", ").join(
        f"{_PART_NAMES[language][p.part]} {'✓' if p.present else '✗'}" for p in fb.star
    )
    star = f"结构（STAR）：{marks}" if zh else f"Structure (STAR): {marks}"
    if fb.star_missing:
        gone = _join_parts(fb.star_missing, language)
        star += f"；缺少：{gone}" if zh else f"; missing: {gone}"
    lines.append(star)
    verdict = {
        "en": {"short": "short", "ok": "in range", "long": "long"},
        "zh": {"short": "偏短", "ok": "合适", "long": "偏长"},
    }[language][d.length.status]
    if zh:
        lines.append(
            f"长度：{d.length.count} {units}"
            f"（优秀回答一般 {d.length.low}–{d.length.high} {units}），{verdict}"
        )
    else:
        lines.append(
            f"Length: {d.length.count} {units} (strong answers: {d.length.low}–{d.length.high}), {verdict}"
        )
    found = ("、" if zh else ", ").join(f"{w.word} ×{w.count}" for w in d.fillers.found)
    if zh:
        fill = f"口头禅/填充词：每百字 {d.fillers.per_100} 个" + (f"（{found}）" if found else "")
    else:
        fill = f"Filler words: {d.fillers.per_100} per 100 {units}" + (f" ({found})" if found else "")
    lines.append(fill)
    if fb.speech is not None:
        lines.append(_speech_line(fb.speech, language))
    repeated = [*(_quote(r, language) for r in d.repeated), *(f"{w.word} ×{w.count}" for w in d.overused)]
    if repeated:
        lines.append(("重复：" if zh else "Repeated: ") + ("、" if zh else ", ").join(repeated))
    r = d.readability
    if r.status != "empty":
        per_sentence = _UNIT_NAMES[language][r.unit]
        if zh:
            note = {
                "hard": "，用词和句子偏难，可以说得更简单些",
                "long_sentences": "，句子偏长，可以拆短一些",
            }
            ease = f"Flesch 易读度 {r.reading_ease}（年级 {r.grade}），" if r.reading_ease is not None else ""
            lines.append(
                f"可读性：{ease}平均每句 {r.mean_sentence_length} {per_sentence}{note.get(r.status, '')}"
            )
        elif r.reading_ease is None:
            note_zh = ", long sentences: split them up" if r.status == "long_sentences" else ""
            lines.append(f"Readability: {r.mean_sentence_length} {per_sentence} per sentence{note_zh}")
        else:
            notes = {
                "hard": ", hard to follow: use shorter words and sentences",
                "long_sentences": ", long sentences",
            }
            lines.append(
                f"Readability: Flesch reading ease {r.reading_ease} (grade {r.grade}), "
                f"{r.mean_sentence_length} words per sentence{notes.get(r.status, '')}"
            )
    if d.job_terms:
        lines.append(("用到的岗位相关词：" if zh else "Job-related terms used: ") + comma.join(d.job_terms))
    if d.top_words:
        words = comma.join(f"{w.word} ({w.count})" for w in d.top_words)
        lines.append(("你最常用的词：" if zh else "Your most-used words: ") + words)
    suggestion = (
        fb.suggestion.text
        if language == fb.language and fb.suggestion.text
        else _suggestion_text(fb.suggestion.kind, fb.suggestion.params, language, d.length.unit)
    )
    lines.append(("建议：" if zh else "Suggestion: ") + suggestion)
    return "\n".join(f"- {line}" for line in lines)


def _speech_line(speech: Speech, language: Language) -> str:
    units = _UNIT_NAMES[language][speech.unit]
    if language == "zh":
        verdict = {"slow": "偏慢", "ok": "合适", "fast": "偏快"}[speech.status]
        line = f"语速：每分钟 {speech.pace} {units}（一般 {speech.low}–{speech.high}），{verdict}"
        if speech.pauses:
            longest = max(speech.pauses)
            line += f"；{len(speech.pauses)} 次较长停顿（最长 {longest:g} 秒）"
            if speech.pauses_noted:
                line += "，可以先想好要点再开口"
        return line
    verdict = {"slow": "slow", "ok": "comfortable", "fast": "fast"}[speech.status]
    line = f"Pace: {speech.pace} {units} a minute (comfortable: {speech.low}–{speech.high}), {verdict}"
    if speech.pauses:
        longest = max(speech.pauses)
        plural = "s" if len(speech.pauses) > 1 else ""
        line += f"; {len(speech.pauses)} long pause{plural} (longest {longest:g} s)"
        if speech.pauses_noted:
            line += ": note your main points before you start"
    return line


def render_comparison(comparison: FeedbackComparison, language: Language) -> str:
    """What changed since the last attempt, as bullet lines."""
    c = comparison
    zh = language == "zh"
    units = _UNIT_NAMES[language][c.unit]
    lines: list[str] = []
    if c.level_before is not None or c.level_after is not None:
        before = "未评分" if zh else "not scored"
        shown_before = str(c.level_before) if c.level_before is not None else before
        shown_after = str(c.level_after) if c.level_after is not None else before
        if c.level_change is None:
            trend = ""
        elif c.level_change > 0:
            trend = f"（提高 {c.level_change} 级）" if zh else f" (up {c.level_change})"
        elif c.level_change < 0:
            trend = f"（下降 {-c.level_change} 级）" if zh else f" (down {-c.level_change})"
        else:
            trend = "（不变）" if zh else " (no change)"
        lines.append(
            f"等级：{shown_before} → {shown_after}{trend}"
            if zh
            else f"Level: {shown_before} → {shown_after}{trend}"
        )
    if c.star_added:
        added = _join_parts(c.star_added, language)
        lines.append(f"结构：新增了{added}" if zh else f"Structure: added the {added}")
    if c.star_lost:
        lost = _join_parts(c.star_lost, language)
        lines.append(f"结构：这次缺少{lost}" if zh else f"Structure: the {lost} is now missing")
    if not c.star_added and not c.star_lost:
        lines.append("结构：没有变化" if zh else "Structure: unchanged")
    delta = f"{c.fillers_change:+.1f}"
    if zh:
        lines.append(f"口头禅：每百字 {c.fillers_before} → {c.fillers_after} 个（{delta}）")
        lines.append(f"长度：{c.length_before} → {c.length_after} {units}（{c.length_change:+d}）")
    else:
        lines.append(f"Filler words: {c.fillers_before} → {c.fillers_after} per 100 {units} ({delta})")
        lines.append(f"Length: {c.length_before} → {c.length_after} {units} ({c.length_change:+d})")
    sep = "；" if zh else "; "
    if c.talking_points_new:
        new = sep.join(_pick(t, language) for t in c.talking_points_new)
        lines.append(f"新讲到的要点：{new}" if zh else f"Newly covered: {new}")
    if c.talking_points_lost:
        lost_points = sep.join(_pick(t, language) for t in c.talking_points_lost)
        lines.append(f"这次没讲到：{lost_points}" if zh else f"No longer covered: {lost_points}")
    return "\n".join(f"- {line}" for line in lines)
