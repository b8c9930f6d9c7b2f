"""Memory of the near-duplicate index per answer: N unseen answers per question checked and added.

.venv/bin/python bench/duplicates_memory.py [--per-question 400] [--role sales_manager]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.memory import status  # noqa: E402
from bench.unseen import sample_answers, unseen_answer  # noqa: E402
from flows.schema import load_flow_file  # noqa: E402
from scoring.duplicates import NearDuplicateIndex  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-question", type=int, default=400)
    parser.add_argument("--role", default="sales_manager")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    flow = load_flow_file(ROOT / "dialogues" / "flows" / f"{args.role}.yml").flow
    language = flow.languages[0]
    bank = sample_answers(flow, language)
    rng = random.Random(args.seed)
    texts = [
        (q.id, unseen_answer(bank[q.id] or [q.text[language]], language, rng))
        for _ in range(args.per_question)
        for q in flow.questions
    ]
    index = NearDuplicateIndex()
    before = status()["VmRSS"]
    flagged = sum(
        not index.check_and_add(q, text, f"o{i}", f"k{i}").passed for i, (q, text) in enumerate(texts)
    )
    grown = status()["VmRSS"] - before
    print(
        f"{len(texts)} answers of {sum(len(t) for _, t in texts) // len(texts)} characters on average: "
        f"+{grown:.0f} MB RSS, {grown * 1024 / len(texts):.1f} KB per answer; {flagged} flagged"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
