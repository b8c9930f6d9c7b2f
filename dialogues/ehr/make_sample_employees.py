"""Generate the sample employee exports (fake people, seeded, reproducible).

    python dialogues/ehr/make_sample_employees.py

Writes ``sales_manager_employees.csv`` and ``rd_engineer_employees.csv`` next to this script, shaped
like an HRIS export: employee id, name and e-mail (fake, @example.com; the importer drops them),
department and hire date (ignored by the importer), role, one 1..5 rating column per competency (some
blank), the performance rating (1..5) and whether the employee was promoted (Y/N).

How the numbers are made, so that the derived weights have a known, sensible answer:

* each employee has a general factor ``g`` (the halo: people rated well on one thing tend to be rated
  well on others) and a latent level per competency, ``0.35 * g + 0.94 * own``;
* latent performance is a weighted sum of the latent competency levels (``DRIVERS``) plus noise,
  explaining 60% of its variance;
* the managers' 1..5 ratings are those latent levels plus rater noise, cut at fixed thresholds
  (ratings skew to 3 and 4, as real ones do); about 5% of competency ratings are blank;
* promotion is more likely with higher performance, but far from certain.
"""

from __future__ import annotations

import csv
import math
import random
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20240611
HALO = 0.35
BLANK = 0.05
RATING_NOISE = 0.35
EXPLAINED = 0.6  # share of latent performance variance the competencies explain
RATING_CUTS = (-1.75, -0.85, 0.25, 1.3)  # latent -> 1..5 for competency ratings
PERFORMANCE_CUTS = (-1.64, -0.84, 0.39, 1.48)  # about 5% / 15% / 45% / 28% / 7%

# How strongly each competency drives performance (before noise); HR's flow weights differ on purpose.
DRIVERS = {
    "sales_manager": {
        "customer_focus": 0.45,
        "pipeline_management": 0.55,
        "negotiation": 0.28,
        "team_leadership": 0.08,
        "integrity_resilience": 0.04,
    },
    "rd_engineer": {
        "technical_depth": 0.42,
        "problem_solving": 0.52,
        "collaboration": 0.18,
        "engineering_quality": 0.32,
        "learning_agility": 0.05,
    },
}
COUNTS = {"sales_manager": 78, "rd_engineer": 66}
ID_RANGES = {"sales_manager": (10000, 19999), "rd_engineer": (20000, 29999)}
DEPARTMENTS = {
    "sales_manager": ["Sales - North", "Sales - South", "Enterprise Sales", "Mid-Market Sales"],
    "rd_engineer": ["平台研发部", "支付研发部", "数据研发部", "基础架构部"],
}
FIRST_NAMES = [
    "Alice", "Ben", "Chloe", "Daniel", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kate",
    "Liam", "Maya", "Noah", "Olivia", "Pavel", "Quinn", "Rosa", "Samir", "Tara", "Umar", "Vera",
    "Will", "Yara", "Zoe", "Aisha", "Marco", "Lena", "Tomas", "Nadia",
]  # fmt: skip
LAST_NAMES = [
    "Adams", "Baker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito", "Jensen",
    "Khan", "Lopez", "Moreau", "Novak", "Okafor", "Patel", "Rossi", "Schmidt", "Tanaka", "Walsh",
]  # fmt: skip
SURNAMES = [
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
    ("赵", "zhao"), ("黄", "huang"), ("周", "zhou"), ("吴", "wu"), ("徐", "xu"), ("孙", "sun"),
]  # fmt: skip
GIVEN_NAMES = [
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("磊", "lei"),
    ("洋", "yang"), ("艳", "yan"), ("勇", "yong"), ("杰", "jie"), ("涛", "tao"), ("明", "ming"),
    ("超", "chao"), ("婷", "ting"), ("浩然", "haoran"), ("子涵", "zihan"), ("欣怡", "xinyi"),
]  # fmt: skip


def _cut(value: float, cuts: tuple[float, ...]) -> int:
    return 1 + sum(value > cut for cut in cuts)


def _name(role: str, rng: random.Random, taken: set[str]) -> tuple[str, str]:
    while True:
        if role == "rd_engineer":
            (family, family_py), (given, given_py) = rng.choice(SURNAMES), rng.choice(GIVEN_NAMES)
            name, email = family + given, f"{given_py}.{family_py}"
        else:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            name, email = f"{first} {last}", f"{first}.{last}".lower()
        if email not in taken:
            taken.add(email)
            return name, f"{email}@example.com"


def employees(role: str, rng: random.Random) -> list[dict[str, str]]:
    drivers = DRIVERS[role]
    explained = math.fsum(b * b for b in drivers.values()) + 2 * HALO**2 * math.fsum(
        a * b for i, a in enumerate(drivers.values()) for j, b in enumerate(drivers.values()) if i < j
    )
    noise = math.sqrt(explained * (1 - EXPLAINED) / EXPLAINED)
    ids = rng.sample(range(*ID_RANGES[role]), COUNTS[role])
    taken: set[str] = set()
    rows: list[dict[str, str]] = []
    for number in ids:
        g = rng.gauss(0, 1)
        latent = {c: HALO * g + math.sqrt(1 - HALO**2) * rng.gauss(0, 1) for c in drivers}
        performance = (math.fsum(drivers[c] * latent[c] for c in drivers) + rng.gauss(0, noise)) / math.sqrt(
            explained / EXPLAINED
        )
        name, email = _name(role, rng, taken)
        row = {
            "employee_id": f"E{number}",
            "name": name,
            "email": email,
            "department": rng.choice(DEPARTMENTS[role]),
            "hire_date": (date(2015, 1, 1) + timedelta(days=rng.randrange(3400))).isoformat(),
            "role": role,
        }
        for competency in drivers:
            rated = _cut(latent[competency] + rng.gauss(0, RATING_NOISE), RATING_CUTS)
            row[competency] = "" if rng.random() < BLANK else str(rated)
        row["performance_rating"] = str(_cut(performance, PERFORMANCE_CUTS))
        promoted = rng.random() < 1 / (1 + math.exp(-(-2.0 + 1.3 * performance)))
        row["promoted"] = "Y" if promoted else "N"
        rows.append(row)
    return rows


def main() -> None:
    rng = random.Random(SEED)  # noqa: S311 - sample data, not secrets
    for role in DRIVERS:
        rows = employees(role, rng)
        with (HERE / f"{role}_employees.csv").open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
