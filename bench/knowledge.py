"""Candidate questions answered from the FAQ and documents (tests/data/faq_questions.jsonl).

Prints, for the even rows (on which the thresholds were set), the odd rows (held out) and all:
top-1 accuracy of the FAQ classifier, the share of confident wrong answers, the precision and
recall of "no answer", and what the bot would do with each question. Targets: top-1 >= 0.90,
confident wrong <= 0.03.

    .venv/bin/python bench/knowledge.py [--data tests/data/faq_questions.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bot.settings import load_settings  # noqa: E402
from knowledge.faq import KnowledgeBase, evaluate, load_faq_files, split_documents  # noqa: E402
from language.embeddings import load_embedder  # noqa: E402
from language.vector_cache import CachedEmbedder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "tests" / "data" / "faq_questions.jsonl")
    args = parser.parse_args()
    settings = load_settings()
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    entries, problems = load_faq_files(sorted((settings.dialogues_dir / "faq").glob("*.yml")))
    if problems:
        sys.exit("\n".join(map(str, problems)))
    passages = split_documents(sorted((settings.dialogues_dir / "documents").glob("*.md")))
    model = load_embedder(settings.knowledge.model)
    cached = CachedEmbedder(model, settings.cache_dir / "vectors")  # the FAQ and documents only
    started = time.perf_counter()
    base = KnowledgeBase(entries, passages, model, material=cached)
    elapsed = time.perf_counter() - started
    print(f"{len(entries)} FAQ entries, {len(passages)} passages, built in {elapsed:.1f} s")
    for name, subset in (("even (tuning)", rows[0::2]), ("odd (held out)", rows[1::2]), ("all", rows)):
        result = evaluate(base, subset)
        print(
            f"\n{name}: n={result['n']} top-1 {result['top1_accuracy']:.3f} (of {result['answerable']})"
            f"  confident wrong {result['confident_wrong_share']:.3f}"
            f"  no-answer precision {result['no_answer_precision']:.3f}"
            f" recall {result['no_answer_recall']:.3f}"
        )
        for outcome, count in result["outcomes"].items():  # type: ignore[attr-defined]
            print(f"  {count:4d}  {outcome}")


if __name__ == "__main__":
    main()
