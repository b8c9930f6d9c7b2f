"""Answer scoring in the running bot: one `scoring.Scorer` per published flow version.

* Scorers are built in the background at start-up from the role's EHR exemplars, and rebuilt
  (then swapped in whole) when HR import new ones; a reply never waits for a build. An answer that
  arrives before its scorer is ready is stored unscored and scored by the backlog sweep.
* The work of scoring happens before the conversation's transaction (`prepare`, called by the
  engine's preparation step with the message's vector) and the result is picked up by
  `action_score_answer`; so no database lock is held while the model runs.
* Per-interview results (a score per competency, the overall weighted match) are recomputed from the
  newest score of each question (its latest attempt, after practice retries) whenever a question's
  score changes.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from actions.base import Domain, Tracker
from bot.catalog import FlowCatalog
from bot.maintenance import Maintained
from bot.settings import Settings
from bot.store.db import Database
from bot.store.models import Answer, Candidate, Exemplar, Interview, Score
from flows.schema import Flow, Question
from language.embeddings import EmbeddingService, EmbeddingServices, Kind, Matrix, Vector
from language.fitting import Fitter, fit_here
from language.vector_cache import CachedEmbedder
from scoring.aggregate import aggregate
from scoring.checks import CAP_LEVEL, Check, preload_language_model
from scoring.duplicates import NearDuplicateIndex
from scoring.records import Exemplar as ScoringExemplar
from scoring.records import questions_from_flow
from scoring.scorer import Evidence, Scorer, ScorerConfig, ScoreResult, json_safe

log = logging.getLogger(__name__)

MEMO_SIZE = 2048


@dataclass
class _Built:
    scorer: Scorer
    exemplar_count: int
    last_exemplar_id: int
    service: EmbeddingService
    """This process's door to the scorer's model."""


ScorerBuilds = dict[str, Scorer]
"""Built scorers by the digest of what they were built from (flow text and exemplars). A scorer
never changes after it is built, so processes' runtimes (tests, a restart in-process) can share one."""


