"""Text measures every layer shares: which language a text is in, how many words it has.

One module, so that language detection and word counts agree everywhere (intents, scoring,
feedback, flows' follow-up conditions).
"""

from __future__ import annotations

import re
from typing import Literal

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
"""Chinese characters (CJK unified ideographs, extension A, compatibility ideographs)."""
LATIN_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")


def detect_language(text: str) -> Literal["en", "zh"]:
    """``zh`` when Chinese characters make up a fair share of the letters, else ``en``."""
    cjk = len(CJK.findall(text))
    if cjk == 0:
        return "en"
    letters = sum(1 for ch in text if ch.isalpha())
    return "zh" if cjk >= 2 or cjk / max(letters, 1) > 0.3 else "en"


def count_words(text: str) -> int:
    """Words in English, characters in Chinese (a Chinese character carries about a word)."""
    cjk = len(re.findall(r"[\u3400-\u9fff]", text))
    latin = len(LATIN_WORD.findall(text))
    return latin + cjk // 2 if cjk else latin
