"""Checks that an answer is an answer, before (and beside) its score.

Each check looks at one way a text can look like an answer to the scorer without being one, and
returns a `Check` with its measured value, its threshold and, when it fails, a reason in plain
words. What a failure does is decided per check (see `scoring/README.md`, "Answer checks"):

* **insufficient evidence** (the answer is not scored; the candidate is asked a follow-up):
  ``language`` (not in one of the flow's languages), ``padded`` (mostly repetition or filler),
  ``copy`` (the question, rubric or talking points pasted back), ``restates_question`` and
  ``off-topic`` (about something else, about another question of the role, or an account of other
  work: `scoring.background`);
* **capped level** (scored, at most `CAP_LEVEL`, with a flag HR see): ``keyword_list`` and
  ``talking_points`` (fragments rather than a narrative, or mostly the talking points' own
  words), ``no_first_person`` (a behavioural
  question answered with nobody acting) and ``near_duplicate`` (another candidate's answer);
  ``generic`` and ``no_first_person`` are flags only when the cap lowers the level
  (`Check.flag_when_capping`).

Only simple, robust text measures are used: character n-grams (which work the same for Chinese
and English), function-word shares, segment lengths and py3langid's language model. No check reads
the exemplars' ratings: they say whether a text is an answer, never how good it is.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from language.identification import load_identifier
from language.text import CJK, LATIN_WORD

Action = Literal["insufficient", "cap"]

CAP_LEVEL = 2.0
"""The highest level a capped answer is shown at (a flagged answer is never "above 2")."""
LIST_CAP_LEVEL = 1.0
"""The highest level a list (keywords or talking points, no account of what happened) is shown at for
a behavioural question: such a question's rubric starts at "no first-hand example", which is what a
list is, so an honest short story, however weak, is never shown below it."""

LANGUAGE_MIN_LETTERS = 20
"""Shorter texts are too short for a language model to be sure; the script check still applies."""
LANGUAGE_MIN_PROBABILITY = 0.9
"""py3langid's normalised probability a foreign language must reach to reject the answer."""

PADDING_REPEATED_SHARE = 0.35
"""Share of the answer's word 4-grams (Chinese: character 6-grams) that repeat an earlier one."""
PADDING_FILLER_SHARE = 0.2
"""Share of the words that are fillers (um, basically, 嗯, 那个 ...)."""

COPY_CONTAINMENT = 0.5
"""Share of the answer's character n-grams found in one of the flow's own texts."""
RUBRIC_STRONG_SHARE = 0.4
"""The whole rubric (every level together) is a source of copies only for an answer with at least this
share of its character n-grams from the levels above `CAP_LEVEL`: pasting every level is a copy (0.67-0.70
of such an answer comes from the strong levels), an honest weak answer in the words of a weak level is
not (at most 0.27 of any genuine answer of the nine dev sets) ..."""
RUBRIC_WEAK_SHARE = 0.15
"""... and at least this share from the weak levels (0.27-0.32 of a pasted rubric): a paraphrase of the
strong levels alone stays a paraphrase (`check_paraphrase`), capped rather than unscored."""
WHOLE_RUBRIC = "rubric (every level)"

KEYWORD_FRAGMENT_SHARE = 0.6
"""Share of the answer's segments that are fragments (no verb or function words) ..."""
KEYWORD_FRAGMENT_WORDS = 0.4
"""... holding at least this share of its words (Chinese: characters): an enumeration inside a sentence
("calls, emails, LinkedIn, events") makes many short segments, but few of the words. Adversarial dev
sets: keyword lists at least 0.5 of their words in fragments; genuine answers at most 0.23."""
KEYWORD_MIN_SEGMENTS = 3
KEYWORD_FUNCTION_SHARE = {"en": 0.12, "zh": 0.04}
"""Below this share of function words (English) or function characters (Chinese), a text is a list
whatever its punctuation: prose is about 40-50% function words in English, 15-25% in Chinese."""

NEAR_DUPLICATE_JACCARD = 0.6
"""MinHash-estimated Jaccard similarity of character 5-gram shingles above which two answers to the
same question are near-duplicates."""

_EN_FUNCTION = frozenset(
    re.findall(
        r"\S+",
        """a an the and or but so because if when while then than that this these those it its i we
        you he she they me us him her them my our your their mine ours is are was were be been being
        am have has had do does did done to of in on at by for with from about into over after before
        up down out off as not no can could would should will shall may might must there here what
        which who whom whose how why where all some any each every other another one just also very
        too only still again once until since though although whether both either neither get got
        go went make made take took let put say said told ask asked""",
    )
)
NEGATIONS = frozenset({"not", "no", "never", "none", "nothing", "cannot", "without", "neither", "nor"})
"""English negations (function words that decide what an answer says)."""


def function_words(language: Literal["en", "zh"]) -> frozenset[str]:
    """English function words, or Chinese function characters."""
    return _ZH_FUNCTION if language == "zh" else _EN_FUNCTION


_EN_FIRST_PERSON = frozenset(
    re.findall(
        r"\S+", "i we me us my our mine ours myself ourselves i'm i've i'd i'll we're we've we'd we'll"
    )
)
_ZH_FUNCTION = frozenset(
    "的了是我在把就这那们也都还和与被让给到说过着个有没不要会能对从为而又再才先后得地吗呢吧啊"
)
_ZH_FIRST_PERSON = ("我", "咱")
_SEGMENT = re.compile(r"[,，、;；:：\n|/•·\t]+|(?<=[.!?。！？])\s*|\s+-\s+|\s*[–—]\s*")
_BULLET = re.compile(r"^\s*(?:[-*•·]|\d+[.)、])\s*", re.MULTILINE)
_NORMALISE = re.compile(r"[^0-9a-z\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")

