"""Intent accuracy on the held-out labelled candidate messages (tests/data/nlu_messages.jsonl).

Prints overall and per-language intent accuracy, the answer-vs-not-answer confusion (what matters
most: an answer taken for something else is lost from scoring; a question taken for an answer is
scored as one) and how often the bot would ask instead of deciding.

    .venv/bin/python bench/nlu.py [--data tests/data/nlu_messages.jsonl] [--errors] [--engine e5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.nlu import IntentClassifier, load_examples  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from language.embeddings import EmbeddingServices  # noqa: E402


async def evaluate(rows: list[dict[str, Any]], threshold: float, engine: str | None = None) -> dict[str, Any]:
    settings = load_settings()
    classifier = IntentClassifier(
        load_examples(settings.dialogues_dir / "nlu"),
        EmbeddingServices(settings.embeddings.backend, settings.cache_dir),
        settings.nlu.models,
        also=settings.scoring.models.values(),
        neighbours=settings.nlu.neighbours,
        cache_dir=settings.cache_dir,
    )
    await classifier.prepare()
    parses = await asyncio.gather(*(classifier.parse(row["text"], engine) for row in rows))
    confusion: Counter[tuple[bool, bool]] = Counter()
    correct: Counter[str] = Counter()
    total: Counter[str] = Counter()
    asks = 0
    errors = []
    for row, parse in zip(rows, parses, strict=True):
        gold, predicted = row["intent"], parse.intent
        total[row["lang"]] += 1
        correct[row["lang"]] += gold == predicted
        confusion[(gold == "answer", predicted == "answer")] += 1
        asks += parse.confidence < threshold
        if gold != predicted:
            errors.append(
                {
                    "text": row["text"],
                    "gold": gold,
                    "predicted": predicted,
                    "confidence": round(parse.confidence, 3),
                }
            )
    n = len(rows)
    return {
        "n": n,
        "intent_accuracy": sum(correct.values()) / n,
        "intent_accuracy_by_language": {lang: correct[lang] / total[lang] for lang in sorted(total)},
        "answer_vs_not_accuracy": (confusion[(True, True)] + confusion[(False, False)]) / n,
        "confusion": {
            "answer_as_answer": confusion[(True, True)],
            "answer_as_other": confusion[(True, False)],
            "other_as_answer": confusion[(False, True)],
            "other_as_other": confusion[(False, False)],
        },
        "low_confidence_share": asks / n,
        "errors": errors,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "nlu_messages.jsonl")
    parser.add_argument("--errors", action="store_true", help="list every misclassified message")
    parser.add_argument(
        "--engine",
        choices=["minilm", "e5"],
        help="classify with this engine wherever it reads the language (as in a flow scored with it)",
    )
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    result = asyncio.run(evaluate(rows, load_settings().nlu.threshold, args.engine))
    print(f"messages: {result['n']}")
    print(
        f"intent accuracy: {result['intent_accuracy']:.3f}  by language: "
        + "  ".join(f"{k} {v:.3f}" for k, v in result["intent_accuracy_by_language"].items())
    )
    print(f"answer vs not-answer accuracy: {result['answer_vs_not_accuracy']:.3f}")
    c = result["confusion"]
    print("confusion (rows gold, columns predicted):")
    print(f"  {'':12}{'answer':>10}{'other':>10}")
    print(f"  {'answer':12}{c['answer_as_answer']:>10}{c['answer_as_other']:>10}")
    print(f"  {'other':12}{c['other_as_answer']:>10}{c['other_as_other']:>10}")
    print(f"low-confidence (bot asks) share: {result['low_confidence_share']:.3f}")
    if args.errors:
        for error in result["errors"]:
            gold, predicted, confidence = error["gold"], error["predicted"], error["confidence"]
            print(f"  {gold:>15} -> {predicted:<15} {confidence:.2f}  {error['text'][:90]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
