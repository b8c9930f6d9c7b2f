"""The workspace API's request and response models (what ``/docs`` shows)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field

from bot.hr.accounts import MAX_PASSWORD_CHARS, Role

RowId = Annotated[int, Path(ge=1, le=2_147_483_647, description="a row's id")]
"""A path's row id: within PostgreSQL's integer, so a huge number is a 422, not a database error."""
Outcome = Literal["advance", "hold", "reject"]
InterviewState = Literal["consent", "question", "paused", "done", "withdrawn", "declined"]
MAX_NOTE_CHARS = 4000


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserPublic(BaseModel):
    id: int
    email: str
    role: Role
    active: bool
    must_change_password: bool
    created_at: datetime
    language: Literal["en", "zh"] | None = None
    """The workspace's language; None follows the browser's Accept-Language."""
    time_zone: str | None = None
    """The IANA zone dates are shown in; None is UTC."""


class PreferencesUpdate(_Request):
    """Your language and time zone; a field left out stays as it is, ``""`` clears it."""

    language: Literal["en", "zh", ""] | None = None
    time_zone: str | None = Field(default=None, max_length=64, description="an IANA zone, e.g. Asia/Shanghai")


class UserCreate(_Request):
    email: str = Field(min_length=3, max_length=254)
    role: Role


class UserCreated(BaseModel):
    user: UserPublic
    one_time_password: str
    """Shown once: give it to the user, who must change it at first sign-in."""


class UserUpdate(_Request):
    role: Role | None = None
    active: bool | None = None


class PasswordChange(_Request):
    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)
    new_password: str = Field(min_length=1, max_length=MAX_PASSWORD_CHARS)


class TokenCreate(_Request):
    name: str = Field(min_length=1, max_length=64, description="what the token is for, e.g. 'ATS sync'")


class TokenPublic(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(BaseModel):
    token: TokenPublic
    secret: str
    """The token itself, shown once: send it as ``Authorization: Bearer <secret>``."""


class RoleSummary(BaseModel):
    role: str
    title: dict[str, str]
    interviews: int
    completed: int
    decided: int


class DecisionPublic(BaseModel):
    id: int
    outcome: Outcome
    note: str
    decided_by: str | None
    created_at: datetime


class CandidateRow(BaseModel):
    interview_id: int
    candidate: str
    """The candidate's pseudonymous reference."""
    state: str
    overall: float | None
    """The weighted mean level, 1..5."""
    match: float | None
    """``overall`` on 0..1."""
    competencies: dict[str, float]
    decision: Outcome | None
    started_at: datetime
    completed_at: datetime | None


class CandidatePage(BaseModel):
    role: str
    total: int
    """How many candidates match the filters (all pages)."""
    offset: int
    limit: int
    next_offset: int | None
    """The ``offset`` of the next page, or None on the last page."""
    page: int
    """``offset // limit + 1``."""
    page_size: int
    """The same as ``limit``."""
    rows: list[CandidateRow]


class ExemplarUsed(BaseModel):
    id: str
    similarity: float
    rating: float


class TalkingPoint(BaseModel):
    text: str
    similarity: float


class VoiceConfidence(BaseModel):
    duration_seconds: float | None
    language: str | None
    model: str | None
    avg_logprob: float | None
    no_speech_prob: float | None
    confirmed_by_candidate: bool
    """The recogniser was unsure and the candidate confirmed the transcript."""


class AnswerEvidence(BaseModel):
    question_id: str
    follow_up_id: str | None
    competency: str
    question: str
    status: str
    text: str
    late: bool
    level: float | None
    rounded_level: int | None
    confidence: float | None
    insufficient: str | None
    """Why the answer was not scored (too short, off the question ...), or None."""
    rubric_level: str | None
    """The rubric's description of the level matched."""
    method: str | None
    anchor_level: int | None
    anchor_similarity: float | None
    relevance: float | None
    exemplars: list[ExemplarUsed]
    talking_points_covered: list[TalkingPoint]
    talking_points_missed: list[TalkingPoint]
    flags: list[str]
    model_id: str | None
    voice: VoiceConfidence | None


class CompetencyResult(BaseModel):
    competency: str
    name: str
    weight: float
    level: float | None
    confidence: float | None
    answers: int


class CandidateReport(BaseModel):
    interview_id: int
    candidate: str
    role: str
    language: str
    state: str
    flow_version: int
    started_at: datetime
    completed_at: datetime | None
    overall: float | None
    match: float | None
    competencies: list[CompetencyResult]
    unassessed: list[str]
    answers: list[AnswerEvidence]
    decisions: list[DecisionPublic]
    """Newest first; the first is the current decision."""


class DecisionCreate(_Request):
    outcome: Outcome
    note: str = Field(default="", max_length=MAX_NOTE_CHARS)


class AuditEntry(BaseModel):
    id: int
    actor: str
    action: str
    target: str | None
    candidate: str | None
    changes: dict[str, object]
    created_at: datetime


class FlowProblem(BaseModel):
    line: int
    message: str


class FlowVersionPublic(BaseModel):
    id: int
    role: str
    version: int
    digest: str
    created_at: datetime


class FlowSourceBody(_Request):
    source: str = Field(min_length=1, max_length=200_000, description="the flow's YAML")


class FlowCheck(BaseModel):
    valid: bool
    problems: list[FlowProblem]
    """Each with its line, as `interviewer flows check` prints them."""


class QuestionScoring(BaseModel):
    """How one question of the flow is scored: its own exemplars and how sure its scores are."""

    question_id: str
    competency: str
    exemplars: int
    """Rated answers of this question; 0: scored from the rubric anchors and reference answers."""
    pool: str
    """``question``, ``competency`` (too few of its own: its competency's) or ``none``."""
    method: str
    expected_error: float | None
    """Cross-validated error in rubric levels (folds by question); None: not measurable yet."""
    confidence: float
    """The highest confidence a score of this question can get (0..1)."""
    few: bool = False
    """Fewer exemplars of its own than the scorer needs to compare its answers with them alone:
    rate answers to it (``answers``) and promote them to seed it."""
    answers: str = ""
    """Where its answers are listed for rating (``GET``); ``POST`` ``.../exemplars`` promotes them."""


class FlowView(BaseModel):
    role: str
    version: int
    source: str
    versions: list[FlowVersionPublic]
    questions: list[QuestionScoring] = []
    """Per question, its exemplars and how sure its scores are (empty until its scorer is built)."""


class FlowPublished(BaseModel):
    role: str
    version: int
    created: bool
    """False when the text is the latest version's (nothing new was stored)."""