_BEHAVIOURAL = re.compile(
    r"\b(?:tell me about|describe|give (?:me )?an example|share|walk me through|talk about)\b.*\b(?:a time|"
    r"an? |when|one|your)\b|\b(?:a time (?:when|you)|an? (?:situation|occasion|experience|project|"
    r"incident|quarter|deal|customer|case))\b"
    r"|讲一次|讲讲|讲一个|分享一个|分享一次|举一个|举个|描述一次|描述一个|经历|有没有.*的时候|的一次",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Check:
    """One check's outcome; ``reason`` is set when it failed (what the candidate or HR are told)."""

    name: str
    passed: bool
    value: float | None = None
    threshold: float | None = None
    action: Action | None = None
    reason: str | None = None
    detail: str | None = None
    """What the value was measured against (e.g. which text was copied), when that helps."""
    cap_level: float | None = None
    """For a "cap" check: the highest level it lets the answer be shown at (`CAP_LEVEL` when None)."""
    flag_when_capping: bool = False
    """For a "cap" check: its reason becomes a flag HR see only when the cap lowers the level (the
    level before it above `cap_level`). The checks that judge how an answer is told, not whether it is
    one (`generic`, `no_first_person`), are set so: a weak honest answer already at 2 or below says
    what it is through its level, and a flag beside it would only accuse it. The check stays in the
    evidence either way (practice feedback still names it)."""


def _language_of(text: str) -> Literal["en", "zh"]:
    cjk = len(CJK.findall(text))
    latin = sum(len(w) for w in LATIN_WORD.findall(text))
    return "zh" if cjk * 2 >= latin and cjk else "en"


def text_language(text: str) -> Literal["en", "zh"]:
    """The language an answer's shares are counted in: ``zh`` when Chinese characters are at least
    half the Latin letters, else ``en`` (a Chinese answer full of English terms is Chinese)."""
    return _language_of(text)


def normalised(text: str) -> str:
    """Lower case, with everything but letters, digits and Chinese characters removed."""
    return _NORMALISE.sub("", text.lower())


def char_ngrams(text: str, n: int | None = None) -> set[str]:
    """Character n-grams of the normalised text (5 for Latin text, 3 for Chinese)."""
    flat = normalised(text)
    if n is None:
        n = 3 if _language_of(text) == "zh" else 5
    if len(flat) < n:
        return {flat} if flat else set()
    return {flat[i : i + n] for i in range(len(flat) - n + 1)}


def units(text: str) -> list[str]:
    """Words in English, characters in Chinese, lower case (the counting unit of every share here)."""
    out: list[str] = []
    for match in re.finditer(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[A-Za-z0-9][A-Za-z0-9'’-]*", text):
        out.append(match.group(0).lower().replace("’", "'"))
    return out


def is_behavioural(question_text: str) -> bool:
    """Whether a question asks for a past experience ("Tell me about a time ...", "请讲一次 ...")."""
    return bool(_BEHAVIOURAL.search(question_text))


# ---- language --------------------------------------------------------------------------------------


class _LanguageModel:
    """py3langid's packaged model with normalised probabilities, loaded once per process."""

    _lock = threading.Lock()
    _identifier: Any = None
    cache_dir: Path | None = None
    """Where the model is memory-mapped from (`language.identification`); in memory when None."""

    @classmethod
    def load(cls) -> Any:
        """The identifier, loaded on first use (about a second of CPU: `preload_language_model`)."""
        with cls._lock:
            if cls._identifier is None:
                cls._identifier = load_identifier(cls.cache_dir)
            return cls._identifier

    @classmethod
    def rank(cls, text: str) -> list[tuple[str, float]]:
        return [(str(code), float(p)) for code, p in cls.load().rank(text)]


def preload_language_model(cache_dir: Path | None = None) -> None:
    """Load the language identifier now (a server does at start-up, not at its first answer).

    ``cache_dir``: memory-map the model from this folder (a server's cache folder) instead of
    holding it in the process's heap; it ranks every text the same. Only before the first load."""
    with _LanguageModel._lock:
        if cache_dir is not None and _LanguageModel._identifier is None:
            _LanguageModel.cache_dir = cache_dir
    _LanguageModel.load()


def check_language(text: str, languages: Iterable[str]) -> Check:
    """Is the answer in one of the flow's languages (py3langid, not a comparison of scripts)?

    Product names, code and numbers are dropped first (tokens with digits or inner capitals), so a
    Chinese answer full of English terms is still Chinese. Fails only when a language outside the
    flow's is very likely and the flow's own are not.
    """
    allowed = set(languages)
    words = [w for w in re.split(r"\s+", text) if w and not re.search(r"\d|[a-z][A-Z]", w)]
    cleaned = " ".join(words)
    letters = sum(ch.isalpha() for ch in cleaned)
    if letters < LANGUAGE_MIN_LETTERS:
        return Check("language", True, None, LANGUAGE_MIN_PROBABILITY, detail="too short to tell")
    ranked = _LanguageModel.rank(cleaned)
    top, probability = ranked[0]
    own = sum(p for code, p in ranked if code in allowed)
    if top not in allowed and probability >= LANGUAGE_MIN_PROBABILITY and own < 1 - LANGUAGE_MIN_PROBABILITY:
        names = ", ".join(sorted(allowed))
        return Check(
            "language",
            False,
            round(probability, 3),
            LANGUAGE_MIN_PROBABILITY,
            "insufficient",
            f"language: the answer reads as '{top}', not one of this interview's languages ({names})",
            top,
        )
    return Check("language", True, round(own, 3), LANGUAGE_MIN_PROBABILITY, detail=top)


# ---- padding ---------------------------------------------------------------------------------------


def repeated_share(text: str) -> float:
    """Share of the word 4-grams (Chinese: character 6-grams) that already occurred earlier."""
    tokens = units(text)
    n = 6 if _language_of(text) == "zh" else 4
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    if len(grams) < 4:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def filler_share(text: str) -> float:
    from scoring.feedback import count_fillers

    language = _language_of(text)
    fillers = sum(item.count for item in count_fillers(text, language))
    total = len(units(text))
    if language == "zh":
        fillers *= 2  # a Chinese filler is two characters, mostly
    return fillers / total if total else 0.0


PADDING_HEDGE_SHARE = 0.2
"""Share of the words (Chinese: characters) inside stock phrases that say nothing ("to be perfectly
frank", "at the end of the day", "总的来说", "从某种意义上讲") or platitudes that fit any answer ("in
today's fast-paced environment", "communication is key", "不可或缺", "同舟共济"). Genuine answers of the
adversarial dev set: at most 7%; padded ones: up to 75%. With the platitudes (issue 12, eighth dev set,
a sealed set once): genuine answers of eight dev sets at most 8.2%, generic ones 18.8%, padding made of
platitudes 31-43%."""
_EN_HEDGES = (
    "to be honest|honestly|to be perfectly frank|to be frank|frankly|in all honesty|generally speaking|"
    "by and large|for all intents and purposes|at the end of the day|you know|i mean|more or less|"
    "basically|kind of|sort of|so to speak|as i said|like i said|needless to say|in a sense|if you will|"
    "let me think|obviously|literally|and so on|and stuff|or whatever|things like that|all in all|"
    "to some extent|in some ways|so to say|what i mean is|as you know|so yeah|"
    # platitudes: corporate phrases that fit any answer (issue 12, the eighth dev set)
    "great question|super important|one of the most important things|more important than ever|"
    "in today's fast[ -]paced|ever[ -]changing|going forward|best[ -]in[ -]class|drive value|synergy|"
    "synergies|across the board|communication is key|alignment is key|collaboration is key|"
    "think outside the box|move the needle|win[ -]win|circle back|low[ -]hanging fruit|"
    "hit the ground running|that's my philosophy|"
    "we're all one team|achieve amazing things|leverage|leveraging"
)
_EN_HEDGE = re.compile(rf"(?<![a-z'])(?:{_EN_HEDGES})(?![a-z'])")
_ZH_HEDGE = re.compile(
    "总的来说|从某种意义上[讲说]|在一定程度上|我们可以说|毫无疑问|众所周知|换句话说|也就是说|总而言之|"
    "言而言之|综上所述|说实话|老实[讲说]|坦白[讲说]|我觉得吧|我个人认为|在我看来|怎么说呢?|反正|基本上|"
    "是吧|差不多就是|对吧|嗯+|呃+|那个，|就是说|"
    "不可或缺|尤为重要|至关重要|重中之重|在当今|时代背景下|合作共赢|齐心协力|同舟共济|实现更大的价值|"
    "取得更好的成绩|创造更美好的未来|与时俱进|精益求精|砥砺前行|勇于担当|非常重要|很重要|真的很重要"
)


def hedge_share(text: str) -> float:
    """Share of the answer's words (Chinese: characters) inside stock phrases that say nothing."""
    if _language_of(text) == "zh":
        total = len(CJK.findall(text))
        inside = sum(len(CJK.findall(m.group(0))) for m in _ZH_HEDGE.finditer(text))
        return inside / total if total else 0.0
    words = units(text)
    flat = " ".join(words)
    inside = sum(len(m.group(0).split()) for m in _EN_HEDGE.finditer(flat))
    return inside / len(words) if words else 0.0


PADDING_DISTINCT_SHARES = {"en": 0.5, "zh": 0.75}
"""Below this share of distinct content words (English stems, Chinese character pairs) among the
answer's content words, it says the same few things over and over in varied sentences ("We made it
faster. We made the system faster. We made the whole system a lot faster."), which the 4-gram
repetition misses. Four dev sets: genuine answers at least 0.75 (en) and 0.81 (zh); such padding
0.33 to 0.48. Chinese (issue 12, sealed set issue12h, then a dev set): padding in varied sentences keeps
more of its character pairs distinct ("代码质量非常重要 … 测试写多了，代码质量就上去了，代码质量上去了，
bug 就少了": 0.65, 0.74, shown at level 3), while genuine Chinese answers in eight dev sets are at least
0.81 and the rd role's 273 Chinese sample exemplars at least 0.83."""
PADDING_DISTINCT_MIN = 12
"""Content words an answer needs before its share of distinct ones is judged."""


def content_tokens(text: str) -> list[str]:
    """The answer's content words in order, repeats kept: English words of 3+ letters that are not
    function words (cut to 6 letters, as `content_units`), Chinese character pairs."""
    if _language_of(text) == "zh":
        characters = CJK.findall(text)
        return [characters[i] + characters[i + 1] for i in range(len(characters) - 1)]
    return [w[:6] for w in units(text) if len(w) >= 3 and w not in _EN_FUNCTION and not w.isdigit()]


def distinct_share(text: str) -> tuple[float, int]:
    """(share of distinct content words among the answer's content words, how many there are)."""
    tokens = content_tokens(text)
    return (len(set(tokens)) / len(tokens) if tokens else 1.0), len(tokens)


def check_padding(text: str) -> Check:
    """Is the answer mostly repetition or filler words?"""
    repeated = repeated_share(text)
    fillers = filler_share(text)
    if repeated >= PADDING_REPEATED_SHARE:
        return Check(
            "padded",
            False,
            round(repeated, 3),
            PADDING_REPEATED_SHARE,
            "insufficient",
            f"padded: {repeated:.0%} of the answer repeats what it already said",
            "repetition",
        )
    if fillers >= PADDING_FILLER_SHARE:
        return Check(
            "padded",
            False,
            round(fillers, 3),
            PADDING_FILLER_SHARE,
            "insufficient",
            f"padded: {fillers:.0%} of the answer is filler words",
            "fillers",
        )
    distinct, counted = distinct_share(text)
    least = PADDING_DISTINCT_SHARES["zh" if _language_of(text) == "zh" else "en"]
    if counted >= PADDING_DISTINCT_MIN and distinct < least:
        return Check(
            "padded",
            False,
            round(distinct, 3),
            least,
            "insufficient",
            f"padded: the answer says the same few things over and over (only {distinct:.0%} of its "
            "words are not repeats)",
            "the same words",
        )
    hedges = hedge_share(text)
    if hedges >= PADDING_HEDGE_SHARE:
        return Check(
            "padded",
            False,
            round(hedges, 3),
            PADDING_HEDGE_SHARE,
            "insufficient",
            f"padded: {hedges:.0%} of the answer is stock phrases that say nothing",
            "stock phrases",
        )
    return Check("padded", True, round(max(repeated, fillers, hedges), 3), PADDING_REPEATED_SHARE)


# ---- copies of the flow's own texts ----------------------------------------------------------------


@dataclass(frozen=True)
class SourceText:
    """A text of the flow a candidate might paste back: ``kind`` is question, rubric (level n) or
    talking points."""

    kind: str
    text: str


_RUBRIC_LEVEL = re.compile(r"rubric \(level (\d+)\)")


def describes_weak_answer(kind: str) -> bool:
    """Whether a flow text (`SourceText.kind`) is a rubric level at or below `CAP_LEVEL`.

    Such a level describes a weak answer ("只说用了某技术，因为大家都用"; "no first-hand example"): an
    honest weak answer says the same things in much the same words, and an answer that copied it would
    be scored at its level anyway. The copy and paraphrase checks look only for the levels above it
    and the talking points, what a candidate would copy to look better than they are."""
    match = _RUBRIC_LEVEL.fullmatch(kind)
    return match is not None and int(match.group(1)) <= CAP_LEVEL


def containment(answer: set[str], source: set[str]) -> float:
    return len(answer & source) / len(answer) if answer else 0.0


def check_copy(text: str, sources: Sequence[SourceText]) -> Check:
    """Is most of the answer the question, a rubric level or the talking points?

    Measured as the share of the answer's character n-grams found in the source (containment, so
    a rubric line padded with a few words of one's own is still a copy). Talking points count
    together (an answer made of several of them), each other text alone, and the rubric's levels
    together too (every level pasted, with or without its labels) when the answer draws on both
    the strong and the weak levels (`RUBRIC_STRONG_SHARE`, `RUBRIC_WEAK_SHARE`). Alone, the rubric
    levels that describe weak answers are not sources (`describes_weak_answer`).
    """
    grams = char_ngrams(text)
    if len(grams) < 8:
        return Check("copy", True, 0.0, COPY_CONTAINMENT)
    n = 3 if _language_of(text) == "zh" else 5
    points: set[str] = set()
    weak: set[str] = set()
    strong: set[str] = set()
    best, best_kind = 0.0, ""
    for source in sources:
        source_grams = char_ngrams(source.text, n)
        if describes_weak_answer(source.kind):
            weak |= source_grams
            continue
        if source.kind == "talking points":
            points |= source_grams
            continue
        if _RUBRIC_LEVEL.fullmatch(source.kind):
            strong |= source_grams
        share = containment(grams, source_grams)
        if share > best:
            best, best_kind = share, source.kind
    together = {"talking points": containment(grams, points)}
    if containment(grams, strong) >= RUBRIC_STRONG_SHARE and containment(grams, weak) >= RUBRIC_WEAK_SHARE:
        together[WHOLE_RUBRIC] = containment(grams, strong | weak)
    for kind, share in together.items():
        if share > best:
            best, best_kind = share, kind
    if best >= COPY_CONTAINMENT and best_kind == "talking points":
        # what a good answer covers, strung together: scored, capped, flagged (see the module doc)
        return Check(
            "talking_points",
            False,
            round(best, 3),
            COPY_CONTAINMENT,
            "cap",
            f"talking points: {best:.0%} of the answer is this question's talking points, with little "
            "account of what happened",
            best_kind,
        )
    if best >= COPY_CONTAINMENT:
        return Check(
            "copy",
            False,
            round(best, 3),
            COPY_CONTAINMENT,
            "insufficient",
            f"copy: {best:.0%} of the answer is the {best_kind} of this question",
            best_kind,
        )
    return Check("copy", True, round(best, 3), COPY_CONTAINMENT, detail=best_kind or None)


PARROT_SHARE = 0.5
"""Share of the answer's content words (Chinese: character pairs) taken from the question ..."""
PARROT_MAX_NEW = 10
"""... with fewer than this many of its own ..."""
PARROT_COVERAGE = 0.35
"""... and saying back at least this share of the question's own content units (in one of its
languages; without the units most of the flow's questions use, such as "tell", "time", "请讲",
"经历"). A short honest answer names a few of the question's nouns ("I told the team the new CRM
process was mandatory"); a restatement says most of what the question asks. Adversarial dev sets:
restated questions at least 0.46 of the question; genuine answers at most 0.27."""


def question_coverage(found: set[str], question: str, common: Iterable[str] = ()) -> float:
    """Share of the question's content units (less ``common``) that ``found`` holds."""
    asked = content_units(question) - set(common)
    return len(found & asked) / len(asked) if asked else 0.0


def check_restated(text: str, sources: Sequence[SourceText], common: Iterable[str] = ()) -> Check:
    """Does the answer only say the question back ("I led a design, considered options and
    decided")? Its content units are mostly the question's (any of the flow's languages), few are
    its own, and it says back a good part of what the question asks (``common``: content units
    most of the flow's questions use, which say nothing about this one)."""
    questions = [source.text for source in sources if source.kind == "question"]
    asked: set[str] = set()
    for question in questions:
        asked |= content_units(question)
    found = content_units(text)
    if not found or not asked:
        return Check("restates_question", True, 0.0, PARROT_SHARE)
    share = len(found & asked) / len(found)
    new = len(found - asked)
    common = set(common)
    coverage = max(question_coverage(found, question, common) for question in questions)
    detail = f"{new} words of its own, {coverage:.0%} of the question said back"
    if share >= PARROT_SHARE and new < PARROT_MAX_NEW and coverage >= PARROT_COVERAGE:
        return Check(
            "restates_question",
            False,
            round(share, 3),
            PARROT_SHARE,
            "insufficient",
            f"copy: the answer restates the question ({share:.0%} of its words are the question's) "
            "without an example of its own",
            detail,
        )
    return Check("restates_question", True, round(share, 3), PARROT_SHARE, detail=detail)


def framing_units(questions: Iterable[str]) -> set[str]:
    """Content units that more than half of a flow's questions use (every language of a question
    together): how questions are asked ("tell me about a time", "请讲一次 ... 的经历"), not what."""
    counts: dict[str, int] = {}
    total = 0
    for units_of_question in (content_units(q) for q in questions):
        total += 1
        for unit in units_of_question:
            counts[unit] = counts.get(unit, 0) + 1
    return {unit for unit, n in counts.items() if n > total / 2}


# ---- narrative or list -----------------------------------------------------------------------------


def segments(text: str) -> list[str]:
    return [s.strip() for s in _SEGMENT.split(_BULLET.sub("\n", text)) if s and s.strip()]


def function_share(text: str) -> float:
    """Share of the words (English) or characters (Chinese) that are function words."""
    tokens = units(text)
    if not tokens:
        return 0.0
    if _language_of(text) == "zh":
        cjk = [t for t in tokens if CJK.fullmatch(t)]
        return sum(t in _ZH_FUNCTION for t in cjk) / len(cjk) if cjk else 0.0
    return sum(t in _EN_FUNCTION for t in tokens) / len(tokens)


def _fragment(segment: str, zh: bool) -> bool:
    tokens = units(segment)
    if zh:
        cjk = [t for t in tokens if CJK.fullmatch(t)]
        return sum(t in _ZH_FUNCTION for t in cjk) == 0 and len(tokens) <= 10
    return sum(t in _EN_FUNCTION for t in tokens) <= 1 and len(tokens) <= 6


_ZH_DONE = re.compile(
    r"[\u4e00-\u9fff]了|(?<![通经不超越难])过(?![程于度去来])|当时|后来|那次|有次|有一次"
    r"|降到|降至|提升到|提高到|缩短到|减少到|改成|改为|换成|最后用的|最后选"
    r"|从\s*[\d.]+\S*\s*(?:到|降到|涨到|提到)\s*[\d.]"
)
"""A completed action or a told past: a verb with 了 or 过 ("加了缓存", "试过"), the markers of an
account (当时, 后来, 那次), or a result reached ("p99 降到 120ms", "覆盖率从 15% 到 55%", "改成批量查询",
"最后用的 Canal": a terse engineer's account). Not 然后, 最后 alone: a procedure uses them too
("先止损，再定位，最后复盘")."""
_ZH_CLAUSE = re.compile(r"[，,。！？!?；;：:\n、]+")
_ZH_LEAD = re.compile(
    r"^(?:当时|后来|然后|最后|结果|之后|于是|所以|但是|但|可是|不过|而且|就|又|也|还|都|再)+"
)
_ZH_OTHER_SUBJECT = re.compile(
    "(?:他们|她们|它们|他|她|它|对方|组长|领导|老板|经理|主管|同事|大家|别人|客户|用户|产品|测试|运维|"
    "架构师|leader|候选人|应聘者|该员工)"
)
"""A clause whose subject (its first words, after 当时/后来/最后 ...) is someone else: "最后组长定了 ..."."""
_ZH_NOT_DONE = re.compile("应该|能够|应当|需要|描述了|说明了|提到了|给出了|体现了|展示了")
"""A rubric describing an answer ("候选人描述了 ...", "能够说明 ...") or what ought to happen: no one
acted."""


def _zh_speaker_acts(text: str) -> bool:
    """Some clause tells a completed action (`_ZH_DONE`) with no one else as its subject: Chinese
    drops the subject when it is the speaker ("吵了几句，最后组长定了用他的方案": the speaker argued)."""
    for part in _ZH_CLAUSE.split(text):
        clause = part.strip()
        if not clause or not _ZH_DONE.search(clause) or _ZH_NOT_DONE.search(clause):
            continue
        head = _ZH_LEAD.sub("", clause)
        if _ZH_OTHER_SUBJECT.match(head):
            continue
        return True
    return False


_EN_CLAUSE = re.compile(r"[.;!?\n]+")
_EN_LEAD = re.compile(
    r"^(?:(?:then|so|and|but|first|finally|later|eventually|also|afterwards|next|quickly|just|basically"
    r"|soon|together|personally)\s+)+"
)
_EN_PAST = frozenset(
    re.findall(
        r"\S+",
        "got made led ran built took set wrote found told brought kept put cut sent went began drove "
        "chose gave held met paid sold spent won taught thought bought did had saw caught rewrote "
        "shipped flagged",
    )
)
_EN_NOT_ACTION = frozenset(
    re.findall(
        r"\S+",
        "based related supposed interested experienced skilled detailed dedicated motivated talented "
        "advanced limited focused organized organised required expected need speed succeed proceed "
        "exceed indeed feed",
    )
)


def _en_speaker_acts(text: str) -> bool:
    """Some sentence (or part after a semicolon) starts with a verb in the past tense, without a subject:
    a terse English account drops "I" ("Rolled out a new forecasting process; got the top two reps on
    board first"). Not a clause after a comma: a report's "…, led by banks and miners" has a subject."""
    for part in _EN_CLAUSE.split(text):
        words = _EN_LEAD.sub("", part.strip().lower()).split()
        if not words:
            continue
        first = words[0].strip("\"'()")
        if first in _EN_NOT_ACTION:
            continue
        if first in _EN_PAST or (len(first) >= 5 and first.endswith("ed") and first.isalpha()):
            return True
    return False


def has_first_person(text: str) -> bool:
    """Someone acts in the answer: "I" or "we"; in Chinese also a subjectless account of actions done.

    Chinese drops the subject when it is the speaker ("加了缓存，接口快了很多" is "I added a cache"),
    so an answer with a clause that tells a completed action (了, 过, 当时, 后来 ...) whose subject is
    not someone else (他, 组长, 同事 ... at its start) is told in the first person; only when another
    person is the subject of every such clause, or none tells an action, is nobody the speaker. A
    terse English answer drops "I" too: a clause that starts with a past-tense verb is the speaker's."""
    if _language_of(text) == "zh":
        if any(p in text for p in _ZH_FIRST_PERSON) or any(t in _EN_FIRST_PERSON for t in units(text)):
            return True
        return _zh_speaker_acts(text)
    return any(t in _EN_FIRST_PERSON for t in units(text)) or _en_speaker_acts(text)


def check_narrative(text: str, talking_points: Sequence[str], behavioural: bool) -> list[Check]:
    """Is the answer told (sentences with verbs; someone acting, for a behavioural question) rather
    than listed (keywords, talking points)? Returns the narrative check and, for behavioural
    questions, the first-person check."""
    zh = _language_of(text) == "zh"
    parts = segments(text)
    is_fragment = [_fragment(p, zh) for p in parts]
    fragments = sum(is_fragment) / len(parts) if parts else 1.0
    lengths = [len(units(p)) for p in parts]
    words = sum(n for n, f in zip(lengths, is_fragment, strict=True) if f) / max(1, sum(lengths))
    share = function_share(text)
    low = KEYWORD_FUNCTION_SHARE["zh" if zh else "en"]
    listed = (
        len(parts) >= KEYWORD_MIN_SEGMENTS
        and fragments >= KEYWORD_FRAGMENT_SHARE
        and words >= KEYWORD_FRAGMENT_WORDS
    ) or share < low
    checks: list[Check] = []
    if listed:
        points = (
            set().union(*(char_ngrams(p, 3 if zh else 5) for p in talking_points))
            if talking_points
            else set()
        )
        from_points = containment(char_ngrams(text), points) >= 0.35 if points else False
        name = "talking_points" if from_points else "keyword_list"
        what = "talking points" if from_points else "a list of keywords"
        checks.append(
            Check(
                name,
                False,
                round(fragments, 3),
                KEYWORD_FRAGMENT_SHARE,
                "cap",
                f"{name.replace('_', ' ')}: the answer is {what}, not an account of what happened "
                f"({fragments:.0%} of its parts are fragments without verbs)",
                f"function words {share:.0%}, {words:.0%} of the words in fragments",
                LIST_CAP_LEVEL if behavioural else None,
            )
        )
    else:
        checks.append(Check("narrative", True, round(fragments, 3), KEYWORD_FRAGMENT_SHARE))
    if behavioural:
        if has_first_person(text):
            checks.append(Check("first_person", True))
        else:
            checks.append(
                Check(
                    "no_first_person",
                    False,
                    0.0,
                    None,
                    "cap",
                    "no first person: the question asks what the candidate did, and nobody in the "
                    "answer acts ('I', 'we')",
                    flag_when_capping=True,
                )
            )
    return checks


# ---- the rubric paraphrased ------------------------------------------------------------------------

PARAPHRASE_UNIT_SHARE = 0.45
"""Share of the answer's content units (English word stems, Chinese character pairs) that the
question's rubric levels and talking points use, in any of the flow's languages. Adversarial dev
set: rubric copies and paraphrases at least 0.55; genuine answers at most 0.35, generic ones 0.40."""
PARAPHRASE_SENTENCE_SHARE = 0.5
"""... or the share of its sentences whose own units are at least half the rubric's."""
_SENTENCE = re.compile(r"(?<=[.!?。！？;；])\s*")


def rubric_units(texts: Iterable[str]) -> set[str]:
    """The content units of a question's rubric levels and talking points (`content_units`)."""
    out: set[str] = set()
    for text in texts:
        out |= content_units(text)
    return out


def rubric_clauses(texts: Iterable[str]) -> list[str]:
    """The clauses of rubric levels and talking points (split at sentence ends and semicolons), each
    embedded once: a paraphrase is close to one clause more than to a whole level."""
    out: list[str] = []
    for text in texts:
        out += [c.strip() for c in re.split(r"[;；。.!?！？]\s*", text) if len(normalised(c)) >= 6]
    return out


def check_paraphrase(
    text: str, units_of_rubric: set[str], rubric_similarity: float, own_similarity: float
) -> Check:
    """Is the answer the rubric (or the talking points) said in other words?

    Lexical: the share of the answer's content units that the rubric uses, over the whole answer and
    sentence by sentence. Semantic: the answer is closer to a rubric clause (``rubric_similarity``,
    the best cosine) than to the answers HR rated for this question (``own_similarity``, the mean of
    its 3 best cosines to them; -1 without exemplars). Both must hold: genuine answers use the
    rubric's words too, but tell what happened, which brings them closer to other answers.
    """
    found = content_units(text)
    if not found or not units_of_rubric:
        return Check("rubric_paraphrase", True, 0.0, PARAPHRASE_UNIT_SHARE)
    share = len(found & units_of_rubric) / len(found)
    sentences = [s for s in _SENTENCE.split(text) if content_units(s)]
    like = [len(content_units(s) & units_of_rubric) / len(content_units(s)) >= 0.5 for s in sentences]
    sentence_share = sum(like) / len(like) if like else 0.0
    closer = rubric_similarity >= own_similarity
    detail = (
        f"{sentence_share:.0%} of sentences mostly rubric words; cosine to the rubric "
        f"{rubric_similarity:.3f}, to rated answers {own_similarity:.3f}"
    )
    if closer and (share >= PARAPHRASE_UNIT_SHARE or sentence_share >= PARAPHRASE_SENTENCE_SHARE):
        return Check(
            "rubric_paraphrase",
            False,
            round(share, 3),
            PARAPHRASE_UNIT_SHARE,
            "cap",
            f"rubric paraphrase: {share:.0%} of the answer's words are the rubric's or the talking "
            "points', and it is closer to the rubric than to any rated answer: it says what a good answer "
            "contains, not what happened",
            detail,
        )
    return Check("rubric_paraphrase", True, round(share, 3), PARAPHRASE_UNIT_SHARE, detail=detail)


# ---- specifics (generic answers) ------------------------------------------------------------------

SPECIFIC_DENSITY = {"en": 6.0, "zh": 4.2}
"""Specifics per 100 words (Chinese: per 100 characters) below which an answer to a behavioural
question is generic when it also uses a habitual or opinion phrase ("I always", "I believe", "我一直",
"我觉得"). Adversarial dev set: genuine answers at least 11.4 (en) and 5.6 (zh); generic answers at
most 2.9 (en) and 3.3 (zh)."""
SPECIFIC_DENSITY_BARE = 0.5
"""Below this share of `SPECIFIC_DENSITY` an answer is generic even without such a phrase."""
SPECIFIC_MIN_WORDS = {"en": 30, "zh": 50}
"""The density is taken over at least this many words (characters): a one-line answer with one
number is not "dense"."""

_EN_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
    "sixty|hundred|thousand|million|billion|half|dozen|percent|quarter|q[1-4]|monday|tuesday|wednesday|"
    "thursday|friday|saturday|sunday|january|february|march|april|june|july|august|september|october|"
    "november|december|yesterday|ago"
)
_EN_NUMBER = re.compile(rf"\d|\b(?:{_EN_NUMBER_WORDS})\b", re.IGNORECASE)
_EN_IRREGULAR_PAST = frozenset(
    re.findall(
        r"\S+",
        """was were had did went made took found saw told gave got led ran wrote built sent kept left
        brought began broke chose came cut drove fell felt fought held hit knew lost met paid read rode
        rose said sold spent stood struck taught thought threw understood woke won became bought caught
        dealt drew forgot froze hung hid lay lit meant rang sat slept spoke split spread stuck swept tore
        wore""",
    )
)
_EN_NOT_PAST = frozenset(
    re.findall(
        r"\S+",
        """need indeed speed seed feed based used related interested experienced detailed advanced skilled
        focused motivated dedicated organized organised supposed red bed shed proceed succeed exceed
        hundred biased concerned involved committed""",
    )
)
_EN_GENERIC = re.compile(
    r"\b(?:always|usually|generally|typically|normally|whenever|every time|i believe|i think|i feel|"
    r"i try to|i tend to|i like to|i love|i enjoy|i'm a|i am a|i'm very|i'm really|i'm not afraid|"
    r"i make sure|in my experience|my approach is|my philosophy|is all about|the key is|is key|are key|"
    r"is important|are important|over the years|passionate|i'm good at|i am good at|i never)\b",
    re.IGNORECASE,
)
_ZH_GENERIC = re.compile(
    "一直|通常|一般|总是|平时|我觉得|我认为|我相信|我会|每次|始终|往往|从来|向来|一向|很重要|关键在于|最重要|"
    "喜欢|擅长|经验比较丰富|经验丰富|我是一个|我的原则|我的做法是"
)
_ZH_PAST = re.compile(
    "了|当时|那次|那一次|有一次|有次|去年|前年|上个月|上周|后来|最后|之后|结果|发现|那天|那周|那年"
)
_ZH_NUMBER = re.compile(
    r"\d+|百分之|[一二两三四五六七八九十百千万半]+(?:个|天|周|月|年|次|条|人|倍|小时|分钟|秒|万|成|家|份|项|版|台|行|页|季度)"
)
_LATIN_TERM = re.compile(r"[A-Za-z][A-Za-z0-9+#.-]*")


def specifics(text: str) -> tuple[int, int, int]:
    """(specifics, habitual or opinion phrases, length) of an answer.

    Specifics are what a told experience carries and a platitude does not: numbers, dates and
    amounts, past-tense verbs (English) or past and sequence markers (Chinese: 了, 当时, 后来 ...),
    names, acronyms and product terms (capitalised words inside a sentence; Latin terms in Chinese).
    Length is in words (Chinese: characters).
    """
    if _language_of(text) == "zh":
        found = (
            len(_ZH_PAST.findall(text))
            + len(_ZH_NUMBER.findall(text))
            + len(_LATIN_TERM.findall(_ZH_NUMBER.sub(" ", text)))
        )
        return found, len(_ZH_GENERIC.findall(text)), len(CJK.findall(text))
    tokens = re.findall(r"[A-Za-z][A-Za-z'’-]*", text)
    past = sum(
        1
        for t in (w.lower() for w in tokens)
        if (t.endswith("ed") and len(t) > 4 and t not in _EN_NOT_PAST) or t in _EN_IRREGULAR_PAST
    )
    names = 0
    for sentence in re.split(r"(?<=[.!?:;])\s+", text):
        words = re.findall(r"[A-Za-z][A-Za-z0-9'’-]*", sentence)
        names += sum(
            1
            for w in words[1:]
            if (w[0].isupper() and not w.startswith("I'") and w != "I") or re.search(r"[a-z][A-Z]", w)
        )
    numbers = len(_EN_NUMBER.findall(text))
    return past + names + numbers, len(_EN_GENERIC.findall(text)), len(tokens)


SPECIFIC_SHORT = {"en": 25, "zh": 40}
"""Below this many words (Chinese: characters) an answer is too short for a density: it is generic
only when it has no specific at all and none of its words are the question's own (`check_specifics`).
Adversarial dev sets: generic answers at least 34 words (en) and 41 characters (zh); honest short
answers 10 to 32 words, 10 to 45 characters."""


def check_specifics(text: str, question_units: set[str] | None = None) -> Check:
    """Does the answer tell something that happened (numbers, past actions, names), or could it be
    said by anyone about any question ("I always listen first and use data")? For behavioural
    questions only: a generic answer is scored, capped at `CAP_LEVEL` and flagged.

    Shortness alone is not genericness: an answer shorter than `SPECIFIC_SHORT` ("when things break
    in prod I usually just restart the service") is judged on what it says, and flagged only when
    it names nothing specific and nothing of this question (``question_units``: the content units of
    the question, its rubric and talking points, `content_units`; ``None``: not known, taken as
    tied). Such an answer is scored as it is, usually low, without a flag."""
    language = _language_of(text)
    found, habitual, length = specifics(text)
    density = 100.0 * found / max(length, SPECIFIC_MIN_WORDS[language])
    limit = SPECIFIC_DENSITY[language]
    unit = "characters" if language == "zh" else "words"
    detail = f"{found} specifics, {habitual} habitual or opinion phrases, {length} {unit}"
    if length < SPECIFIC_SHORT[language]:
        tied = question_units is None or bool(content_units(text) & question_units)
        generic = found == 0 and not tied
        detail += ", short: judged on its own words" + ("" if tied else " (none of them the question's)")
    else:
        generic = density < limit * SPECIFIC_DENSITY_BARE or (density < limit and habitual > 0)
    if generic:
        return Check(
            "generic",
            False,
            round(density, 2),
            limit,
            "cap",
            "generic: the answer could fit any question; it names no situation, numbers or actions "
            f"the candidate took ({found} specifics in {length} {unit})",
            detail,
            flag_when_capping=True,
        )
    return Check("specifics", True, round(density, 2), limit, detail=detail)


# ---- on topic --------------------------------------------------------------------------------------


def topic_similarity(vectors: np.ndarray, material: np.ndarray, k: int = 3) -> np.ndarray:
    """Mean of the ``k`` highest cosines of each answer to a question's material."""
    if not len(material):
        return np.full(len(vectors), -1.0)
    sims = vectors @ material.T
    k = min(k, sims.shape[1])
    top = -np.sort(-sims, axis=1)[:, :k]
    result: np.ndarray = top.mean(axis=1)
    return result


# ---- near duplicates -------------------------------------------------------------------------------


def shingles(text: str) -> set[str]:
    """Character 5-grams of the normalised text (Chinese: 3-grams), the near-duplicate shingles."""
    return char_ngrams(text)


# ---- the role's vocabulary (lexical side of the on-topic check) -----------------------------------

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def content_units(text: str) -> set[str]:
    """Content-bearing units: English words of 3+ letters that are not function words (cut to 6
    letters, a crude stem) and Chinese character bigrams without a function character."""
    out: set[str] = set()
    for run in _CJK_RUN.findall(text):
        for i in range(len(run) - 1):
            pair = run[i : i + 2]
            if pair[0] not in _ZH_FUNCTION and pair[1] not in _ZH_FUNCTION:
                out.add(pair)
    for token in units(text):
        if not CJK.fullmatch(token) and len(token) >= 3 and token not in _EN_FUNCTION and not token.isdigit():
            out.add(token[:6])
    return out


class Vocabulary:
    """Document frequencies of content units over a role's texts (its flow and its exemplars)."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self.frequency: dict[str, int] = {}
        for text in texts:
            self.add(text)

    def add(self, text: str) -> None:
        for unit in content_units(text):
            self.frequency[unit] = self.frequency.get(unit, 0) + 1

    def overlap(self, text: str, *, own: bool = False) -> float:
        """Share of the text's content units that the role's texts use; ``own``: the text is one of
        them (leave it out)."""
        found = content_units(text)
        if not found:
            return 0.0
        floor = 1 if own else 0
        return sum(self.frequency.get(u, 0) > floor for u in found) / len(found)
