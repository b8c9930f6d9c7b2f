"""Candidates' questions answered from the company's own knowledge: FAQ entries and HR documents.

FAQ files (``dialogues/faq/*.yml``) hold entries per scope (``company`` or a role id), each with
question variants and an answer in English and Chinese. Documents (``dialogues/documents/*.md`` or
``.txt``) are split into passages with langchain's text splitters (by Markdown heading, then by size).

`KnowledgeBase` answers a question in three tiers:

1. the best FAQ entry of the candidate's role or the company, when the classifier is confident;
2. else the best document passage, quoted with its source, when it is close enough;
3. else nothing: the caller tells the candidate so and passes the question to HR.

The FAQ classifier is a logistic regression over multilingual sentence embeddings of every
question variant in both languages and every sentence of the answers (the answers name what the
variants leave out: "pager" is in the on-call answer, not in its questions), so a Chinese question
finds an entry whose variants are English and the other way round. On the labelled candidate
questions (``bench/knowledge.py``) it picks the right entry for 94.5% of the answerable ones,
against 71% for nearest-neighbour matching of the variants.

Pure: texts, vectors and records in, answers out; the embedder is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import faiss
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flows.schema import LANGUAGES, Problem
from language import yaml_files
from language.embeddings import Embedder, Matrix
from language.fitting import Fitter, fit_here, fit_logistic, logistic_proba

AnswerKind = Literal["faq", "passage", "none"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FaqEntry(_Model):
    id: str = Field(pattern=r"^[a-z0-9_]{2,64}$")
    scope: str = "company"
    """``company`` or the role id the entry belongs to."""
    tags: list[str] = []
    questions: dict[str, list[str]]
    answer: dict[str, str]
    source: str = ""
    """Where the entry came from: ``file:line``, or ``handoff N`` for one HR added from a question."""


class _FaqFile(_Model):
    scope: str = "company"
    entries: list[dict[str, object]]


@dataclass(frozen=True)
class Passage:
    id: str
    source: str
    """The document and heading, e.g. ``candidate_handbook.md › The hiring process``."""
    language: str
    text: str


def load_faq_files(paths: Iterable[Path]) -> tuple[list[FaqEntry], list[Problem]]:
    """Every entry of the FAQ files, and every problem found (``file:line: message``)."""
    entries: list[FaqEntry] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for path in paths:
        text = path.read_text(encoding="utf-8")
        try:
            node = yaml.compose(text)
            raw = yaml_files.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problems.append(Problem(str(path), (mark.line + 1) if mark else 1, f"YAML syntax error: {exc}"))
            continue
        try:
            parsed = _FaqFile.model_validate(raw)
        except ValidationError as exc:
            problems.append(Problem(str(path), 1, str(exc.errors()[0]["msg"])))
            continue
        lines = _entry_lines(node)
        for index, item in enumerate(parsed.entries):
            line = lines[index] if index < len(lines) else 1
            try:
                entry = FaqEntry.model_validate(
                    {**item, "scope": parsed.scope, "source": f"{path.name}:{line}"}
                )
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(str(p) for p in error["loc"])
                problems.append(Problem(str(path), line, f"entry {index + 1}: {where}: {error['msg']}"))
                continue
            for language in LANGUAGES:
                if not entry.questions.get(language) or not entry.answer.get(language):
                    problems.append(
                        Problem(str(path), line, f"{entry.id}: no {language} questions or answer")
                    )
            if entry.id in seen:
                problems.append(
                    Problem(str(path), line, f"duplicate FAQ id {entry.id!r} (also {seen[entry.id]})")
                )
                continue
            seen[entry.id] = entry.source
            entries.append(entry)
    return entries, problems


def _entry_lines(node: yaml.Node | None) -> list[int]:
    if not isinstance(node, yaml.MappingNode):
        return []
    for key, value in node.value:
        if key.value == "entries" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def document_language(path: Path) -> str:
    """``handbook.zh.md`` is Chinese; anything else is English."""
    suffixes = path.suffixes
    return "zh" if len(suffixes) > 1 and suffixes[-2] == ".zh" else "en"


def split_documents(paths: Iterable[Path], chunk_size: int = 700, overlap: int = 100) -> list[Passage]:
    """Passages of Markdown and text documents: by heading first, then by size on sentence ends."""
    from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

    headers = MarkdownHeaderTextSplitter([("#", "h1"), ("##", "h2"), ("###", "h3")], strip_headers=True)
    sizer = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=overlap,
        separators=["\n\n", "\n", "。", ". ", "；", "; ", "，", ", ", " ", ""],
        keep_separator="end",
    )
    passages: list[Passage] = []
    for path in paths:
        language = document_language(path)
        sections = headers.split_text(path.read_text(encoding="utf-8"))
        for number, chunk in enumerate(sizer.split_documents(sections)):
            heading = chunk.metadata.get("h3") or chunk.metadata.get("h2") or chunk.metadata.get("h1") or ""
            text = chunk.page_content.strip()
            if len(text) < 20:
                continue
            source = f"{path.name} › {heading}" if heading else path.name
            passages.append(Passage(f"{path.name}#{number}", source, language, text))
    return passages


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")


def answer_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if len(s.strip()) > 8]


@dataclass(frozen=True)
class KnowledgeAnswer:
    kind: AnswerKind
    text: str = ""
    entry_id: str | None = None
    source: str | None = None
    confidence: float = 0.0
    """FAQ: the classifier's probability of the entry; passage: its cosine similarity."""
    hedged: bool = False
    """A likely but not confident FAQ match: offered as "this may help", and HR is asked too."""
    phrased: bool = False
    """The passage's text was phrased by a chat model (`knowledge.llm`), citing the passage."""
    alternatives: list[tuple[str, float]] = field(default_factory=list)
    """The best FAQ entries (id, probability): why the classifier decided so."""


