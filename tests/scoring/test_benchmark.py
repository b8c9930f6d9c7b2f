from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from language.embeddings import Embedder
from language.vector_cache import CachedEmbedder
from scoring.benchmark import Settings, main, run_benchmark
from tests.scoring.conftest import SHARED_DATA

ZH = SHARED_DATA / "zh_sas_ads_le.jsonl"


@pytest.fixture(scope="module")
def zh_subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three short-answer questions of the Chinese LE set (read in place, subset written to tmp)."""
    if not ZH.exists():
        pytest.skip(f"benchmark data not found at {ZH}")
    by_question: dict[str, list[str]] = defaultdict(list)
    for line in ZH.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["dataset"] == "zh_LE":
            by_question[row["question_id"]].append(line)
    chosen = sorted(by_question, key=lambda q: (-len(by_question[q]), q))[:3]
    path = tmp_path_factory.mktemp("bench") / "zh_le_3.jsonl"
    path.write_text("\n".join(line for q in chosen for line in by_question[q]) + "\n", encoding="utf-8")
    return path


def test_benchmark_is_deterministic_cold_and_warm_cache(zh_subset: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = run_benchmark(zh_subset, "loo", tmp_path / "a.json", Settings(cache=cache))
    assert any(cache.rglob("*.vec"))  # cold run filled the cache
    second = run_benchmark(zh_subset, "loo", None, Settings(cache=cache))
    assert first["results"] == second["results"]
    (row,) = first["results"]
    assert row["dataset"] == "zh_LE" and row["n"] >= 15 and "e5" in row["model"]
    assert row["pearson"] is not None and -1 <= row["pearson"] <= 1 and 0 <= row["rmse"] <= 1
    assert json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))["results"] == first["results"]
    unseen = run_benchmark(zh_subset, "unseen-question", None, Settings(cache=cache))
    assert unseen["protocol"] == "unseen-question" and unseen["results"][0]["n"] == row["n"]


def test_cli_entry_point(zh_subset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    assert main(["--data", str(zh_subset), "--cache", str(tmp_path / "c"), "--out", str(out)]) == 0
    assert "zh_LE" in capsys.readouterr().out and out.exists()


def test_vector_cache_matches_model_and_survives_a_torn_write(minilm: Embedder, tmp_path: Path) -> None:
    texts = ["first answer", "second answer", "first answer"]
    cached = CachedEmbedder(minilm, tmp_path)
    vectors = cached.encode(texts, "query")
    assert cached.computed == 2 and np.allclose(vectors, minilm.encode(texts, "query"), atol=1e-5)
    (data,) = tmp_path.rglob("query.vec")
    with data.open("ab") as handle:  # a crash in the middle of the next append
        handle.write(b"\x00" * 100)
    again = CachedEmbedder(minilm, tmp_path)
    assert np.allclose(again.encode(texts, "query"), vectors) and again.computed == 0
    assert again.encode(["third"], "query").shape == (1, minilm.dim) and again.computed == 1


@pytest.fixture(scope="module")
def sample_bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Benchmark rows made from the project's own sample export (3 questions of the sales flow),
    so the benchmark's determinism is checked wherever the suite runs, shared data or not."""
    import csv

    from bot.settings import ROOT
    from flows.schema import load_flow_file

    flow = load_flow_file(ROOT / "dialogues" / "flows" / "sales_manager.yml").flow
    chosen = {q.id: q for q in flow.questions[:3]}
    rows = []
    with (ROOT / "dialogues" / "ehr" / "sales_manager_exemplars.csv").open(encoding="utf-8") as handle:
        for record in csv.DictReader(handle):
            question = chosen.get(record["question_id"])
            if question is None:
                continue
            rows.append(
                {
                    "dataset": "sample_sales_manager",
                    "question_id": question.id,
                    "question": question.text["en"],
                    "reference_answer": question.reference_answers[0]["en"],
                    "answer": record["answer_text"],
                    "score": float(record["rating"]) - 1,
                    "score_max": 4,
                }
            )
    path = tmp_path_factory.mktemp("bench") / "sample.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_benchmark_on_the_sample_export_is_deterministic(sample_bench: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = run_benchmark(sample_bench, "loo", None, Settings(cache=cache))
    second = run_benchmark(sample_bench, "loo", None, Settings(cache=cache))
    assert first["results"] == second["results"]
    (row,) = first["results"]
    assert row["dataset"] == "sample_sales_manager" and row["n"] == 132 and "MiniLM" in row["model"]
    assert row["pearson"] is not None and row["pearson"] > 0.5  # the sample ratings are learnable


def test_cli_runs_the_benchmark_on_any_file(sample_bench: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert main(["--data", str(sample_bench), "--cache", str(tmp_path / "c"), "--out", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["results"][0]["dataset"] == "sample_sales_manager"
