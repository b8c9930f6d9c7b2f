"""py3langid's packaged language identifier, optionally memory-mapped from a cache folder.

Loaded the package's way, the model takes about 75 MB of every process's heap (a 39 MB table of
DFA transitions, 27 MB of feature weights, two lists of 104,583 Python ints), although one
answer reads only the few hundred transitions and features its bytes lead to. With a cache folder
the arrays are written there once, uncompressed (``.npy``, atomically, so processes starting
together are safe), and memory-mapped: the process holds the pages its texts touch, shared with
every other process on the machine through the page cache. The identifier is py3langid's own
class over the same values, so it ranks every text exactly as the package's load does.
"""

from __future__ import annotations

import json
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

_ARRAYS = ("ptc", "pc", "nextmove", "rowbase", "output")


def load_identifier(cache_dir: Path | None = None) -> Any:
    """py3langid's `LanguageIdentifier` with normalised probabilities; memory-mapped from
    ``cache_dir/langid`` (made on first use) when a folder is given, else loaded into memory."""
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    if cache_dir is None:
        return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    folder = cache_dir / "langid" / metadata.version("py3langid")
    if not (folder / "classes.json").exists():
        _export(MODEL_DIR / MODEL_FILE, folder)
    arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
    classes = json.loads((folder / "classes.json").read_text(encoding="utf-8"))
    # py3langid's DFA walk indexes these one byte at a time: memoryviews give Python ints as fast
    # as the package's own array and list do, and read only the touched pages.
    identifier = LanguageIdentifier(
        arrays["ptc"],
        np.asarray(arrays["pc"]),
        classes,
        memoryview(arrays["nextmove"]),
        memoryview(arrays["output"]),
        norm_probs=True,
        tk_row=[],  # its pre-shifted row offsets (the package builds a list) are given below
    )
    identifier._rowbase = memoryview(arrays["rowbase"])
    return identifier


def _export(model_file: Path, folder: Path) -> None:
    """Write the model's arrays as ``.npy`` files into ``folder``, all or none: in a temporary
    folder beside it, renamed into place (another process may have done it meanwhile)."""
    from py3langid.modelio import load_model

    ptc, pc, classes, nextmove, row, output = load_model(model_file)
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=folder.name + ".", suffix=".tmp", dir=folder.parent))
    try:
        values = {
            "ptc": np.asarray(ptc),
            "pc": np.asarray(pc),
            "nextmove": np.frombuffer(nextmove, dtype=f"u{nextmove.itemsize}"),
            # what LanguageIdentifier.__init__ computes: each state's row, shifted by 8 bits
            "rowbase": np.frombuffer(row, dtype=f"u{row.itemsize}").astype(np.uint64) << 8,
            "output": np.asarray(output, dtype=np.int32),
        }
        for name, array in values.items():
            np.save(temporary / f"{name}.npy", array)
        (temporary / "classes.json").write_text(json.dumps(list(classes)), encoding="utf-8")
        temporary.chmod(0o755)  # mkdtemp makes it private; the model is no secret
        try:
            temporary.rename(folder)
        except OSError:  # another process put its copy in place first
            if not (folder / "classes.json").exists():
                raise
    finally:
        if temporary.exists():
            for path in temporary.iterdir():
                path.unlink()
            temporary.rmdir()