@dataclass(frozen=True)
class Thresholds:
    """When an answer is given. Set on the even rows of tests/data/faq_questions.jsonl (the odd rows
    stay held out; ``bench/knowledge.py`` prints both halves)."""

    faq_probability: float = 0.20
    """A confident FAQ answer: the best entry's probability, renormalised over the entries in scope..."""
    faq_ratio: float = 8.0
    """...is this many times the second best's."""
    hedged_probability: float = 0.10
    hedged_ratio: float = 1.5
    """A likely match below the confident bar is offered as "this may help" and passed to HR too."""
    same_question: float = 0.97
    """A question this close to one of an entry's variants is that variant asked again: answered
    confidently whatever the classifier says (an entry HR just added has a single variant)."""
    passage_similarity: float = 0.885
    """A passage is quoted when its cosine similarity reaches this (e5 scale, where unrelated
    questions reach 0.88: multilingual e5 similarities are compressed)."""


class KnowledgeBase:
    """FAQ classifier and passage index over one embedder (see module docstring)."""

    def __init__(
        self,
        entries: Sequence[FaqEntry],
        passages: Sequence[Passage],
        embedder: Embedder,
        *,
        thresholds: Thresholds | None = None,
        regularisation: float = 10.0,
        material: Embedder | None = None,
        fitter: Fitter = fit_here,
    ) -> None:
        """``embedder`` embeds candidates' questions; ``material`` (the same model, possibly behind
        a disk cache that questions never reach; ``embedder`` by default) embeds the entries and
        passages; ``fitter`` runs the classifier's fit (`language.fitting`)."""
        if material is not None and material.model_id != embedder.model_id:
            raise ValueError(f"material embedder {material.model_id} is not {embedder.model_id}")
        material = material or embedder
        if len(entries) < 2:
            raise ValueError("a knowledge base needs at least two FAQ entries")
        self.entries = list(entries)
        self.passages = list(passages)
        self.embedder = embedder
        self.thresholds = thresholds or Thresholds()
        texts: list[str] = []
        owners: list[int] = []
        for index, entry in enumerate(self.entries):
            for language in LANGUAGES:
                for variant in entry.questions.get(language, []):
                    texts.append(variant)
                    owners.append(index)
                for sentence in answer_sentences(entry.answer.get(language, "")):
                    texts.append(sentence)
                    owners.append(index)
        vectors = material.encode(texts, "query")
        self._variants = vectors
        self._owners = np.asarray(owners)
        self._centre = vectors.mean(axis=0)
        self._classifier = fitter(
            fit_logistic, vectors - self._centre, np.asarray(owners), regularisation, 5000
        )
        self._classes = np.asarray(self._classifier.classes)
        self._passage_index: faiss.IndexFlatIP | None = None
        if self.passages:
            # Exact inner product on normalised vectors: cosine similarity, no approximation.
            self._passage_index = faiss.IndexFlatIP(embedder.dim)
            self._passage_index.add(
                np.ascontiguousarray(
                    material.encode([p.text for p in self.passages], "passage"), dtype=np.float32
                )
            )

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    def in_scope(self, role: str | None) -> np.ndarray:
        return np.asarray([e.scope in ("company", role) for e in self.entries])

    def probabilities(self, vectors: Matrix, role: str | None) -> np.ndarray:
        """Per question, the probability of each entry, renormalised over the entries in scope."""
        raw = logistic_proba(self._classifier, vectors - self._centre)
        full = np.zeros((len(vectors), len(self.entries)))
        full[:, self._classes] = raw
        full *= self.in_scope(role)
        total = full.sum(axis=1, keepdims=True)
        scoped: np.ndarray = np.divide(full, total, out=np.zeros_like(full), where=total > 0)
        return scoped

    def answer(
        self, question: str, language: str, role: str | None = None, vector: np.ndarray | None = None
    ) -> KnowledgeAnswer:
        """The best answer to ``question`` in ``language``, or ``kind="none"``."""
        query = vector if vector is not None else self.embedder.encode([question], "query")[0]
        return self.answer_vectors(np.asarray([query]), [language], role)[0]

    def answer_vectors(
        self, vectors: Matrix, languages: Sequence[str], role: str | None = None
    ) -> list[KnowledgeAnswer]:
        probabilities = self.probabilities(vectors, role)
        limits = self.thresholds
        answers = []
        for row, (probability, language) in enumerate(zip(probabilities, languages, strict=True)):
            order = np.argsort(-probability)
            best, second = float(probability[order[0]]), float(probability[order[1]])
            ratio = best / second if second > 0 else float("inf")
            alternatives = [(self.entries[i].id, round(float(probability[i]), 3)) for i in order[:3]]
            confident = best >= limits.faq_probability and ratio >= limits.faq_ratio
            similarities = self._variants @ vectors[row]
            nearest = int(np.argmax(similarities))
            owner = int(self._owners[nearest])
            if similarities[nearest] >= limits.same_question and probability[owner] > 0:
                order = np.asarray([owner, *(i for i in order if i != owner)])
                best, confident = float(probability[owner]), True
            likely = best >= limits.hedged_probability and ratio >= limits.hedged_ratio
            if not confident:
                quoted = self._passage(vectors[row], language, alternatives)
                if quoted.kind == "passage" or not likely:
                    answers.append(quoted)
                    continue
            entry = self.entries[int(order[0])]
            answers.append(
                KnowledgeAnswer(
                    "faq",
                    entry.answer.get(language) or next(iter(entry.answer.values())),
                    entry.id,
                    entry.source,
                    round(best, 3),
                    hedged=not confident,
                    alternatives=alternatives,
                )
            )
        return answers

    def _passage(
        self, vector: np.ndarray, language: str, alternatives: list[tuple[str, float]]
    ) -> KnowledgeAnswer:
        if self._passage_index is None:
            return KnowledgeAnswer("none", alternatives=alternatives)
        similarities, indices = self._passage_index.search(
            np.ascontiguousarray([vector], dtype=np.float32), len(self.passages)
        )
        for similarity, index in zip(similarities[0], indices[0], strict=True):
            passage = self.passages[int(index)]
            if passage.language != language:
                continue
            if similarity >= self.thresholds.passage_similarity:
                return KnowledgeAnswer(
                    "passage",
                    passage.text,
                    None,
                    passage.source,
                    round(float(similarity), 3),
                    alternatives=alternatives,
                )
            break
        return KnowledgeAnswer("none", alternatives=alternatives)