class ScoringService(Maintained):
    """Implements `actions.interview.AnswerScorer` for the engine.

    Args:
        builds: scorers already built, shared between runtimes; a private one by default.
        fitter: where scorers are fit (`language.fitting`).
    """

    name = "scoring-maintenance"

    def __init__(
        self,
        db: Database,
        catalog: FlowCatalog,
        settings: Settings,
        services: EmbeddingServices,
        builds: ScorerBuilds | None = None,
        *,
        fitter: Fitter = fit_here,
    ) -> None:
        super().__init__()
        self.db = db
        self.fitter = fitter
        self.catalog = catalog
        self.settings = settings
        self.services = services
        self.builds: ScorerBuilds = builds if builds is not None else {}
        self._scorers: dict[int, _Built] = {}
        self._memo: OrderedDict[tuple[int, str, str], dict[str, Any]] = OrderedDict()
        self.duplicates: dict[str, NearDuplicateIndex] = {}
        """By role: every candidate's answers to the role's questions (near-duplicate check)."""
        self._synced = (0, 0)
        """The newest answer id read by the look before last, and by the last (`sync_duplicates`)."""

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def interval(self) -> float:
        return self.settings.scoring.refresh_seconds

    async def refresh(self) -> None:
        """(Re)build the scorer of every version in use whose exemplars changed; score the backlog;
        bring the near-duplicate indexes up to date (erasures in other processes included)."""
        await self.sync_duplicates()
        for version_id in await self._versions_in_use():
            flow = await self.catalog.flow(version_id)
            stats = await self._exemplar_stats(flow.role)
            built = self._scorers.get(version_id)
            if built is None or (built.exemplar_count, built.last_exemplar_id) != stats:
                await self._build(version_id, flow)
            await self.score_backlog(version_id)

    def keep_only(self, version_ids: set[int]) -> None:
        """Drop the scorers of every other version (the workspace's preview sandbox, whose draft
        versions are short-lived)."""
        for version_id in [v for v in self._scorers if v not in version_ids]:
            del self._scorers[version_id]

    def ready(self, version_id: int) -> bool:
        return version_id in self._scorers

    async def wait_ready(self) -> None:
        """Until every published version has a scorer (for tests and benchmarks)."""
        while not all(self.ready(r.flow_version_id) for r in self.catalog.roles):
            await self._built.wait()
            self._built.clear()

    async def _versions_in_use(self) -> list[int]:
        versions = {role.flow_version_id for role in self.catalog.roles}
        async with self.db.read() as session:
            running = await session.exec(
                select(Interview.flow_version_id).where(
                    col(Interview.state).in_(["consent", "question", "paused"])
                )
            )
            versions |= set(running.all())
        return sorted(versions)

    async def _exemplar_stats(self, role: str) -> tuple[int, int]:
        async with self.db.read() as session:
            count, last = (
                await session.exec(
                    select(func.count(col(Exemplar.id)), func.max(Exemplar.id)).where(Exemplar.role == role)
                )
            ).one()
        return int(count or 0), int(last or 0)

    def engine_for(self, flow: Flow) -> str:
        """The embedding engine that scores a flow (by its first language)."""
        return self.settings.scoring.models[flow.languages[0]]

    def service_for(self, flow: Flow) -> EmbeddingService:
        return self.services.get(self.engine_for(flow))

    async def _build(self, version_id: int, flow: Flow) -> None:
        async with self.db.read() as session:
            rows = list(
                (
                    await session.exec(
                        select(Exemplar).where(Exemplar.role == flow.role).order_by(col(Exemplar.id))
                    )
                ).all()
            )
        exemplars = [
            ScoringExemplar(
                id=exemplar_id(row),
                question_id=row.question_id or "",
                competency=row.competency,
                text=row.text,
                rating=row.rating,
                source=row.source,
                performance=row.performance,
            )
            for row in rows
        ]
        digest = hashlib.sha256()
        digest.update(flow.model_dump_json().encode("utf-8"))
        digest.update(self.settings.scoring.model_dump_json().encode("utf-8"))
        for row in rows:
            digest.update(f"\x00{row.id}\x00{row.key}\x00{row.rating}".encode())
        scorer = self.builds.get(digest.hexdigest())
        service = await asyncio.to_thread(self.service_for, flow)
        if scorer is None:
            # exemplars and the rubric are HR's texts: cached; answers go to the service alone, and
            # so do the answers HR made exemplars of (their vectors must not outlive an erasure)
            material = _Material(
                CachedEmbedder(service, self.settings.cache_dir / "embeddings"),
                service,
                frozenset(row.text for row in rows if row.answer_id is not None),
            )
            questions = questions_from_flow(flow, flow.languages[0])
            config = ScorerConfig(
                min_words=self.settings.scoring.min_answer_words, answer_languages=frozenset(flow.languages)
            )
            scorer = await asyncio.to_thread(
                functools.partial(
                    Scorer, service, questions, exemplars, config, material=material, fitter=self.fitter
                )
            )
            if not any(row.answer_id is not None for row in rows):
                # one holding candidates' words stays private to this service (erasure drops it)
                self.builds[digest.hexdigest()] = scorer
        if scorer.config.checks:
            # else the first answer waits for it; mapped from the cache folder, so the worker
            # processes share its pages instead of each holding ~75 MB (`language.identification`)
            await asyncio.to_thread(preload_language_model, self.settings.cache_dir)
        last = max((r.id or 0 for r in rows), default=0)
        self._scorers[version_id] = _Built(scorer, len(rows), last, service)
        self._built.set()
        log.info("scorer ready for %s (flow version row %d): %d exemplars", flow.role, version_id, len(rows))

    # --- near-duplicate answers ------------------------------------------------------------------

    @staticmethod
    def _answer_key(interview_id: int, question_id: str, attempt: int) -> str:
        return f"{interview_id}:{question_id}:{attempt}"

    async def sync_duplicates(self) -> None:
        """Index the stored answers of every role (each question's attempt, follow-ups joined)
        and drop the entries of candidates no longer in the store (erased by another process).

        After the first look, only answers stored since the look before last are read (a
        transaction may commit a lower id after a higher one; none stays open a whole refresh
        interval), and only attempts not indexed yet are joined and indexed."""
        since = self._synced[0]
        answered = col(Answer.status) == "answered"
        async with self.db.read() as session:
            rows = (
                await session.exec(  # type: ignore[call-overload]
                    sa_select(
                        col(Answer.id),
                        col(Answer.interview_id),
                        col(Answer.question_id),
                        col(Answer.attempt),
                        col(Interview.role),
                        col(Interview.candidate_id),
                    )
                    .join(Interview, col(Interview.id) == col(Answer.interview_id))
                    .where(answered, col(Answer.id) > since)
                )
            ).all()
            living = {str(i) for i in (await session.exec(select(Candidate.id))).all()}
            keys: dict[tuple[int, str, int], tuple[str, int]] = {}
            for _, interview_id, question_id, attempt, role, candidate_id in rows:
                index = self.duplicates.get(role)
                key = self._answer_key(interview_id, question_id, attempt)
                if index is None or not index.contains(str(candidate_id), key):
                    keys[interview_id, question_id, attempt] = (role, candidate_id)
            texts: dict[tuple[int, str, int], list[str]] = {}
            interviews = sorted({interview_id for interview_id, _, _ in keys})
            for start in range(0, len(interviews), 1000):
                parts = await session.exec(
                    select(Answer.interview_id, Answer.question_id, Answer.attempt, Answer.text)
                    .where(answered, col(Answer.interview_id).in_(interviews[start : start + 1000]))
                    .order_by(col(Answer.id))
                )
                for interview_id, question_id, attempt, text in parts.all():
                    if (interview_id, question_id, attempt) in keys:
                        texts.setdefault((interview_id, question_id, attempt), []).append(text)
        for index in self.duplicates.values():
            for owner in index.owners() - living:
                index.forget(owner)
        for (interview_id, question_id, attempt), joined in texts.items():
            role, candidate_id = keys[interview_id, question_id, attempt]
            index = self.duplicates.setdefault(role, NearDuplicateIndex())
            index.add(
                question_id,
                str(candidate_id),
                self._answer_key(interview_id, question_id, attempt),
                "\n".join(joined),
            )
        newest = max((row[0] or 0 for row in rows), default=self._synced[1])
        self._synced = (self._synced[1], max(newest, self._synced[1]))

    def forget_candidate(self, candidate_id: int) -> int:
        """Remove an erased candidate's answers from every near-duplicate index; how many."""
        return sum(index.forget(str(candidate_id)) for index in self.duplicates.values())

    def _near_duplicate(
        self, tracker: Tracker, domain: Domain, question: Question, text: str, result: dict[str, Any]
    ) -> dict[str, Any]:
        """Check the answer against other candidates' answers to the question (capped with a flag
        when it is a near-duplicate), then index it under its candidate."""
        if result.get("level") is None or domain.flow is None:
            return result
        owner = str(tracker.get_slot("candidate_id") or f"identity:{tracker.sender_id}")
        index = self.duplicates.setdefault(domain.flow.role, NearDuplicateIndex())
        interview_id = int(tracker.get_slot("interview_id") or 0)
        attempt = int(tracker.get_slot("attempt") or 1)
        key = self._answer_key(interview_id, question.id, attempt)
        return with_check(result, index.check_and_add(question.id, text, owner, key))

    # --- scoring ---------------------------------------------------------------------------------

    @staticmethod
    def _key(version_id: int, question_id: str, text: str) -> tuple[int, str, str]:
        return version_id, question_id, hashlib.sha256(text.encode("utf-8")).hexdigest()

    async def prepare(
        self, version_id: int, question: Question, text: str, vector: Vector | None
    ) -> dict[str, Any] | None:
        """Score an answer ahead of the transaction that records it (see module docstring);
        ``vector`` is the answer's, from the scorer's model, when it was embedded already."""
        built = self._scorers.get(version_id)
        if built is None:
            return None
        result = await self._score(built, question.id, text, vector, version_id)
        self._memo[self._key(version_id, question.id, text)] = result
        while len(self._memo) > MEMO_SIZE:
            self._memo.popitem(last=False)
        return result

    async def _score(
        self, built: _Built, question_id: str, text: str, vector: Vector | None, version_id: int
    ) -> dict[str, Any]:
        """Embed the answer through the model's service (once: batched with every other request)
        unless given, then score it off the event loop."""
        scorer = built.scorer
        if vector is not None and len(vector) != scorer.embedder.dim:
            vector = None
        if vector is None and scorer.insufficient_reason(text, question_id) is None:
            vector = await built.service.embed(text, "query")
        result = await asyncio.to_thread(scorer.score, question_id, text, vector, str(version_id))
        return _stored(result)

    def vector_fits(self, version_id: int, model_id: str) -> bool:
        built = self._scorers.get(version_id)
        return built is not None and built.scorer.embedder.model_id == model_id

    async def score(
        self, tracker: Tracker, domain: Domain, question: Question, text: str
    ) -> dict[str, Any] | None:
        """The prepared result, or one computed now; None (stored unscored) while no scorer is ready."""
        version_id = int(tracker.get_slot("flow_version_id") or 0)
        result = self._memo.pop(self._key(version_id, question.id, text), None)
        if result is None:
            built = self._scorers.get(version_id)
            if built is None:
                return None
            result = await self._score(built, question.id, text, None, version_id)
        return self._near_duplicate(tracker, domain, question, text, result)

    def strong_exemplars(self, version_id: int, question: Question) -> list[str]:
        """Texts of the question's exemplars rated 4 or more: practice feedback takes the length
        range and job vocabulary from them (never quoting them)."""
        built = self._scorers.get(version_id)
        if built is None:
            return []
        pool = built.scorer.index.pool(question.id, question.competency)
        return [e.text for e in pool.exemplars if e.question_id == question.id and e.rating >= 4]

    def reliability(self, version_id: int) -> list[dict[str, Any]]:
        """Per question of this flow version: its own exemplars and how sure its scores are
        (`Scorer.reliability`); empty while the version has no scorer."""
        built = self._scorers.get(version_id)
        return [] if built is None else [item.to_dict() for item in built.scorer.reliability()]

    async def score_backlog(self, version_id: int) -> int:
        """Score the questions of this version's interviews that have answers but no score."""
        built = self._scorers.get(version_id)
        if built is None:
            return 0
        async with self.db.read() as session:
            answers = list(
                (
                    await session.exec(
                        select(Answer)
                        .join(Interview, col(Interview.id) == col(Answer.interview_id))
                        .where(Interview.flow_version_id == version_id, Answer.status == "answered")
                        .order_by(col(Answer.id))
                    )
                ).all()
            )
            scored = set(
                (
                    await session.exec(
                        select(Score.answer_id)
                        .join(Answer, col(Answer.id) == col(Score.answer_id))
                        .join(Interview, col(Interview.id) == col(Answer.interview_id))
                        .where(Interview.flow_version_id == version_id)
                    )
                ).all()
            )
        questions: dict[tuple[int, str, int], list[Answer]] = {}
        for answer in answers:
            key = (answer.interview_id, answer.question_id, answer.attempt)
            questions.setdefault(key, []).append(answer)
        done = 0
        for (interview_id, question_id, _), parts in questions.items():
            last = parts[-1]
            if last.id in scored:
                continue
            text = "\n".join(p.text for p in parts)
            result = await self._score(built, question_id, text, None, version_id)
            async with self.db.write() as session:
                session.add(score_row(last, result, version_id))
                await session.flush()
                await update_results(session, interview_id, await self.catalog.flow(version_id, session))
            done += 1
        if done:
            log.info("scored %d answer(s) from the backlog (flow version row %d)", done, version_id)
        return done


