"""Request and response models of the workspace's flow tools, preview, FAQ, hires and validity
report (what ``/docs`` shows for them)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.hr.schemas import FlowProblem

LanguageCode = Literal["en", "zh"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- flows ------------------------------------------------------------------------------------------


class CompetencyView(BaseModel):
    id: str
    name: dict[str, str]
    weight: float | None


class FollowUpView(BaseModel):
    id: str
    text: dict[str, str]
    when: dict[str, object]
    """The condition as written (shorter_than_words, missing_any, insufficient); empty: always."""


class QuestionView(BaseModel):
    id: str
    competency: str
    text: dict[str, str]
    time_limit: int | None
    follow_ups: list[FollowUpView]
    rubric: dict[int, dict[str, str]]
    """Anchors by level 1..5."""
    missing_levels: list[int]
    talking_points: list[dict[str, str]]
    clarification: dict[str, str]
    glossary_terms: list[str]


class FlowStructure(BaseModel):
    role: str
    title: dict[str, str]
    languages: list[str]
    competencies: list[CompetencyView]
    weight_total: float
    weight_error: str | None
    """Set when the weights do not sum to 1 (or one is missing)."""
    unasked_competencies: list[str]
    questions: list[QuestionView]
    problems: list[FlowProblem]
    valid: bool


class FlowDiff(BaseModel):
    old_label: str
    new_label: str
    unified: str
    added: int
    removed: int
    html: str
    """A side-by-side table (difflib.HtmlDiff; the texts escaped)."""
    same: bool


class FlowRollback(_Request):
    version: int = Field(ge=1, le=2_147_483_647, description="the version whose text to publish again")


class ClarificationBody(_Request):
    clarification: dict[LanguageCode, str] = Field(
        description="what the question is after, said another way, per language; empty removes it"
    )


class FlowEdited(BaseModel):
    role: str
    version: int
    created: bool


# --- preview ----------------------------------------------------------------------------------------


class PreviewStart(_Request):
    source: str | None = Field(
        default=None,
        max_length=200_000,
        description="a draft's YAML to preview; the role's newest version when absent",
    )
    language: LanguageCode | None = None


class PreviewSay(_Request):
    text: str = Field(min_length=1, max_length=4000)


class PreviewReply(BaseModel):
    text: str
    buttons: list[str]


class PreviewScore(BaseModel):
    question_id: str
    competency: str
    level: float | None
    insufficient: str | None


class PreviewTurn(BaseModel):
    preview_id: str
    role: str
    state: str
    """The preview interview's state: consent, question, paused, done ..."""
    replies: list[PreviewReply]
    scores: list[PreviewScore]


# --- FAQ --------------------------------------------------------------------------------------------


class FaqEntryView(BaseModel):
    id: str
    scope: str
    questions: dict[str, list[str]]
    answer: dict[str, str]
    source: str
    editable: bool
    """HR's entries (stored in the database); the shipped files' entries are overridden by an HR
    entry with the same id."""
    overridden: bool = False


class FaqEntryBody(_Request):
    scope: str = Field(min_length=1, max_length=64, description="a role id, or 'company'")
    language: LanguageCode
    question: str = Field(min_length=3, max_length=500)
    answer: str = Field(min_length=1, max_length=4000)


# --- hires and validity -----------------------------------------------------------------------------


class HireCreate(_Request):
    employee_id: str = Field(
        min_length=1, max_length=128, description="the employee's id in the HR system (stored hashed)"
    )


class HirePublic(BaseModel):
    interview_id: int
    role: str
    candidate: str
    employee_key: str
    """The keyed hash EHR imports give the same employee id."""
    hired_by: str | None
    created_at: datetime
    performance: float | None
    """The performance rating imported from the HR system for this employee, once there is one."""


class CorrelationView(BaseModel):
    measure: str
    """``overall`` or a competency id."""
    n: int
    pearson: float | None
    spearman: float | None
    ci_low: float | None
    ci_high: float | None
    """The 95% confidence interval of Pearson's r (Fisher z)."""
    p_value: float | None
    note: str | None


class SuggestedWeight(BaseModel):
    competency: str
    current: float
    suggested: float
    r: float | None
    n: int
    basis: str


class ValidityReport(BaseModel):
    role: str
    hires: int
    with_performance: int
    correlations: list[CorrelationView]
    employees: int
    """Employee records of the role (the basis of the suggested weights)."""
    weights: list[SuggestedWeight]
    weights_differ: bool
    notes: list[str]
    report: str
    """`interviewer ehr weights`'s text for the role."""
