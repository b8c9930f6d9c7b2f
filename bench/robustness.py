"""Adversarial answers against the real scorer: how many fool it, how many genuine ones it flags.

Each line of ``--data`` (JSON lines: ``role``, ``question`` (1-based index in the flow),
``question_id``, ``lang``, ``kind``, ``text``) is scored by the scorer the bot builds for that role:
the flow's questions in its first language, the role's sample EHR exemplars, the model the
settings give that language, and the flow's languages as the answer languages. Kinds are
``genuine_good``, ``genuine_short`` and ``generic`` (answers) and ``keyword_list``,
``rubric_copy``, ``talking_points``, ``padded``, ``off_topic``, ``foreign`` and
``question_parrot`` (not answers).

Reported per kind: n, the share shown above level 2 without a flag (the target: at most 5% for
the adversarial kinds), the share flagged or not scored, the share above level 2 whatever the flags,
the mean level of the scored answers (capped levels as shown) and the check that fired most. For
the genuine kinds the flagged share is the false-positive rate (target: at most 3%).

    PYTHONPATH=. HF_HUB_OFFLINE=1 .venv/bin/python bench/robustness.py [--data PATH] [--show KIND] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.settings import Settings  # noqa: E402
from flows.schema import Flow, load_flow_file  # noqa: E402
from knowledge.ehr import read_export, role_schemas  # noqa: E402
from language.embeddings import load_embedder  # noqa: E402
from language.vector_cache import CachedEmbedder  # noqa: E402
from scoring.records import Exemplar, questions_from_flow  # noqa: E402
from scoring.scorer import Scorer, ScorerConfig, ScoreResult  # noqa: E402

DEFAULT_DATA = ROOT / "tests" / "data" / "adversarial_dev.jsonl"
SAMPLE_EXPORTS = {"sales_manager": "sales_manager_exemplars.csv", "rd_engineer": "rd_engineer_exemplars.json"}
GENUINE = ("genuine_good", "genuine_short")
ADVERSARIAL = (
    "keyword_list",
    "rubric_copy",
    "talking_points",
    "padded",
    "off_topic",
    "foreign",
    "question_parrot",
)
TARGET_ABOVE = 0.05
TARGET_GENUINE_FLAGGED = 0.03


def sample_flow(role: str) -> Flow:
    return load_flow_file(ROOT / "dialogues" / "flows" / f"{role}.yml").flow


def sample_exemplars(flow: Flow) -> list[Exemplar]:
    result = read_export(
        ROOT / "dialogues" / "ehr" / SAMPLE_EXPORTS[flow.role], id_key=b"t" * 32, known=role_schemas([flow])
    )
    return [
        Exemplar(
            id=r.key, question_id=r.question_id or "", competency=r.competency, text=r.text, rating=r.rating
        )
        for r in result.exemplars
    ]


def sample_scorer(role: str, settings: Settings | None = None) -> Scorer:
    """The scorer the bot builds for a sample role (see `bot.scoring.ScoringService._build`)."""
    settings = settings or Settings()
    flow = sample_flow(role)
    embedder = load_embedder(settings.scoring.models[flow.languages[0]])
    config = ScorerConfig(
        min_words=settings.scoring.min_answer_words, answer_languages=frozenset(flow.languages)
    )
    material = CachedEmbedder(embedder, ROOT / "var" / "cache" / "embeddings")
    return Scorer(
        embedder,
        questions_from_flow(flow, flow.languages[0]),
        sample_exemplars(flow),
        config,
        material=material,
    )


def flagged(result: ScoreResult) -> bool:
    return result.insufficient is not None or bool(result.evidence.flags) or result.level is None


def fired(result: ScoreResult) -> str:
    """The first failed check's name (``-`` when none failed)."""
    failed = [c.name for c in result.evidence.checks if not c.passed]
    if result.insufficient and not failed:
        return result.insufficient.split(":", 1)[0]
    return failed[0] if failed else "-"


def evaluate(
    rows: list[dict[str, Any]],
) -> tuple[dict[str, dict[str, Any]], list[tuple[dict[str, Any], ScoreResult]]]:
    scorers: dict[str, Scorer] = {}
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        question_id = (
            row.get("question_id") or sample_flow(row["role"]).questions[int(row["question"]) - 1].id
        )
        groups[row["role"], question_id].append(i)
    results: dict[int, ScoreResult] = {}
    for (role, question_id), members in groups.items():
        if role not in scorers:
            scorers[role] = sample_scorer(role)
        # one batch per question, as `score` would give one by one
        batch = scorers[role].score_many(question_id, [rows[i]["text"] for i in members])
        results.update(zip(members, batch, strict=True))
    scored = [(row, results[i]) for i, row in enumerate(rows)]
    by_kind: dict[str, list[ScoreResult]] = defaultdict(list)
    for row, result in scored:
        by_kind[row["kind"]].append(result)
    report: dict[str, dict[str, Any]] = {}
    for kind, results in sorted(by_kind.items()):
        n = len(results)
        levels = [r.level for r in results if r.level is not None]
        reasons = Counter(fired(r) for r in results if flagged(r))
        report[kind] = {
            "n": n,
            "above2_unflagged": sum(1 for r in results if (r.rounded_level or 0) > 2 and not flagged(r)) / n,
            "above2": sum(1 for r in results if (r.rounded_level or 0) > 2) / n,
            "flagged": sum(1 for r in results if flagged(r)) / n,
            "mean_level": sum(levels) / len(levels) if levels else None,
            "scored": len(levels) / n,
            "top_reason": reasons.most_common(1)[0][0] if reasons else "-",
        }
    return report, scored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--show", action="append", default=[], help="print each answer of this kind")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    report, scored = evaluate(rows)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{args.data}: {len(rows)} answers")
        print(
            f"{'kind':<16}{'n':>5}{'>2 unflagged':>14}{'>2 shown':>10}{'flagged':>9}{'mean lvl':>10}"
            "  top check"
        )
        for kind, item in report.items():
            mean = "-" if item["mean_level"] is None else f"{item['mean_level']:.2f}"
            print(
                f"{kind:<16}{item['n']:>5}{item['above2_unflagged']:>14.1%}{item['above2']:>10.1%}"
                f"{item['flagged']:>9.1%}{mean:>10}  {item['top_reason']}"
            )
        adversarial = [k for k in ADVERSARIAL if k in report]
        worst = max((report[k]["above2_unflagged"] for k in adversarial), default=0.0)
        genuine = [r for row, r in scored if row["kind"] in GENUINE]
        genuine_flagged = sum(flagged(r) for r in genuine) / len(genuine) if genuine else 0.0
        print(f"adversarial kinds, worst share above 2 unflagged: {worst:.1%} (target <= {TARGET_ABOVE:.0%})")
        print(f"genuine answers flagged: {genuine_flagged:.1%} (target <= {TARGET_GENUINE_FLAGGED:.0%})")
        short, keywords = report.get("genuine_short"), report.get("keyword_list")
        if short and keywords and short["mean_level"] is not None:
            print(
                f"genuine_short mean level {short['mean_level']:.2f} vs keyword_list "
                f"{keywords['mean_level'] if keywords['mean_level'] is not None else float('nan'):.2f}"
            )
    for kind in args.show:
        for row, result in scored:
            if row["kind"] == kind:
                print(
                    f"[{row.get('id', '')} {row['role']} q{row['question']} {row['lang']}] "
                    f"level={result.rounded_level} {result.insufficient or ''} flags={result.evidence.flags} "
                    f"{[(c.name, c.value) for c in result.evidence.checks if not c.passed]} "
                    f":: {row['text'][:90]!r}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
