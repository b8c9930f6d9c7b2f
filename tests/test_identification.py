"""The language identifier memory-mapped from a cache folder ranks every text as the package's
load does, and processes that start together share one copy."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from language.identification import load_identifier

TEXTS = [
    "I led the migration of our billing service and cut the failed payments by 30% in two months.",
    "我负责把订单服务迁移到新的数据库，两个月内把失败率降低了百分之三十。",
    "项目需要用 gRPC，我之前没用过。我花两天看官方教程，写了一个小 demo。",
    "Bonjour, je m'appelle Marie et je travaille dans la vente depuis cinq ans.",
    "Hola, ¿cómo estás? Trabajo en ventas desde hace cinco años.",
    "Привет, я работаю в продажах пять лет.",
    "こんにちは、私は営業で五年間働いています。",
    "SQL, Kafka, k8s, CI/CD",
    "12345",
    "",
]


def _load_and_rank(folder: str) -> None:
    load_identifier(Path(folder)).rank(TEXTS[0])


def test_the_mapped_model_ranks_every_text_as_the_packaged_one(tmp_path: Path) -> None:
    packaged = load_identifier(None)
    mapped = load_identifier(tmp_path)
    again = load_identifier(tmp_path)  # from the folder the first load wrote
    for text in TEXTS:
        expected = packaged.rank(text)
        assert mapped.rank(text) == expected
        assert again.rank(text) == expected
        assert mapped.classify(text) == packaged.classify(text)


def test_processes_starting_together_write_one_copy(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_load_and_rank, args=(str(tmp_path),)) for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    (version,) = (tmp_path / "langid").iterdir()
    assert sorted(p.name for p in version.iterdir()) == [
        "classes.json",
        "nextmove.npy",
        "output.npy",
        "pc.npy",
        "ptc.npy",
        "rowbase.npy",
    ]
