"""Interview flows: one YAML file per role, written by HR.

A flow names the role, its competencies (with weights summing to 1), the questions in order (each
tied to one competency, with follow-up probes, a time limit and a behaviourally anchored rubric with
levels 1..5), the closing text and two switches: whether candidates see feedback and whether walk-in
interviews (without an invitation) are open.

`check_flow_file` reports every problem as ``file:line: message`` so HR can fix a file in one pass.
This module is pure: it reads text and returns models or problems; storing versions is the store's job.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from language import yaml_files
from language.text import count_words

LANGUAGES = ("en", "zh")
RUBRIC_LEVELS = (1, 2, 3, 4, 5)
ROLE_ID = re.compile(r"^[a-z][a-z0-9_]{1,63}$")

Language = Literal["en", "zh"]
Texts = dict[str, str]
"""Text per language code, e.g. ``{"en": "...", "zh": "..."}``."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FollowUpCondition(_Model):
    """When a follow-up probe is asked. Conditions combine with AND; none given means always."""

    shorter_than_words: int | None = Field(default=None, ge=1)
    missing_any: list[str] | None = None
    """Asked when the answer contains none of these words (case-insensitive substring match)."""
    insufficient: bool | None = None
    """Asked when the scorer found too little evidence to score the answer."""

    def holds(self, answer: str, *, insufficient: bool = False) -> bool:
        if self.shorter_than_words is not None and count_words(answer) >= self.shorter_than_words:
            return False
        if self.missing_any:
            lowered = answer.lower()
            if any(word.lower() in lowered for word in self.missing_any):
                return False
        return not (self.insufficient is not None and self.insufficient != insufficient)


class FollowUp(_Model):
    id: str
    text: Texts
    when: FollowUpCondition = FollowUpCondition()
    yes_no: bool | None = None
    """A yes/no probe ("Did it happen again?"): a short "yes" or "没有" answers it. Unset: the bot
    tells from the wording."""


class Term(_Model):
    """A word of a question that candidates may ask about, and what it means here."""

    terms: list[str] = Field(min_length=1)
    """How candidates may write it, in any language ("post-mortem", "复盘")."""
    text: Texts


class Question(_Model):
    id: str
    competency: str
    text: Texts
    time_limit: int | None = Field(default=None, ge=10, description="seconds; default from config")
    follow_ups: list[FollowUp] = []
    rubric: dict[int, Texts]
    talking_points: list[Texts] = []
    reference_answers: list[Texts] = []
    yes_no: bool | None = None
    """A yes/no question ("Have you ever ...?"); unset: the bot tells from the wording."""
    clarification: Texts = {}
    """What the question is after, said another way, for a candidate who asks what it means
    ("can it be an example from university?"); without it the bot rephrases from the talking points."""
    glossary: list[Term] = []
    """Terms of the question explained, for "what do you mean by X?"."""

    @field_validator("rubric")
    @classmethod
    def _levels(cls, rubric: dict[int, Texts]) -> dict[int, Texts]:
        missing = [level for level in RUBRIC_LEVELS if level not in rubric]
        extra = [level for level in rubric if level not in RUBRIC_LEVELS]
        if missing or extra:
            raise ValueError(
                "rubric needs anchors for levels 1..5 "
                f"(missing {missing or 'none'}, unexpected {extra or 'none'})"
            )
        return rubric


class Competency(_Model):
    id: str
    name: Texts
    weight: Annotated[float, Field(gt=0, le=1)]
    description: Texts = {}


class Flow(_Model):
    """A role's structured interview, validated."""

    role: str
    title: Texts
    languages: list[Language] = Field(min_length=1)
    description: Texts = {}
    walk_in: bool = False
    show_feedback: bool = False
    read_aloud: bool = False
    """Questions are read aloud (as voice messages) unless the candidate sends ``/voice off``; with
    False they are read aloud only for candidates who send ``/voice on``."""
    competencies: list[Competency] = Field(min_length=1)
    questions: list[Question] = Field(min_length=1)
    closing: Texts

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)

    def competency(self, competency_id: str) -> Competency:
        for competency in self.competencies:
            if competency.id == competency_id:
                return competency
        raise KeyError(competency_id)

    @property
    def weights(self) -> dict[str, float]:
        return {c.id: c.weight for c in self.competencies}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a flow file, located for a person to fix."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class FlowSource:
    """A flow with the exact text it was read from; the version key is the text's digest."""

    flow: Flow
    text: str
    digest: str


