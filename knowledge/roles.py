"""The role catalog and role recommendations.

`load_catalog` reads ``dialogues/roles.yml``: each open role with a title and description in English
and Chinese and a competency profile (the level it needs on the 1..5 rubric scale and the weight of
each competency). `recommend` compares a candidate's competency scores from one interview or practice
session with every other role:

* fit: over the role's competencies the candidate has evidence for, the weighted share of the
  required level they reach (a competency scored one level below the requirement counts half);
* coverage: the role's weight the candidate has evidence for; a role is recommended only when at
  least half of it is covered, so one good answer recommends nothing;
* content, a tie-breaker: how much the words of the candidate's answers overlap the role's
  description (character n-gram TF-IDF, which reads English and Chinese alike).

Each recommendation carries the one competency behind it, so the reason given to the candidate is
true and checkable: "your customer-focus answers scored 4.5 of 5; Customer Success Lead weighs
customer focus most". Pure: scores and texts in, recommendations out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flows.schema import Problem
from language import yaml_files

MIN_COVERAGE = 0.5
"""The share of a role's competency weight the candidate must have evidence for."""
MIN_FIT = 0.75
"""Below this fit a role is not recommended."""
MIN_ASSESSED = 2
"""Competencies that must be assessed before anything is recommended."""
CONTENT_WEIGHT = 0.1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Requirement(_Model):
    level: float = Field(ge=1, le=5)
    weight: float = Field(gt=0, le=1)


class CatalogRole(_Model):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    title: dict[str, str]
    description: dict[str, str]
    competencies: dict[str, Requirement]
    open: bool = True

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> CatalogRole:
        total = sum(r.weight for r in self.competencies.values())
        if abs(total - 1) > 0.01:
            raise ValueError(f"competency weights of {self.id} sum to {total:.2f}, not 1")
        return self

    def top_competency(self) -> str:
        return max(self.competencies, key=lambda c: self.competencies[c].weight)

    def text(self, field: Mapping[str, str], language: str) -> str:
        return field.get(language) or field.get("en") or next(iter(field.values()))


class Catalog(_Model):
    competencies: dict[str, dict[str, str]]
    roles: list[CatalogRole]

    def role(self, role_id: str) -> CatalogRole | None:
        return next((r for r in self.roles if r.id == role_id), None)

    def competency_name(self, competency: str, language: str) -> str:
        names = self.competencies.get(competency, {})
        return names.get(language) or names.get("en") or competency.replace("_", " ")


def load_catalog(path: Path) -> tuple[Catalog | None, list[Problem]]:
    try:
        raw = yaml_files.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return None, [Problem(str(path), (mark.line + 1) if mark else 1, f"YAML syntax error: {exc}")]
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        return None, [
            Problem(str(path), 1, f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}") for e in exc.errors()
        ]
    problems = []
    for role in catalog.roles:
        for competency in role.competencies:
            if competency not in catalog.competencies:
                problems.append(Problem(str(path), 1, f"{role.id}: unknown competency {competency!r}"))
    if len({r.id for r in catalog.roles}) != len(catalog.roles):
        problems.append(Problem(str(path), 1, "duplicate role id"))
    return (None if problems else catalog), problems


@dataclass(frozen=True)
class Recommendation:
    role: str
    title: str
    fit: float
    coverage: float
    content: float
    competency: str
    """The competency behind the recommendation: strong in the candidate, weighty in the role."""
    score: float
    """The candidate's level in that competency."""
    role_top: bool
    """Whether that competency is the one the role weighs most."""


def recommend(
    catalog: Catalog,
    scores: Mapping[str, float],
    *,
    exclude: Sequence[str] = (),
    answers: str = "",
    language: str = "en",
    limit: int = 3,
) -> list[Recommendation]:
    """Up to ``limit`` open roles that fit ``scores`` (competency -> level 1..5), best first."""
    assessed = {c: float(level) for c, level in scores.items() if level is not None}
    if len(assessed) < MIN_ASSESSED:
        return []
    candidates = [r for r in catalog.roles if r.open and r.id not in exclude]
    content = _content_similarity(answers, [r.text(r.description, language) for r in candidates])
    found = []
    for role, similarity in zip(candidates, content, strict=True):
        covered = {c: req for c, req in role.competencies.items() if c in assessed}
        coverage = sum(req.weight for req in covered.values())
        if coverage < MIN_COVERAGE:
            continue
        fit = sum(req.weight * _reach(assessed[c], req.level) for c, req in covered.items()) / coverage
        if fit < MIN_FIT:
            continue
        reason = max(covered, key=lambda c: (covered[c].weight * assessed[c], covered[c].weight))
        found.append(
            Recommendation(
                role=role.id,
                title=role.text(role.title, language),
                fit=round(fit, 3),
                coverage=round(coverage, 3),
                content=round(similarity, 3),
                competency=reason,
                score=round(assessed[reason], 1),
                role_top=reason == role.top_competency(),
            )
        )
    found.sort(key=lambda r: (-(r.fit * r.coverage + CONTENT_WEIGHT * r.content), r.role))
    return found[:limit]


def _reach(level: float, required: float) -> float:
    """1 when the candidate reaches the required level, half at one level below, 0 at two."""
    return max(0.0, min(1.0, 1 - (required - level) / 2))


def _content_similarity(answers: str, descriptions: list[str]) -> list[float]:
    if not answers.strip() or not descriptions:
        return [0.0] * len(descriptions)
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True)
    matrix = vectorizer.fit_transform([answers, *descriptions])
    similarities = (matrix[1:] @ matrix[0].T).toarray().ravel()
    return [float(s) for s in similarities]
