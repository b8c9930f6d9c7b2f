"""Candidates' questions in the running bot: the knowledge base, built in the background.

* At start-up the FAQ files, the documents and the FAQ entries HR approved from handed-off questions
  (table ``faq_addition``) become one `knowledge.faq.KnowledgeBase`; it is rebuilt and swapped in
  whole when HR add an entry. Until it is ready, questions are passed to HR as before.
* As with scoring, the model's work happens before the conversation's transaction (`prepare`), and
  `action_answer_faq` picks the result up; no database lock is held while the model runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from actions.base import Domain, Tracker
from bot.maintenance import Maintained
from bot.settings import Settings
from bot.store.db import Database
from bot.store.models import FaqAddition
from knowledge.faq import FaqEntry, KnowledgeAnswer, KnowledgeBase, load_faq_files, split_documents
from knowledge.llm import PassagePhraser
from language.embeddings import EmbeddingService, EmbeddingServices, Vector
from language.fitting import Fitter, fit_here
from language.vector_cache import CachedEmbedder

log = logging.getLogger(__name__)

MEMO_SIZE = 1024


KnowledgeBuilds = dict[str, KnowledgeBase]
"""Built knowledge bases by a digest of what they were built from, shareable between runtimes."""


class KnowledgeService(Maintained):
    """Implements `actions.interview.QuestionAnswerer` for the engine.

    Args:
        phraser: the optional chat model that phrases passages.
        builds: knowledge bases already built (tests share one); a private one by default.
    """

    name = "knowledge-maintenance"

    def __init__(
        self,
        db: Database,
        settings: Settings,
        services: EmbeddingServices,
        phraser: PassagePhraser | None = None,
        builds: KnowledgeBuilds | None = None,
        *,
        fitter: Fitter = fit_here,
    ) -> None:
        super().__init__()
        self.db = db
        self.fitter = fitter
        """Where the FAQ classifier is fit (`language.fitting`)."""
        self.settings = settings
        self.services = services
        self.phraser = phraser
        self.builds: KnowledgeBuilds = builds if builds is not None else {}
        self.base: KnowledgeBase | None = None
        self._built_from: tuple[int, int] | None = None
        self._service: EmbeddingService | None = None
        self._memo: OrderedDict[tuple[str, str, str], dict[str, Any]] = OrderedDict()

    @property
    def model_id(self) -> str | None:
        return self.base.model_id if self.base else None

    @property
    def interval(self) -> float:
        return self.settings.scoring.refresh_seconds

    async def wait_ready(self) -> None:
        while self.base is None:
            await self._built.wait()
            self._built.clear()

    async def refresh(self) -> None:
        async with self.db.read() as session:
            count, last = (
                await session.exec(select(func.count(col(FaqAddition.id)), func.max(FaqAddition.id)))
            ).one()
            stats = (int(count or 0), int(last or 0))
            if self.base is not None and stats == self._built_from:
                return
            additions = list((await session.exec(select(FaqAddition).order_by(col(FaqAddition.id)))).all())
        self.base = await asyncio.to_thread(self._build, additions)
        self._built_from = stats
        self._memo.clear()
        self._built.set()
        log.info(
            "knowledge base ready: %d FAQ entries, %d passages",
            len(self.base.entries),
            len(self.base.passages),
        )

    def _build(self, additions: list[FaqAddition]) -> KnowledgeBase:
        folder = self.settings.dialogues_dir
        faq_files = sorted((folder / "faq").glob("*.yml"))
        documents = sorted(p for p in (folder / "documents").glob("*") if p.suffix in {".md", ".txt"})
        digest = hashlib.sha256(self.settings.knowledge.model.encode())
        for path in [*faq_files, *documents]:
            digest.update(path.name.encode() + path.read_bytes())
        for addition in additions:
            digest.update(f"{addition.entry_id}\0{addition.question}\0{addition.answer}".encode())
        service = self.services.get(self.settings.knowledge.model)
        self._service = service
        key = digest.hexdigest()
        if key in self.builds:
            return self.builds[key]
        entries, problems = load_faq_files(faq_files)
        for problem in problems:
            log.warning("FAQ: %s", problem)
        # HR's entries (the workspace's FAQ page) replace a shipped entry with the same id
        added = [faq_entry(addition) for addition in additions]
        replaced = {entry.id for entry in added}
        entries = [entry for entry in entries if entry.id not in replaced] + added
        # the FAQ and documents are shipped or HR's texts: cached; questions go to the service alone
        cached = CachedEmbedder(service, self.settings.cache_dir / "vectors")
        # the splitter is langchain's (about 10 MB imported): it runs where the classifier is fit
        passages = self.fitter(split_documents, documents)
        base = KnowledgeBase(entries, passages, service, material=cached, fitter=self.fitter)
        self.builds[key] = base
        return base

    # --- answering -------------------------------------------------------------------------------

    async def prepare(
        self,
        text: str,
        language: str,
        role: str | None,
        vector: Vector | None = None,
        model_id: str | None = None,
    ) -> None:
        """Answer ahead of the step's transaction; `answer` then finds the result. ``vector`` is the
        question's embedding by ``model_id``, reused when that is the knowledge base's model."""
        if self.base is None:
            return
        key = (text, language, role or "")
        if key in self._memo:
            return
        if model_id != self.base.model_id:
            vector = None
        result = await self._answer(text, language, role, vector)
        self._memo[key] = result
        while len(self._memo) > MEMO_SIZE:
            self._memo.popitem(last=False)

    async def answer(
        self, tracker: Tracker, domain: Domain, text: str, language: str
    ) -> dict[str, Any] | None:
        if self.base is None:
            return None
        role = tracker.get_slot("role")
        key = (text, language, str(role or ""))
        if key in self._memo:
            return self._memo[key]
        return await self._answer(text, language, str(role) if role else None)

    async def _answer(
        self, text: str, language: str, role: str | None, vector: Vector | None = None
    ) -> dict[str, Any]:
        base = self.base
        assert base is not None and self._service is not None
        if vector is None:
            vector = await self._service.embed(text, "query")
        (found,) = await asyncio.to_thread(base.answer_vectors, vector[None, :], [language], role)
        if found.kind == "passage" and self.phraser is not None:
            found = await self.phraser.phrase(text, found, language)
        return _stored(found, base.model_id)


def faq_entry(addition: FaqAddition) -> FaqEntry:
    return FaqEntry(
        id=addition.entry_id,
        scope=addition.scope,
        tags=["added by HR"],
        questions={addition.language: [q.strip() for q in addition.question.splitlines() if q.strip()]},
        answer={addition.language: addition.answer},
        source=f"handoff {addition.handoff_id}" if addition.handoff_id else "HR",
    )


def _stored(answer: KnowledgeAnswer, model_id: str) -> dict[str, Any]:
    return {
        "kind": answer.kind,
        "text": answer.text,
        "entry_id": answer.entry_id,
        "source": answer.source,
        "confidence": answer.confidence,
        "hedged": answer.hedged,
        "phrased": answer.phrased,
        "alternatives": answer.alternatives,
        "model_id": model_id,
    }
