"""One door per model: the embedding service under concurrency, and the disk cache shared by
threads and processes."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from language.embeddings import EmbeddingService, EmbeddingServices, Kind, Matrix
from language.vector_cache import CachedEmbedder

ANSWERS = [
    "I listened to both engineers, wrote down what each needed and we agreed on a compromise.",
    "We lost the client's trust after a late delivery, so I called them every week until launch.",
    "My pipeline review is every Monday: stale deals get a next step or are closed.",
    "Short one.",
    "我先和两位同事分别谈话，了解他们的顾虑，然后一起定了一个折中方案，按时上线。",
    "上线前我们做了压测，发现数据库连接池太小，调整以后延迟下降了一半。",
    "The customer wanted a discount; I offered a longer contract instead and they signed.",
    "I automated the weekly report with a script, which saved the team three hours each week.",
]


@pytest.fixture(scope="module")
def services() -> EmbeddingServices:
    return EmbeddingServices()


def test_concurrent_requests_from_tasks_and_threads_get_their_own_vectors(
    services: EmbeddingServices,
) -> None:
    """Tasks on the event loop (micro-batched) and worker threads (blocking `encode`) hit one model
    at once; every caller gets the vector a lone call gives for its text."""
    for name in ("minilm", "e5"):
        service = services.get(name)
        alone = np.stack([service.encode([text], "query")[0] for text in ANSWERS])
        texts = ANSWERS * 6

        async def burst(service: EmbeddingService = service, texts: list[str] = texts) -> list[Matrix]:
            with ThreadPoolExecutor(4) as pool:
                loop = asyncio.get_running_loop()
                threaded = [
                    loop.run_in_executor(pool, service.encode, [text], "query") for text in texts[::2]
                ]
                batched = [service.embed(text, "query") for text in texts]
                results = await asyncio.gather(*batched, *threaded)
            return [np.atleast_2d(r) for r in results]

        results = asyncio.run(burst())
        expected = [alone[i % len(ANSWERS)] for i in range(len(texts))] + [
            alone[i % len(ANSWERS)] for i in range(0, len(texts), 2)
        ]
        for got, want in zip(results, expected, strict=True):
            assert got.shape == (1, service.dim)
            assert float(got[0] @ want) > 0.999
        assert service.usage.texts >= len(texts) * 1.5 and service.usage.cpu_seconds > 0


class DigestEmbedder:
    """A deterministic stand-in for a model (a vector from the text's SHA-256), so a test of the
    cache's file handling can run many processes without loading a model in each."""

    model_id = "test/digest-embedder@1"
    dim = 16

    def encode(self, texts: Sequence[str], kind: Kind = "passage") -> Matrix:
        rows = []
        for text in texts:
            digest = hashlib.sha256(f"{kind}:{text}".encode()).digest()
            vector = np.frombuffer(digest[: self.dim], dtype=np.uint8).astype(np.float32) + 1
            rows.append(vector / np.linalg.norm(vector))
        return np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)


def _fill(directory: str, worker: int, rounds: int) -> None:
    cached = CachedEmbedder(DigestEmbedder(), Path(directory), batch_size=7)
    for round_ in range(rounds):
        texts = [f"text {(worker * 31 + round_ * 7 + i) % 120}" for i in range(15)]
        cached.encode(texts, "query")


def test_the_cache_is_shared_safely_by_threads_and_processes(tmp_path: Path) -> None:
    model = DigestEmbedder()
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_fill, args=(str(tmp_path), w, 12)) for w in range(4)]
    for process in processes:
        process.start()
    threads = [threading.Thread(target=_fill, args=(str(tmp_path), 10 + w, 12)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for process in processes:
        process.join(timeout=120)
        assert process.exitcode == 0
    (path,) = tmp_path.rglob("query.vec")
    record = 20 + 4 * model.dim
    assert path.stat().st_size % record == 0
    texts = [f"text {i}" for i in range(120)]
    reader = CachedEmbedder(model, tmp_path)
    assert np.allclose(reader.encode(texts, "query"), model.encode(texts, "query"))
    assert reader.computed == 0  # every text was cached whole by one of the writers


def test_a_torn_append_is_cut_off_and_the_rest_served(tmp_path: Path) -> None:
    model = DigestEmbedder()
    first = CachedEmbedder(model, tmp_path)
    first.encode(["a", "b"], "passage")
    (path,) = tmp_path.rglob("passage.vec")
    with path.open("ab") as file:  # a process killed in the middle of its append
        file.write(b"\x01" * 30)
    again = CachedEmbedder(model, tmp_path)
    assert np.allclose(again.encode(["a", "b", "c"], "passage"), model.encode(["a", "b", "c"], "passage"))
    assert again.computed == 1 and path.stat().st_size == 3 * (20 + 4 * model.dim)


def test_files_of_the_old_format_are_removed(tmp_path: Path) -> None:
    model = DigestEmbedder()
    folder = tmp_path / "test_digest-embedder_1"
    folder.mkdir()
    for name in ("query.keys", "query.f32"):
        (folder / name).write_bytes(b"old")
    CachedEmbedder(model, tmp_path).encode(["x"], "query")
    assert sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock")) == ["query.vec"]
