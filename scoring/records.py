"""Plain input records of the scorer: rubric questions and scored exemplar answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flows.schema import Flow, Question

LEVELS = (1, 2, 3, 4, 5)
"""Rubric levels of an interview question; scores are reported on this scale."""


@dataclass(frozen=True)
class Exemplar:
    """A past answer with a human rating (from the EHR, an employee, or a benchmark).

    ``rating`` lies on ``scale_min..scale_max`` (1..5 for interview rubrics; benchmarks use other
    scales, e.g. 0..10); the scorer works on the normalised value.
    """

    id: str
    question_id: str
    competency: str
    text: str
    rating: float
    scale_max: float = 5
    source: str = "past_interview"
    performance: float | None = None
    scale_min: float = 1

    def __post_init__(self) -> None:
        if self.scale_max <= self.scale_min:
            raise ValueError(
                f"exemplar {self.id!r}: scale_max ({self.scale_max}) must exceed scale_min ({self.scale_min})"
            )
        if not self.scale_min <= self.rating <= self.scale_max:
            raise ValueError(
                f"exemplar {self.id!r}: rating {self.rating} is outside its scale "
                f"{self.scale_min}..{self.scale_max}; set scale_min/scale_max to the scale HR used"
            )

    @property
    def normalized(self) -> float:
        """The rating on 0 (worst) .. 1 (best)."""
        return (self.rating - self.scale_min) / (self.scale_max - self.scale_min)

    @property
    def level(self) -> float:
        """The rating on the rubric's 1..5 scale."""
        return normalized_to_level(self.normalized)


def normalized_to_level(value: float) -> float:
    return LEVELS[0] + (LEVELS[-1] - LEVELS[0]) * min(max(value, 0.0), 1.0)


def level_to_normalized(level: float) -> float:
    return (level - LEVELS[0]) / (LEVELS[-1] - LEVELS[0])


@dataclass(frozen=True)
class RubricQuestion:
    """One question in one language, as the scorer sees it.

    Attributes:
        anchors: behavioural anchor text per rubric level (1..5); may be empty (benchmarks).
        talking_points: what a good answer mentions; reported as covered or missed.
        reference_answers: model answers (level 5).
    """

    id: str
    competency: str
    text: str
    anchors: dict[int, str] = field(default_factory=dict)
    talking_points: list[str] = field(default_factory=list)
    reference_answers: list[str] = field(default_factory=list)
    flow_texts: list[tuple[str, str]] = field(default_factory=list)
    """(kind, text) for the question, its rubric levels and talking points in every language of the
    flow: what an answer must not be a copy of (see `scoring.checks`). Reference answers are not
    among them: candidates never see them, and a reference answer must score at the top."""
    topic_texts: list[tuple[str, str]] = field(default_factory=list)
    """(language, text) for the question, its rubric levels, talking points and reference answers in
    every language of the flow: what the on-topic check compares an answer with, in the answer's own
    language (an English answer's nearest material in a Chinese-first flow is otherwise all across
    languages). Empty: the texts above, in this question's one language."""


def _pick(texts: dict[str, str], language: str, fallbacks: Sequence[str]) -> str:
    for code in (language, *fallbacks):
        text = texts.get(code, "").strip()
        if text:
            return text
    return ""


def _flow_texts(question: Question) -> list[tuple[str, str]]:
    out = [("question", t) for t in question.text.values()]
    for level, texts in sorted(question.rubric.items()):
        out += [(f"rubric (level {level})", t) for t in texts.values()]
    for point in question.talking_points:
        out += [("talking points", t) for t in point.values()]
    return [(kind, t.strip()) for kind, t in out if t.strip()]


def _topic_texts(question: Question) -> list[tuple[str, str]]:
    texts = [question.text, *question.rubric.values(), *question.talking_points, *question.reference_answers]
    return [(code, t.strip()) for each in texts for code, t in each.items() if t.strip()]


def questions_from_flow(flow: Flow, language: str) -> list[RubricQuestion]:
    """The flow's questions in ``language`` (falling back to the flow's other languages per text)."""
    fallbacks = [code for code in flow.languages if code != language]
    questions: list[RubricQuestion] = []
    for question in flow.questions:
        anchors = {int(level): _pick(texts, language, fallbacks) for level, texts in question.rubric.items()}
        questions.append(
            RubricQuestion(
                id=question.id,
                competency=question.competency,
                text=_pick(question.text, language, fallbacks),
                anchors={level: text for level, text in sorted(anchors.items()) if text},
                talking_points=[
                    t for t in (_pick(p, language, fallbacks) for p in question.talking_points) if t
                ],
                reference_answers=[
                    t for t in (_pick(a, language, fallbacks) for a in question.reference_answers) if t
                ],
                flow_texts=_flow_texts(question),
                topic_texts=_topic_texts(question),
            )
        )
    return questions