def exemplar_id(row: Exemplar) -> str:
    """An exemplar's id in scores' evidence: ``ex<row id>`` (``hr<row id>`` for one HR made from a
    candidate's answer in the workspace, `bot.hr.seeding`)."""
    return f"{'hr' if row.answer_id is not None else 'ex'}{row.id}"


class _Material:
    """The scorer's material embedder: HR's texts through the disk cache, the ``private`` ones
    (candidates' answers HR promoted to exemplars) through the model alone."""

    def __init__(self, cached: CachedEmbedder, direct: EmbeddingService, private: frozenset[str]) -> None:
        self.cached = cached
        self.direct = direct
        self.private = private

    @property
    def model_id(self) -> str:
        return self.cached.model_id

    @property
    def dim(self) -> int:
        return self.cached.dim

    def encode(self, texts: Sequence[str], kind: Kind = "passage") -> Matrix:
        if not any(text in self.private for text in texts):
            return self.cached.encode(texts, kind)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        private = [i for i, text in enumerate(texts) if text in self.private]
        shared = [i for i, text in enumerate(texts) if text not in self.private]
        out[private] = self.direct.encode([texts[i] for i in private], kind)
        if shared:
            out[shared] = self.cached.encode([texts[i] for i in shared], kind)
        return out


def _stored(result: ScoreResult) -> dict[str, Any]:
    data = result.to_dict()
    return {
        "level": data["level"],
        "confidence": data["confidence"],
        "insufficient": data["insufficient"],
        "model_id": data["model_id"],
        "evidence": {
            **data["evidence"],
            "rounded_level": data["rounded_level"],
            "question_id": data["question_id"],
            "competency": data["competency"],
            "flow_version": data["flow_version"],
        },
    }


