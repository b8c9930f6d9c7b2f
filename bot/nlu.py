"""Intents: what a candidate's message is (an answer, a question to the bot, a command ...).

Slash commands, empty and unreadable messages are decided by rules. Everything else is embedded
once (the vector is kept for scoring) and classified by a model fitted at start-up on the intent
examples of its language, read from Rasa ``nlu.yml`` files under ``dialogues/nlu/``. The caller
decides what to do when confidence is low (the engine asks "Shall I record that as your answer?"
rather than guess).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from knowledge.faq import load_faq_files
from language import yaml_files
from language.embeddings import READS, EmbeddingServices, Matrix, Vector
from language.fitting import Fitter, LinearModel, fit_here, fit_logistic, logistic_proba
from language.forms import MessageForm, message_form
from language.text import detect_language
from language.vector_cache import CachedEmbedder

if TYPE_CHECKING:
    from bot.settings import Settings

# Commands and the intent each stands for; button payloads use the same forms.
COMMANDS: dict[str, str] = {
    "start": "start",
    "interview": "start_interview",
    "practice": "start_practice",
    "repeat": "repeat",
    "skip": "skip",
    "pause": "pause",
    "resume": "resume",
    "human": "human",
    "withdraw": "withdraw",
    "delete_my_data": "delete_my_data",
    "lang": "switch_language",
    "help": "help",
    "retry": "retry",
    "progress": "progress",
    "apply": "apply",
    "voice": "voice",
    "slot": "pick_slot",
    "yes": "affirm",
    "no": "deny",
    "affirm": "affirm",  # Rasa widgets send intents as /intent
    "deny": "deny",
}
NOT_ANSWERS = frozenset(
    {
        "faq_question",
        "repeat",
        "skip",
        "pause",
        "resume",
        "human",
        "withdraw",
        "delete_my_data",
        "help",
        "retry",
        "progress",
        "affirm",
        "deny",
        "greet",
        "goodbye",
        "thanks",
        "chitchat",
        "lang_en",
        "lang_zh",
    }
)
_COMMAND = re.compile(r"^/([A-Za-z_]+)(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)
_WORD = re.compile(r"[^\W_]", re.UNICODE)


@dataclass
class Example:
    text: str
    intent: str
    language: str


@dataclass
class Parse:
    """What the classifier made of one message."""

    text: str
    intent: str
    confidence: float
    language: str
    command: str | None = None
    args: list[str] = field(default_factory=list)
    vector: Vector | None = None
    ranking: list[tuple[str, float]] = field(default_factory=list)
    model_id: str | None = None
    """The model that produced ``vector``."""
    neighbours: list[tuple[str, str, float]] = field(default_factory=list)
    """The nearest intent examples (intent, text, similarity): why the classifier decided so."""
    voice: dict[str, Any] | None = None
    """For a voice message, what the recogniser found (`bot.transcripts`): duration, confidence,
    ``uncertain``, pauses ... or ``problem``."""
    form: MessageForm | None = None
    """The wording of the message (`language.forms`): question words, a trailing question ..."""
    faq_closeness: float | None = None
    """How close the message is to the FAQ's questions, with the vector it already has: its best
    similarity to an FAQ question variant minus the bar above which a message is much more likely a
    question than an answer (>= 0: like an FAQ question; set per model at start-up)."""
    faq_nearest: str | None = None
    """The FAQ question variant nearest to the message."""
    reasons: list[str] = field(default_factory=list)
    """Why the message was taken as it was, in order (the classifier's and the policy's reasons)."""

    @property
    def is_answer(self) -> bool:
        return self.intent == "answer"

    def as_latest_message(self) -> dict[str, Any]:
        """Rasa's ``latest_message`` shape for the tracker."""
        return {
            "text": self.text,
            "intent": {"name": self.intent, "confidence": self.confidence},
            "intent_ranking": [{"name": n, "confidence": c} for n, c in self.ranking[:5]],
            "language": self.language,
            "command": self.command or "",
        }


def load_examples(directory: Path) -> list[Example]:
    """Intent examples from every ``<language>.yml`` Rasa NLU file in the directory."""
    examples: list[Example] = []
    for path in sorted(directory.glob("*.yml")):
        data = yaml_files.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu", []):
            intent = block.get("intent")
            if not intent:
                continue
            for line in str(block.get("examples", "")).splitlines():
                item = line.strip()
                if item.startswith("- "):
                    examples.append(Example(item[2:].strip(), str(intent), path.stem))
    return examples


def load_faq_questions(directory: Path) -> list[tuple[str, str]]:
    """Every FAQ question variant (text, language) of the FAQ files in ``directory``."""
    entries, _ = load_faq_files(sorted(directory.glob("*.yml")))
    return [
        (variant, language)
        for entry in entries
        for language, variants in entry.questions.items()
        for variant in variants
    ]