def evaluate(base: KnowledgeBase, rows: Sequence[dict[str, object]]) -> dict[str, object]:
    """Accuracy of ``base`` on labelled candidate questions.

    Rows hold ``text``, ``lang``, ``role`` and ``expected`` (an FAQ id, or None when the knowledge
    cannot answer). Reports top-1 accuracy of the FAQ classifier on answerable questions (whatever
    the thresholds), what the bot would do with each question, the share of confident wrong answers
    (a confident FAQ answer of the wrong entry, or any confident answer to an unanswerable
    question), and the precision and recall of "no answer".
    """
    texts = [str(row["text"]) for row in rows]
    vectors = base.embedder.encode(texts, "query")
    top1: list[bool] = []
    outcome: dict[str, int] = {}
    confident_wrong = no_answer_right = no_answer_given = unanswerable = 0
    for row, vector in zip(rows, vectors, strict=True):
        role = str(row["role"]) if row.get("role") else None
        expected = row.get("expected")
        probability = base.probabilities(np.asarray([vector]), role)[0]
        if expected:
            top1.append(base.entries[int(np.argmax(probability))].id == expected)
        (answer,) = base.answer_vectors(np.asarray([vector]), [str(row["lang"])], role)
        if answer.kind == "faq":
            right = answer.entry_id == expected
            key = f"faq {'hedged' if answer.hedged else 'confident'} {'right' if right else 'wrong'}"
            confident_wrong += int(not answer.hedged and not right)
        elif answer.kind == "passage":
            key = "passage for an unanswerable question" if not expected else "passage"
            confident_wrong += int(not expected)
        else:
            key = "no answer, rightly" if not expected else "no answer, though the FAQ has one"
            no_answer_given += 1
            no_answer_right += int(not expected)
        unanswerable += int(not expected)
        outcome[key] = outcome.get(key, 0) + 1
    return {
        "n": len(rows),
        "top1_accuracy": round(sum(top1) / max(len(top1), 1), 3),
        "answerable": len(top1),
        "confident_wrong_share": round(confident_wrong / max(len(rows), 1), 3),
        "no_answer_precision": round(no_answer_right / max(no_answer_given, 1), 3),
        "no_answer_recall": round(no_answer_right / max(unanswerable, 1), 3),
        "outcomes": dict(sorted(outcome.items())),
    }
