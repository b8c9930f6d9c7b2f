"""Assembly: the database, flows, models, engine and conversation service of one process."""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import timedelta
from importlib.metadata import entry_points

from threadpoolctl import threadpool_limits

from actions.base import ActionRegistry
from actions.interview import interview_actions
from actions.responses import Responses
from bot.campaigns.delivery import EmailSender, HttpSmsGateway, OpenidSender, SmsGateway, SmsSender
from bot.campaigns.service import CampaignService
from bot.campaigns.templates import Templates
from bot.catalog import FlowCatalog
from bot.conversations import Conversations
from bot.ehr import import_export
from bot.engine import Engine
from bot.events import DecisionMade, Hooks
from bot.hr.webhooks import CHANNEL as WEBHOOK_CHANNEL
from bot.hr.webhooks import WebhookSender, purge_delivery_log
from bot.knowledge import KnowledgeBuilds, KnowledgeService
from bot.leader import Leader, startup_lock
from bot.messages import Channel, ChannelFactory, PushChannel
from bot.nlu import IntentClassifier
from bot.outbox import Outbox, purge_outbox
from bot.retention import purge_audio, purge_practice
from bot.scoring import ScorerBuilds, ScoringService
from bot.secrets import id_key
from bot.settings import Settings
from bot.store import repo
from bot.store.db import Database
from knowledge.llm import PassagePhraser, chat_model
from knowledge.roles import Catalog, load_catalog
from language.embeddings import EmbeddingServices
from language.fitting import ChildFitter, Fitter, fit_here

log = logging.getLogger(__name__)

RETENTION_INTERVAL = 3600.0
"""Seconds between retention sweeps (practice sessions, finished outbox rows)."""