class FlowError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_flow(text: str, path: str = "<flow>") -> FlowSource:
    """Validate flow YAML; raises `FlowError` listing every problem."""
    problems: list[Problem] = []
    try:
        node = yaml_files.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        reason = getattr(exc, "problem", None) or str(exc)
        raise FlowError([Problem(path, line, f"YAML syntax error: {reason}")]) from exc
    if node is None:
        raise FlowError([Problem(path, 1, "the file is empty; a flow needs role, title, questions ...")])
    lines = _line_map(node)
    data = yaml_files.safe_load(text)
    if not isinstance(data, dict):
        raise FlowError([Problem(path, 1, "a flow must be a mapping (role: ..., questions: ...)")])

    def line_of(loc: Iterable[Any]) -> int:
        key = tuple(loc)
        while key and key not in lines:
            key = key[:-1]
        return lines.get(key, 1)

    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            where = ".".join(str(part) for part in loc) or "flow"
            problems.append(Problem(path, line_of(loc), f"{where}: {error['msg']}"))
        raise FlowError(sorted(problems, key=lambda p: p.line)) from exc

    problems.extend(_semantic_problems(flow, path, line_of))
    if problems:
        raise FlowError(sorted(problems, key=lambda p: p.line))
    return FlowSource(flow=flow, text=text, digest=digest(text))


def _semantic_problems(flow: Flow, path: str, line_of: Any) -> list[Problem]:
    problems: list[Problem] = []

    def add(loc: tuple[Any, ...], message: str) -> None:
        problems.append(Problem(path, line_of(loc), message))

    if not ROLE_ID.match(flow.role):
        add(("role",), f"role id {flow.role!r} must be lower-case letters, digits and underscores")
    total = sum(c.weight for c in flow.competencies)
    if abs(total - 1.0) > 1e-6:
        add(("competencies",), f"competency weights sum to {total:.3f}; they must sum to 1")
    known: set[str] = set()
    for i, competency in enumerate(flow.competencies):
        if competency.id in known:
            add(("competencies", i, "id"), f"duplicate competency id {competency.id!r}")
        known.add(competency.id)
        _check_texts(add, flow, ("competencies", i, "name"), competency.name)
    _check_texts(add, flow, ("title",), flow.title)
    _check_texts(add, flow, ("closing",), flow.closing)
    asked: set[str] = set()
    seen: set[str] = set()
    for i, question in enumerate(flow.questions):
        where = ("questions", i)
        if question.id in seen:
            add((*where, "id"), f"duplicate question id {question.id!r}")
        seen.add(question.id)
        if question.competency not in known:
            add(
                (*where, "competency"),
                f"question {question.id!r} names unknown competency {question.competency!r} "
                f"(known: {', '.join(sorted(known))})",
            )
        asked.add(question.competency)
        _check_texts(add, flow, (*where, "text"), question.text)
        for level, anchor in question.rubric.items():
            _check_texts(add, flow, (*where, "rubric", level), anchor)
        for j, follow_up in enumerate(question.follow_ups):
            if follow_up.id in seen:
                add((*where, "follow_ups", j, "id"), f"duplicate question id {follow_up.id!r}")
            seen.add(follow_up.id)
            _check_texts(add, flow, (*where, "follow_ups", j, "text"), follow_up.text)
        for j, point in enumerate(question.talking_points):
            _check_texts(add, flow, (*where, "talking_points", j), point)
        if question.clarification:
            _check_texts(add, flow, (*where, "clarification"), question.clarification)
        for j, term in enumerate(question.glossary):
            _check_texts(add, flow, (*where, "glossary", j, "text"), term.text)
    for i, competency in enumerate(flow.competencies):
        if competency.id not in asked:
            add(("competencies", i, "id"), f"no question assesses competency {competency.id!r}")
    return problems


def _check_texts(add: Any, flow: Flow, loc: tuple[Any, ...], texts: Mapping[str, str]) -> None:
    for language in flow.languages:
        if not str(texts.get(language, "")).strip():
            add(loc, f"{'.'.join(str(p) for p in loc)}: missing {language!r} translation")
    for code in texts:
        if code not in LANGUAGES:
            add((*loc, code), f"unknown language {code!r} (supported: {', '.join(LANGUAGES)})")


def _line_map(node: yaml.Node, prefix: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map each key path (as pydantic reports it) to its 1-based line in the file."""
    lines: dict[tuple[Any, ...], int] = {prefix: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key: Any = key_node.value
            if isinstance(key, str) and key.isdigit():
                key = int(key)
            lines[(*prefix, key)] = key_node.start_mark.line + 1
            child = _line_map(value_node, (*prefix, key))
            child[(*prefix, key)] = key_node.start_mark.line + 1
            lines.update(child)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines.update(_line_map(item, (*prefix, index)))
    return lines


def load_flow_file(path: Path) -> FlowSource:
    """Read and validate one flow file; a file that cannot be decoded is a problem, not a crash."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FlowError([Problem(str(path), 1, f"not UTF-8 text: {exc.reason}")]) from exc
    except OSError as exc:
        raise FlowError([Problem(str(path), 1, f"cannot read: {exc.strerror}")]) from exc
    return parse_flow(text, str(path))


def flow_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories to their ``*.yml``/``*.yaml`` files, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in {".yml", ".yaml"}))
        else:
            found.append(path)
    return found