def with_check(result: dict[str, Any], check: Check) -> dict[str, Any]:
    """A stored result with one more check in its evidence; a failed "cap" check caps the level
    at `CAP_LEVEL` and adds its reason to the flags HR see."""
    evidence = dict(result.get("evidence") or {})
    evidence["checks"] = [*(evidence.get("checks") or []), json_safe(asdict(check))]
    if check.passed or check.action != "cap":
        return {**result, "evidence": evidence}
    evidence["flags"] = [*(evidence.get("flags") or []), check.reason]
    level = result.get("level")
    if level is not None and level > CAP_LEVEL:
        evidence["uncapped_level"] = evidence.get("uncapped_level") or level
        evidence["rounded_level"] = round(CAP_LEVEL)
        level = CAP_LEVEL
    return {**result, "level": level, "evidence": evidence}


def score_row(answer: Answer, result: dict[str, Any], version_id: int) -> Score:
    assert answer.id is not None
    return Score(
        answer_id=answer.id,
        level=result.get("level"),
        confidence=result.get("confidence"),
        insufficient=result.get("insufficient"),
        evidence=result.get("evidence", {}),
        model_id=str(result.get("model_id", "")),
        flow_version_id=version_id,
    )


async def update_results(session: AsyncSession, interview_id: int, flow: Flow) -> dict[str, Any]:
    """Recompute an interview's competency scores and overall match from its newest scores."""
    interview = await session.get(Interview, interview_id)
    if interview is None:
        return {}
    # One query, the columns aggregation needs (not the scores' evidence): each question's skips and
    # the newest score of its latest scored attempt (as `repo.latest_scores` picks it).
    rows = await session.exec(  # type: ignore[call-overload]
        sa_select(
            col(Answer.question_id),
            col(Answer.competency),
            col(Answer.status),
            col(Score.id),
            col(Score.level),
            col(Score.confidence),
            col(Score.insufficient),
            col(Score.model_id),
        )
        .outerjoin(Score, col(Score.answer_id) == col(Answer.id))
        .where(
            col(Answer.interview_id) == interview_id,
            (col(Answer.status) == "skipped") | col(Score.id).is_not(None),
        )
        .order_by(col(Answer.attempt), col(Score.id))
    )
    skipped: list[str] = []
    scored: dict[str, tuple[Any, ...]] = {}
    for question_id, competency, status, score_id, level, confidence, insufficient, model_id in rows.all():
        if status == "skipped":
            skipped.append(question_id)
        if score_id is not None:
            scored[question_id] = (competency, level, confidence, insufficient, model_id)
    by_competency: dict[str, list[ScoreResult | None]] = {}
    for question_id in skipped:
        by_competency.setdefault(flow.question(question_id).competency, []).append(None)
    for question_id, (competency, level, confidence, insufficient, model_id) in scored.items():
        by_competency.setdefault(competency, []).append(
            ScoreResult(
                question_id=question_id,
                competency=competency,
                level=level,
                rounded_level=None if level is None else round(level),
                confidence=confidence or 0.0,
                insufficient=insufficient,
                evidence=Evidence(),
                model_id=model_id,
            )
        )
    results = aggregate(by_competency, flow.weights).to_dict()
    interview.results = results
    session.add(interview)
    return results
