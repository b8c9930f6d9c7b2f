"""Intent classification on the held-out labelled messages (the numbers bench/nlu.py prints)."""

from __future__ import annotations

import asyncio
import json

from bot.nlu import IntentClassifier
from bot.settings import ROOT

DATA = ROOT / "tests" / "data" / "nlu_messages.jsonl"


def test_held_out_set_is_large_bilingual_and_unseen() -> None:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 300
    assert {row["lang"] for row in rows} == {"en", "zh"}
    training = set()
    for path in (ROOT / "dialogues" / "nlu").glob("*.yml"):
        training |= {
            line.strip()[2:].strip()
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip().startswith("- ")
        }
    assert not [row["text"] for row in rows if row["text"] in training]


def test_answers_are_told_from_everything_else(classifier: IntentClassifier) -> None:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]

    async def classify() -> list[str]:
        return [p.intent for p in await asyncio.gather(*(classifier.parse(r["text"]) for r in rows))]

    predicted = asyncio.run(classify())
    gold = [row["intent"] for row in rows]
    answer_vs_not = sum(
        (g == "answer") == (p == "answer") for g, p in zip(gold, predicted, strict=True)
    ) / len(rows)
    intent_accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(rows)
    assert answer_vs_not >= 0.95
    assert intent_accuracy >= 0.90


async def test_a_parse_keeps_its_vector_and_explains_itself(classifier: IntentClassifier) -> None:
    parse = await classifier.parse(
        "I mapped the stakeholders and rebuilt the proposal around their budget cycle."
    )
    assert parse.intent == "answer" and parse.vector is not None and parse.vector.shape == (384,)
    assert len(parse.neighbours) == 5 and parse.neighbours[0][2] >= parse.neighbours[-1][2]
    chinese = await classifier.parse("这个岗位可以远程办公吗？")
    assert chinese.language == "zh" and chinese.intent == "faq_question"