def rule_parse(text: str) -> Parse | None:
    """Messages decided without a model: empty, unreadable, and slash commands."""
    stripped = text.strip()
    language = detect_language(stripped)
    if not stripped:
        return Parse(text, "empty", 1.0, language)
    if not _WORD.search(stripped):
        return Parse(text, "unreadable", 1.0, language)
    match = _COMMAND.match(stripped)
    if match:
        command = match.group(1).lower()
        args = (match.group(2) or "").split()
        intent = COMMANDS.get(command, "unknown_command")
        if command == "lang" and args:
            intent = {"en": "lang_en", "zh": "lang_zh"}.get(args[0].lower(), "switch_language")
        return Parse(text, intent, 1.0, language, command=f"/{command}", args=args)
    return None


class IntentClassifier:
    """Intent classifier over packaged sentence embeddings, one model per language and engine.

    A multinomial logistic regression over the message's embedding (centred on the examples'
    mean, which spreads out E5's tightly packed vectors) and three shape features (length, ending
    with a question mark, containing one). On the held-out set in ``tests/data`` it separates
    answers from everything else better than nearest examples (see bench/nlu.py); the nearest
    examples are still reported with each parse as the reason for it.

    A message is embedded once, by the engine the caller names (the one its interview is scored
    with, so the vector serves scoring too) when that engine reads its language, else by the
    language's default (``models``). A classifier is fitted for every pair of a language and an
    engine that reads it among ``models`` and ``also``.

    Args:
        examples: the intent examples (`load_examples`).
        services: the process's embedding services (one per engine).
        models: the default engine per language (``nlu.models`` in config.yml).
        also: more engines to classify with (the scoring engines).
        cache_dir: where the examples' vectors are cached (they are shipped texts).
        fitter: where the classifiers are fit (`language.fitting`).
    """

    def __init__(
        self,
        examples: list[Example],
        services: EmbeddingServices,
        models: Mapping[Any, str],
        *,
        also: Iterable[str] = (),
        neighbours: int = 5,
        cache_dir: Path | None = None,
        regularisation: float = 16.0,
        faq: Sequence[tuple[str, str]] = (),
        fitter: Fitter = fit_here,
    ) -> None:
        self.examples = examples
        self.fitter = fitter
        self.faq = list(faq)
        self.services = services
        self.models: dict[str, str] = {str(k): str(v) for k, v in models.items()}
        self.also = frozenset(also)
        self.engines = sorted({*self.models.values(), *self.also})
        self.neighbours = neighbours
        self.cache_dir = cache_dir
        self.regularisation = regularisation
        self._models: dict[tuple[str, str], _LanguageModel] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, services: EmbeddingServices, *, fitter: Fitter = fit_here
    ) -> IntentClassifier:
        """The classifier the settings describe: the intent examples and the FAQ's questions."""
        return cls(
            load_examples(settings.dialogues_dir / "nlu"),
            services,
            settings.nlu.models,
            also=settings.scoring.models.values(),
            neighbours=settings.nlu.neighbours,
            cache_dir=settings.cache_dir,
            faq=load_faq_questions(settings.dialogues_dir / "faq"),
            fitter=fitter,
        )

    @property
    def ready(self) -> bool:
        return bool(self._models)

    async def prepare(self) -> None:
        """Embed every example once (cached on disk) and fit each language's models (at start-up)."""
        languages = sorted({e.language for e in self.examples})
        for engine in self.engines:
            service = await asyncio.to_thread(self.services.get, engine)
            for language in languages:
                if language not in READS[engine] or (
                    self.models.get(language) != engine and engine not in self.also
                ):
                    continue
                rows = [e for e in self.examples if e.language == language]
                texts = [e.text for e in rows]
                faq = [text for text, lang in self.faq if lang == language]
                if self.cache_dir is not None:
                    cached = CachedEmbedder(service, self.cache_dir / "embeddings")
                    matrix = await asyncio.to_thread(cached.encode, [*texts, *faq], "query")
                else:
                    matrix = await service.embed_many([*texts, *faq], "query")
                self._models[language, engine] = await asyncio.to_thread(
                    _LanguageModel.fit, matrix[: len(texts)], rows, self.regularisation, self.fitter
                )
                self._models[language, engine].index_faq(matrix[len(texts) :], faq)

    def language_for(self, text: str) -> str:
        language = detect_language(text)
        return language if language in self.models else next(iter(self.models))

    def engine_for(self, language: str, engine: str | None = None) -> str:
        """The engine a message in ``language`` is embedded with when ``engine`` is preferred."""
        if engine is not None and (language, engine) in self._models:
            return engine
        return self.models[language]

    async def parse(self, text: str, engine: str | None = None) -> Parse:
        """Classify a message; ``engine`` is the preferred engine (see the class docstring)."""
        ruled = rule_parse(text)
        if ruled is not None:
            return ruled
        language = self.language_for(text)
        chosen = self.engine_for(language, engine)
        service = self.services.get(chosen)
        vector = await service.embed(text, "query")
        parse = self.classify(text, language, vector, chosen)
        parse.model_id = service.model_id
        return parse

    def classify(self, text: str, language: str, vector: Vector, engine: str | None = None) -> Parse:
        model = self._models[language, engine or self.models[language]]
        probabilities = model.predict(text, vector)
        order = np.argsort(-probabilities)
        ranking = [(str(model.classes[i]), float(probabilities[i])) for i in order]
        intent, confidence = ranking[0]
        parse = Parse(text, intent, confidence, language, vector=vector, ranking=ranking)
        parse.neighbours = model.nearest(vector, self.neighbours)
        parse.form = message_form(text, language)
        closeness = model.faq_closeness(vector)
        if closeness is not None:
            parse.faq_closeness, parse.faq_nearest = closeness
        parse.reasons.append(
            f"classifier: {intent} {confidence:.2f} (nearest example: {parse.neighbours[0][0]})"
            if parse.neighbours
            else f"classifier: {intent} {confidence:.2f}"
        )
        return parse


