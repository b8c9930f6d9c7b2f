"""Answers no cache has seen: sample answers recombined and perturbed per candidate.

For each question, sentences are drawn from several of the role's sample exemplar answers (and the
flow's reference answers), kept in their order, with synonyms swapped, every number changed and one
detail sentence with a random number added, so each text is new to every cache (the disk caches,
the scorers' memos, the knowledge base's) while still reading like an answer to the question.
Used by ``bench/turns.py`` and the tests of the turn path; a seed makes a run repeatable.
"""

from __future__ import annotations

import csv
import json
import random
import re
from pathlib import Path

from flows.schema import Flow

ROOT = Path(__file__).resolve().parent.parent

_SENTENCE = {
    "en": re.compile(r"(?<=[.!?])\s+"),
    "zh": re.compile(r"(?<=[。！？；])"),
}
_NUMBER = re.compile(r"\d+")
SYNONYMS = {
    "en": {
        "customer": "client",
        "client": "customer",
        "team": "group",
        "meeting": "call",
        "quickly": "fast",
        "problem": "issue",
        "issue": "problem",
        "decided": "chose",
        "improve": "raise",
        "important": "key",
        "asked": "requested",
        "because": "since",
        "then": "after that",
        "results": "outcomes",
    },
    "zh": {
        "客户": "用户",
        "团队": "小组",
        "问题": "难题",
        "然后": "接着",
        "因为": "由于",
        "最后": "最终",
        "方案": "办法",
        "会议": "会",
        "提高": "提升",
        "发现": "注意到",
    },
}
DETAILS = {
    "en": [
        "The team had {n} people at the time.",
        "It took us about {n} days in the end.",
        "We tracked it weekly for {n} weeks afterwards.",
        "About {n} percent of the accounts were affected.",
        "I still use the checklist from that project, item {n} especially.",
    ],
    "zh": [
        "当时团队有{n}个人。",
        "前后大概花了{n}天。",
        "之后我们每周跟踪，持续了{n}周。",
        "大约有百分之{n}的用户受到影响。",
        "那次的检查清单我现在还在用，特别是第{n}条。",
    ],
}


def sample_answers(flow: Flow, language: str) -> dict[str, list[str]]:
    """The role's sample exemplar answers in ``language`` (rated 2 or more) and the flow's reference
    answers, by question."""
    bank: dict[str, list[str]] = {q.id: [] for q in flow.questions}
    for path in sorted((ROOT / "dialogues" / "ehr").glob(f"{flow.role}_exemplars.*")):
        if path.suffix == ".json":
            rows = json.loads(path.read_text("utf-8"))
        else:
            with path.open(encoding="utf-8") as file:
                rows = list(csv.DictReader(file))
        for row in rows:
            same = str(row.get("language") or "en") == language
            if row["question_id"] in bank and float(row["rating"]) >= 2 and same:
                bank[row["question_id"]].append(str(row["answer_text"]))
    for question in flow.questions:
        for reference in question.reference_answers:
            if language in reference:
                bank[question.id].append(reference[language])
    return bank


def _sentences(text: str, language: str) -> list[str]:
    return [s.strip() for s in _SENTENCE[language].split(text) if s.strip()]


def unseen_answer(sources: list[str], language: str, rng: random.Random) -> str:
    """One answer made from sentences of up to three ``sources``, perturbed (see module docstring)."""
    chosen = rng.sample(sources, k=min(len(sources), rng.choice([1, 2, 3])))
    sentences: list[str] = []
    for source in chosen:
        parts = _sentences(source, language)
        if not parts:
            continue
        start = rng.randrange(len(parts))
        sentences += parts[start : start + rng.randint(2, 5)]
    sentences.insert(rng.randrange(len(sentences) + 1), rng.choice(DETAILS[language]))
    text = (" " if language == "en" else "").join(sentences)
    for word, other in SYNONYMS[language].items():
        if rng.random() < 0.5:
            text = re.sub(rf"\b{word}\b", other, text) if language == "en" else text.replace(word, other)
    text = _NUMBER.sub(lambda m: str(max(1, int(m.group()) + rng.randint(1, 9))), text)
    return text.replace("{n}", str(rng.randint(2, 99)))


def unseen_interview(flow: Flow, language: str, rng: random.Random) -> list[str]:
    """An answer to each question of ``flow`` that no cache has seen."""
    bank = sample_answers(flow, language)
    return [unseen_answer(bank[q.id] or [q.text[language]], language, rng) for q in flow.questions]
