"""What the bot makes of candidates' messages: intents alone, or classifier and policy in context.

Two kinds of labelled data (JSON lines), told apart by their fields:

* ``intent`` rows (tests/data/nlu_messages.jsonl): intent accuracy of the classifier alone, the
  answer-vs-not confusion and how often the bot would ask instead of deciding.
* ``expected`` rows (tests/data/nlu_dev.jsonl to nlu_dev6.jsonl, the later ones once-sealed sets; a sealed set
  has the same shape): each message is sent through the classifier **and the policy** in its state
  (``question``: the role's flow's question ``question``, 1-based, pending, embedded by the engine
  that scores the flow, as in the bot; ``before``: no interview yet; ``consent``: asked to agree before the
  questions; ``paused``; ``done``: after the end) and what the bot does is compared with
  ``expected`` (answer, faq, clarify, skip, pause, repeat, start or other; ``start`` is starting,
  agreeing or resuming, whichever the state calls for). Prints,
  per language, the share handled as intended; non-answers (questions and requests) recorded as
  answers, as a share of all messages; answers neither recorded nor confirmed, as a share of the
  answers; and how often the bot asks to confirm.

    .venv/bin/python bench/nlu.py [--data tests/data/nlu_dev.jsonl] [--errors] [--engine e5]
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

from bot.nlu import IntentClassifier  # noqa: E402
from bot.policy import decide, pending_question  # noqa: E402
from bot.settings import Settings, load_settings  # noqa: E402
from flows.schema import Flow, flow_files, load_flow_file  # noqa: E402
from language.embeddings import EmbeddingServices  # noqa: E402

STATES = {"question": "question", "before": "idle", "consent": "consent", "paused": "paused", "done": "done"}
OUTCOMES = (
    ("action_record_answer", "answer"),
    ("action_confirm_answer", "confirm"),
    ("action_confirm_transcript", "confirm"),
    ("action_confirm_skip", "confirm_skip"),
    ("action_answer_faq", "faq"),
    ("action_clarify_question", "clarify"),
    ("action_skip_question", "skip"),
    ("action_pause", "pause"),
    ("action_repeat_question", "repeat"),
    ("action_start_interview", "start"),
    ("action_greet", "start"),
    ("action_begin_questions", "start"),
    ("action_resume", "start"),
)
"""What the bot does, by the first of these actions the policy decides (else ``other``)."""


def outcome(actions: list[str]) -> str:
    return next((name for action, name in OUTCOMES if action in actions), "other")


def handled(expected: str, done: str) -> bool:
    """Whether the bot did what was intended. Asking is fine for a message that could be an
    answer or a question (it is counted in the confirm rate); asking whether to skip is fine for
    a skip; a message that is none of the kinds is handled when nothing is recorded or skipped."""
    if expected == done:
        return True
    if done == "confirm":
        return expected in {"answer", "faq", "clarify"}
    if done == "confirm_skip":
        return expected in {"skip", "answer"}
    if expected == "other":
        return done not in {"answer", "skip", "pause", "faq"}
    return False


def _classifier(settings: Settings) -> IntentClassifier:
    return IntentClassifier.from_settings(
        settings, EmbeddingServices(settings.embeddings.backend, settings.cache_dir)
    )


async def evaluate_in_context(rows: list[dict[str, Any]], engine: str | None = None) -> dict[str, Any]:
    settings = load_settings()
    classifier = _classifier(settings)
    await classifier.prepare()
    flows: dict[str, Flow] = {}
    for path in flow_files([settings.flows_dir]):
        flow = load_flow_file(path).flow
        flows[flow.role] = flow
    results = []
    for row in rows:
        state = STATES[row["state"]]
        flow = flows.get(str(row.get("role") or ""))
        preferred = engine
        question = None
        if state == "question" and flow is not None:
            preferred = engine or settings.scoring.models[flow.languages[0]]
            question = pending_question(flow, int(row.get("question") or 1) - 1, None, row["lang"])
        parse = await classifier.parse(row["text"], preferred)
        decision = decide(state, parse, None, threshold=settings.nlu.threshold, question=question)
        done = outcome(decision.actions)
        results.append((row, done, parse.reasons))
    per_language: dict[str, Counter[str]] = {}
    errors = []
    for row, done, reasons in results:
        counts = per_language.setdefault(row["lang"], Counter())
        expected = row["expected"]
        ok = handled(expected, done)
        counts["n"] += 1
        counts["handled"] += ok
        counts["answers"] += expected == "answer"
        counts["answers_lost"] += expected == "answer" and done not in {"answer", "confirm", "confirm_skip"}
        counts["non_answers_recorded"] += expected != "answer" and done == "answer"
        counts["confirm"] += done in {"confirm", "confirm_skip"}
        counts["strict"] += expected == done
        if not ok:
            errors.append({"row": row, "done": done, "reasons": reasons})
    total: Counter[str] = Counter()
    for counts in per_language.values():
        total.update(counts)
    return {"per_language": per_language, "total": total, "errors": errors, "results": results}


def _print_in_context(result: dict[str, Any], show_errors: bool) -> None:
    total = result["total"]
    print(f"messages: {total['n']}  (answers {total['answers']})")
    print(
        f"{'':6}{'n':>5}{'handled':>9}{'strict':>8}{'non-answers recorded':>22}"
        f"{'answers lost':>14}{'confirm':>9}"
    )
    for name, counts in [*sorted(result["per_language"].items()), ("all", total)]:
        n, answers = counts["n"], max(counts["answers"], 1)
        print(
            f"{name:6}{n:>5}{counts['handled'] / n:>9.3f}{counts['strict'] / n:>8.3f}"
            f"{counts['non_answers_recorded'] / n:>15.3f} ({counts['non_answers_recorded']:>3})"
            f"{counts['answers_lost'] / answers:>8.3f} ({counts['answers_lost']:>2})"
            f"{counts['confirm'] / n:>9.3f}"
        )
    print(
        "handled: the bot did as intended (asking to confirm counts for answers and questions); "
        "non-answers recorded: share of all messages; answers lost: neither recorded nor "
        "confirmed, share of the answers; confirm: share of all messages"
    )
    if show_errors:
        for error in result["errors"]:
            row = error["row"]
            print(
                f"  {row['lang']} {row['state']:8} {row['expected']:>8} -> {error['done']:<12} "
                f"{row['text'][:100]!r}  [{'; '.join(error['reasons'][1:]) or error['reasons'][0]}]"
            )


async def evaluate(rows: list[dict[str, Any]], threshold: float, engine: str | None = None) -> dict[str, Any]:
    settings = load_settings()
    classifier = _classifier(settings)
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
    parser.add_argument(
        "--errors", action="store_true", help="list every message not handled as intended, with why"
    )
    parser.add_argument(
        "--engine",
        choices=["minilm", "e5"],
        help="classify with this engine wherever it reads the language (as in a flow scored with it)",
    )
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    if rows and "expected" in rows[0]:
        _print_in_context(asyncio.run(evaluate_in_context(rows, args.engine)), args.errors)
        return 0
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