@dataclass
class _LanguageModel:
    classes: npt.NDArray[np.str_]
    mean: Vector
    classifier: LinearModel
    examples: Matrix
    labels: list[str]
    texts: list[str]
    faq: Matrix | None = None
    faq_texts: list[str] = field(default_factory=list)
    faq_bar: float = 1.0
    """The FAQ similarity above which messages are mostly questions (see `index_faq`)."""

    @classmethod
    def fit(
        cls, matrix: Matrix, rows: list[Example], regularisation: float, fitter: Fitter = fit_here
    ) -> _LanguageModel:
        mean = matrix.mean(axis=0).astype(np.float32)
        labels = [e.intent for e in rows]
        features = _features([e.text for e in rows], _centre(matrix, mean))
        classifier = fitter(fit_logistic, features, np.asarray(labels), regularisation, 5000)
        return cls(classifier.classes, mean, classifier, matrix, labels, [e.text for e in rows])

    def predict(self, text: str, vector: Vector) -> npt.NDArray[np.float64]:
        features = _features([text], _centre(vector[None, :], self.mean))
        return np.asarray(logistic_proba(self.classifier, features)[0], dtype=np.float64)

    def index_faq(self, matrix: Matrix, texts: list[str]) -> None:
        """Keep the FAQ's question variants (embedded by this model) to measure a message against.
        The bar is set from the intent examples: halfway between how close the answer examples
        typically come to an FAQ question (their 95th percentile) and how close the question
        examples do (their median), so it adapts to each model's similarity scale."""
        if not texts:
            return
        self.faq, self.faq_texts = matrix, texts
        best = (self.examples @ matrix.T).max(axis=1)
        labels = np.asarray(self.labels)
        answers, questions = best[labels == "answer"], best[labels == "faq_question"]
        if len(answers) and len(questions):
            self.faq_bar = float((np.percentile(answers, 95) + np.percentile(questions, 50)) / 2)

    def faq_closeness(self, vector: Vector) -> tuple[float, str] | None:
        if self.faq is None:
            return None
        sims = self.faq @ vector
        best = int(np.argmax(sims))
        return float(sims[best]) - self.faq_bar, self.faq_texts[best]

    def nearest(self, vector: Vector, k: int) -> list[tuple[str, str, float]]:
        sims = self.examples @ vector
        top = np.argsort(-sims)[:k]
        return [(self.labels[i], self.texts[i], float(sims[i])) for i in top]


def _centre(matrix: Matrix, mean: Vector) -> Matrix:
    centred = matrix - mean
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    result: Matrix = (centred / np.maximum(norms, 1e-9)).astype(np.float32)
    return result


_LATIN_WORD = re.compile(r"[A-Za-z0-9']+")
_HAN = re.compile(r"[\u4e00-\u9fff]")


def _features(texts: list[str], centred: Matrix) -> Matrix:
    shape = np.array(
        [
            [
                np.log1p(len(_LATIN_WORD.findall(t)) + len(_HAN.findall(t)) / 2) / 5,
                float(t.strip().endswith(("?", "？"))),
                float("?" in t or "？" in t),
            ]
            for t in texts
        ],
        dtype=np.float32,
    )
    return np.hstack([centred, shape])
