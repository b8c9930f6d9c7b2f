"""Flows in the workspace, beyond the editor (`bot.hr.flows`): a structured view of a flow's text
(competencies and weights, questions, follow-ups, rubric levels, clarifications), the difference
between two versions, rolling back to an earlier version, and setting a question's clarification
in the text without touching the rest of it (comments and layout stay).

The structured view reads the YAML leniently, so that a draft with problems still shows what it
says; the problems (`bot.hr.flows.check`) are listed beside it, and a weight total other than 1 is
shown as an error of its own.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from typing import Any

import yaml

from bot.hr.flows import check
from bot.hr.schemas import FlowProblem
from bot.hr.workspace_schemas import (
    CompetencyView,
    FlowDiff,
    FlowStructure,
    FollowUpView,
    QuestionView,
)
from flows.schema import LANGUAGES, RUBRIC_LEVELS, parse_flow
from language import yaml_files

WEIGHT_TOLERANCE = 1e-6
MAX_CLARIFICATION_CHARS = 2000


class FlowEditError(Exception):
    """The edit cannot be made (unknown question, a text that is not a flow ...); nothing changed."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def _texts(value: Any) -> dict[str, str]:
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items() if v is not None}
    if isinstance(value, str):
        return {"en": value}
    return {}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def structure(text: str, role: str) -> FlowStructure:
    """What the flow's text says, question by question, with its problems and the weight total."""
    _, problems = check(text, role)
    try:
        data = yaml_files.safe_load(text)
    except yaml.YAMLError:
        data = None
    if not isinstance(data, dict):
        data = {}
    competencies: list[CompetencyView] = []
    raw_competencies = data.get("competencies")
    for item in raw_competencies if isinstance(raw_competencies, list) else []:
        if not isinstance(item, dict):
            continue
        competencies.append(
            CompetencyView(
                id=str(item.get("id", "")),
                name=_texts(item.get("name")),
                weight=_number(item.get("weight")),
            )
        )
    weights = [c.weight for c in competencies]
    total = math.fsum(w for w in weights if w is not None)
    weight_error = None
    if any(w is None for w in weights):
        weight_error = "every competency needs a numeric weight"
    elif not competencies:
        weight_error = "the flow names no competencies"
    elif abs(total - 1.0) > WEIGHT_TOLERANCE:
        weight_error = f"the competency weights sum to {total:.3f}; they must sum to 1"
    questions: list[QuestionView] = []
    raw_questions = data.get("questions")
    for item in raw_questions if isinstance(raw_questions, list) else []:
        if not isinstance(item, dict):
            continue
        rubric_raw = item.get("rubric")
        rubric = {
            int(level): _texts(anchor)
            for level, anchor in (rubric_raw.items() if isinstance(rubric_raw, dict) else [])
            if str(level).isdigit()
        }
        follow_ups = []
        raw_follow_ups = item.get("follow_ups")
        for probe in raw_follow_ups if isinstance(raw_follow_ups, list) else []:
            if isinstance(probe, dict):
                when = probe.get("when")
                follow_ups.append(
                    FollowUpView(
                        id=str(probe.get("id", "")),
                        text=_texts(probe.get("text")),
                        when={str(k): v for k, v in when.items()} if isinstance(when, dict) else {},
                    )
                )
        points = item.get("talking_points")
        glossary = item.get("glossary")
        time_limit = item.get("time_limit")
        questions.append(
            QuestionView(
                id=str(item.get("id", "")),
                competency=str(item.get("competency", "")),
                text=_texts(item.get("text")),
                time_limit=time_limit
                if isinstance(time_limit, int) and not isinstance(time_limit, bool)
                else None,
                follow_ups=follow_ups,
                rubric=rubric,
                missing_levels=[level for level in RUBRIC_LEVELS if level not in rubric],
                talking_points=[_texts(p) for p in points] if isinstance(points, list) else [],
                clarification=_texts(item.get("clarification")),
                glossary_terms=[
                    ", ".join(str(t) for t in term["terms"])
                    for term in (glossary if isinstance(glossary, list) else [])
                    if isinstance(term, dict) and isinstance(term.get("terms"), list)
                ],
            )
        )
    languages = data.get("languages")
    weight_of = {c.id: c.weight or 0.0 for c in competencies}
    asked = {q.competency for q in questions}
    return FlowStructure(
        role=str(data.get("role", role)),
        title=_texts(data.get("title")),
        languages=[str(x) for x in languages] if isinstance(languages, list) else [],
        competencies=competencies,
        weight_total=round(total, 6),
        weight_error=weight_error,
        unasked_competencies=[c for c in weight_of if c not in asked],
        questions=questions,
        problems=problems,
        valid=not problems,
    )