class Runtime:
    """Everything one process needs; cheap to construct, `start` does the slow part."""

    def __init__(
        self,
        settings: Settings,
        *,
        load_samples: bool = False,
        classifier: IntentClassifier | None = None,
        scorer_builds: ScorerBuilds | None = None,
        knowledge_builds: KnowledgeBuilds | None = None,
    ) -> None:
        self.settings = settings
        self.load_samples = load_samples
        self.db = Database(settings.database_url)
        self.catalog = FlowCatalog(self.db)
        self.responses = Responses.load(settings.dialogues_dir / "responses", settings.default_language)
        # one service (one batcher, one lock) per model, shared by intents, scoring and the FAQ
        self.embeddings = (
            classifier.services
            if classifier is not None
            else EmbeddingServices(settings.embeddings.backend, settings.cache_dir)
        )
        self.fitter: Fitter = ChildFitter() if settings.server.fit_apart else fit_here
        """Where the classifiers and scorers are fit (`language.fitting`)."""
        self.scoring = ScoringService(
            self.db, self.catalog, settings, self.embeddings, scorer_builds, fitter=self.fitter
        )
        self.knowledge = KnowledgeService(
            self.db, settings, self.embeddings, _phraser(settings), knowledge_builds, fitter=self.fitter
        )
        self.registry = ActionRegistry(interview_actions(scorer=self.scoring, answerer=self.knowledge))
        self.engine = Engine(
            self.registry, self.responses, self.catalog, settings, self.scoring, self.knowledge
        )
        self.classifier = classifier or IntentClassifier.from_settings(
            settings, self.embeddings, fitter=self.fitter
        )
        self.conversations = Conversations(self.db, self.engine, self.classifier, settings)
        self.outbox = Outbox(self.db, settings.outbox)
        """Every outbound message that is not a direct reply; delivered by every process."""
        self.conversations.outbox = self.outbox
        self.hooks = Hooks()
        """In-process reactions to events (`bot.events`): a decision made, ..."""
        self.hr_key = id_key(settings.cache_dir.parent)
        """The installation's key for keyed hashes: candidates' references in HR's audit log and
        webhooks, campaigns' external ids and opt-outs (read once)."""
        self.webhook = (
            WebhookSender.from_environment(settings.hr.webhook_url, db=self.db)
            if settings.hr.webhook_url
            else None
        )
        """Delivers events to the HR system (outbox channel ``webhook``), when configured."""
        if self.webhook is not None:
            self.outbox.register(WEBHOOK_CHANNEL, self.webhook.send)
            self.engine.webhook_key = self.hr_key
        self.leader = Leader(settings.database_url, poll_seconds=settings.server.leader_poll_seconds)
        """Runs the jobs that must run in one process at a time (`bot.leader`)."""
        self.leader.job("retention", self._keep_retention)
        self.campaigns = CampaignService(
            self.db,
            settings.campaigns,
            id_key=self.hr_key,
            templates=Templates.load(settings.dialogues_dir / "templates"),
            roles=lambda: {role.role: role.title for role in self.catalog.roles},
            channels=self._campaign_channels,
        )
        self.leader.job("campaigns", self.campaigns.run)
        self.engine.slot_picker = self.campaigns.rounds.chat_command
        self.hooks.on(DecisionMade.name, self._invite_to_next_round)
        if settings.campaigns.smtp.host:
            self.outbox.register("email", EmailSender(settings.campaigns.smtp, self.campaigns.contact))
        if settings.campaigns.sms.gateway_url:
            self.use_sms(HttpSmsGateway(settings.campaigns.sms))
        self.outbox.register("wechat_contact", OpenidSender(self.outbox.senders, self.campaigns.contact))

    async def _invite_to_next_round(self, event: DecisionMade) -> None:
        """HR advanced a candidate: their campaign may invite them to the next round."""
        await self.campaigns.on_decision({"interview_id": event.interview_id, "decision": event.outcome})

    def use_sms(self, gateway: SmsGateway) -> None:
        """Send campaign text messages through ``gateway`` (the configured HTTP one by default)."""
        self.outbox.register("sms", SmsSender(gateway, self.campaigns.contact))

    def _campaign_channels(self) -> list[str]:
        """The channels campaigns can use in this installation: those the outbox can send on."""
        return [name for name in ("telegram", "wechat", "email", "sms") if name in self.outbox.senders]

    @property
    def ready(self) -> bool:
        return self.conversations.ready

    async def start(self) -> None:
        """Migrate the database, publish flows, load the models and embed the intent examples."""
        # Scoring's matrices are small: one BLAS thread does them fastest, and it leaves the cores
        # to the embedding model instead of spinning beside it (measured: scoring 64 -> 27 ms a turn).
        threadpool_limits(limits=1, user_api="blas")
        # Processes starting together take turns: one publishes and imports, the rest find it done.
        async with startup_lock(self.settings.database_url):
            await asyncio.to_thread(self.db.migrate)
            async with self.db.write() as session:
                scoped = await repo.scope_message_ids(session, id_key(self.settings.cache_dir.parent))
            if scoped:
                log.info("scoped %d stored message id(s) by their sender (migration 0005c)", scoped)
            if self.load_samples:
                # a sample flow only for a role with none yet: HR's versions are never overwritten
                published = await self.catalog.publish_files([self.settings.flows_dir], only_new_roles=True)
                for item in published:
                    if item.created:
                        log.info("published flow %s version %d", item.role, item.version)
            await self.catalog.refresh()
            if self.load_samples:
                await self._import_sample_exports()
        self.engine.role_catalog = self._load_role_catalog()
        if not self.classifier.ready:
            await self.classifier.prepare()
        self.scoring.start()
        self.knowledge.start()
        self.outbox.start()
        self.leader.start()
        self.conversations.ready = True
        self.conversations.transcripts.preload()

    def _load_role_catalog(self) -> Catalog | None:
        path = self.settings.dialogues_dir / "roles.yml"
        if not path.exists():
            return None
        catalog, problems = load_catalog(path)
        for problem in problems:
            log.warning("role catalog: %s", problem)
        return catalog

    async def _import_sample_exports(self) -> None:
        """Import the sample EHR exports shipped in ``dialogues/ehr`` (a no-op once imported)."""
        key = id_key(self.settings.cache_dir.parent)
        flows = {role.role: await self.catalog.flow(role.flow_version_id) for role in self.catalog.roles}
        for path in sorted((self.settings.dialogues_dir / "ehr").glob("*")):
            if path.suffix not in {".csv", ".json"}:
                continue
            report = await import_export(self.db, path, id_key=key, flows=flows)
            if report.added or report.problems:
                log.info("%s", report.lines()[0])

    async def _keep_retention(self) -> None:
        """The leader's sweep: practice sessions, finished outbox rows and the webhook delivery log
        past their time."""
        days = timedelta(days=self.settings.interview.practice_retention_days)
        keep_outbox = timedelta(days=self.settings.outbox.keep_days)
        while True:
            try:
                purged = await purge_practice(self.db, days)
                if purged:
                    log.info("deleted %d practice session(s) older than %d days", purged, days.days)
                purged = await purge_outbox(self.db, keep_outbox)
                if purged:
                    log.info("deleted %d finished outbox row(s) older than %d days", purged, keep_outbox.days)
                purged = await purge_delivery_log(self.db, keep_outbox)
                if purged:
                    log.info(
                        "deleted %d webhook delivery log entries older than %d days", purged, keep_outbox.days
                    )
                recordings = await purge_audio(self.db, self.settings.voice.keep_audio_days)
                if recordings:
                    log.info("deleted %d voice recording(s) past their retention", recordings)
            except Exception:  # the next round retries; a failed purge must not stop the bot
                log.exception("retention sweep failed")
            await asyncio.sleep(RETENTION_INTERVAL)

    async def stop(self) -> None:
        await self.leader.stop()
        await self.outbox.stop()
        if self.webhook is not None:
            await self.webhook.close()
        await self.scoring.stop()
        await self.knowledge.stop()
        if isinstance(self.fitter, ChildFitter):
            await asyncio.to_thread(self.fitter.close)
        await self.db.dispose()

    def channels(self, names: list[str] | None = None) -> list[Channel]:
        """The enabled channels, found through the ``interviewer.channels`` entry points."""
        wanted = names if names is not None else self.settings.channels.enabled
        found = {ep.name: ep for ep in entry_points(group="interviewer.channels")}
        channels = []
        for name in wanted:
            if name not in found:
                raise LookupError(
                    f"channel {name!r} is not installed (installed: {', '.join(sorted(found))})"
                )
            factory: ChannelFactory = found[name].load()
            channel = factory(self.conversations, self.settings)
            if isinstance(channel, PushChannel):
                self.outbox.register_channel(channel)
            channels.append(channel)
        return channels


def _phraser(settings: Settings) -> PassagePhraser | None:
    """The optional chat model that phrases passages (knowledge.llm in config.yml), or None."""
    llm = settings.knowledge.llm
    if llm.provider == "none":
        return None
    model = chat_model(llm.provider, llm.model, llm.base_url, os.environ.get("LLM_API_KEY"))
    return PassagePhraser(model, timeout=llm.timeout_seconds)