def diff(old: str, new: str, old_label: str, new_label: str) -> FlowDiff:
    """The unified diff of two versions' texts, and a side-by-side HTML table (`difflib.HtmlDiff`,
    which escapes the texts)."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    unified = "\n".join(
        difflib.unified_diff(old_lines, new_lines, fromfile=old_label, tofile=new_label, lineterm="")
    )
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    added = removed = 0
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in {"replace", "delete"}:
            removed += i2 - i1
        if tag in {"replace", "insert"}:
            added += j2 - j1
    table = difflib.HtmlDiff(tabsize=2, wrapcolumn=70).make_table(
        old_lines, new_lines, old_label, new_label, context=True, numlines=3
    )
    return FlowDiff(
        old_label=old_label,
        new_label=new_label,
        unified=unified,
        added=added,
        removed=removed,
        html=table,
        same=old == new,
    )


def set_clarification(text: str, question_id: str, clarification: Mapping[str, str]) -> str:
    """The flow's text with the question's ``clarification`` set (an empty mapping removes what it
    says), every other line as it was. The result is checked as a whole flow.

    Raises:
        FlowEditError: the text is not a valid flow, the question is unknown, or the result is invalid.
    """
    cleaned = {lang: value.strip() for lang, value in clarification.items() if value.strip()}
    unknown = [lang for lang in cleaned if lang not in LANGUAGES]
    if unknown:
        raise FlowEditError(f"unknown language {unknown[0]!r} (supported: {', '.join(LANGUAGES)})")
    if any(len(v) > MAX_CLARIFICATION_CHARS for v in cleaned.values()):
        raise FlowEditError(f"a clarification is at most {MAX_CLARIFICATION_CHARS} characters")
    try:
        parse_flow(text)
        root = yaml_files.compose(text)
    except Exception as exc:  # FlowError or a YAML error: the stored text must be fixed first
        raise FlowEditError(f"the flow has problems; fix them in the editor first ({exc})") from exc
    assert isinstance(root, yaml.MappingNode)
    questions = next(v for k, v in root.value if k.value == "questions")
    node = next(
        (
            item
            for item in questions.value
            if isinstance(item, yaml.MappingNode)
            and any(k.value == "id" and v.value == question_id for k, v in item.value)
        ),
        None,
    )
    if node is None:
        raise FlowEditError(f"no question {question_id!r} in this flow", 404)
    value = json.dumps(cleaned, ensure_ascii=False)
    existing = next(((k, v) for k, v in node.value if k.value == "clarification"), None)
    if existing is not None:
        key_node, value_node = existing
        stop = _content_end(text, value_node)
        updated = text[: key_node.end_mark.index] + ": " + value + text[stop:]
    else:
        id_node = next(v for k, v in node.value if k.value == "id")
        line_end = text.find("\n", id_node.end_mark.index)
        indent = " " * node.start_mark.column
        insert = f"{indent}clarification: {value}\n"
        if line_end < 0:
            text, line_end = text + "\n", len(text)
        updated = text[: line_end + 1] + insert + text[line_end + 1 :]
    try:
        parsed = parse_flow(updated).flow
    except Exception as exc:
        raise FlowEditError(f"the clarification does not fit the flow: {exc}") from exc
    if dict(parsed.question(question_id).clarification) != cleaned:
        raise FlowEditError("the clarification could not be placed in the flow's text")
    return updated


def _content_end(text: str, node: yaml.Node) -> int:
    """Where a node's own text ends: a block collection's PyYAML end mark lies at the next token
    (past comments and the next key's indent), so take its last child's end instead."""
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and not node.flow_style and node.value:
        last = node.value[-1]
        return _content_end(text, last[1] if isinstance(last, tuple) else last)
    end = node.end_mark.index
    while end > node.start_mark.index and text[end - 1] in " \t\r\n":
        end -= 1
    return end


def problems_text(problems: list[FlowProblem]) -> str:
    return "; ".join(f"line {p.line}: {p.message}" for p in problems[:20])
