"""Campaign fixtures: a migrated database, a contact key, a fake clock and a service on them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from bot.campaigns.contacts import CONTACT_KEY_ENV
from bot.campaigns.schemas import CampaignCreate
from bot.campaigns.service import CampaignService
from bot.campaigns.templates import Templates
from bot.settings import ROOT, CampaignSettings, Settings
from bot.store.db import Database

ROLES = {"rd_engineer": {"en": "R&D Engineer", "zh": "研发工程师"}}
ID_KEY = b"campaign-tests-id-key-0123456789"


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def contact_key(monkeypatch: pytest.MonkeyPatch) -> str:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv(CONTACT_KEY_ENV, key)
    return key


@pytest.fixture
def clock() -> FakeClock:
    # 10:00 in Shanghai, 02:00 UTC; after the real time, so the outbox finds its rows due
    return FakeClock(datetime(2027, 1, 5, 2, 0, tzinfo=UTC))


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database_url)
    await asyncio.to_thread(database.migrate)
    yield database
    await database.dispose()


MakeService = Callable[..., CampaignService]


@pytest.fixture
def make_service(clock: FakeClock) -> MakeService:
    def make(db: Database, channels: Sequence[str] = ("email", "sms", "wechat")) -> CampaignService:
        return CampaignService(
            db,
            CampaignSettings(public_url="https://jobs.example.com", telegram_bot="acme_bot"),
            id_key=ID_KEY,
            templates=Templates.load(ROOT / "dialogues" / "templates"),
            roles=lambda: ROLES,
            clock=clock,
            channels=lambda: channels,
        )

    return make


@pytest.fixture
def service(db: Database, make_service: MakeService, contact_key: str) -> CampaignService:
    return make_service(db)


def spec(**changes: object) -> CampaignCreate:
    values: dict[str, object] = {"name": "Campus 2027", "role": "rd_engineer"}
    values.update(changes)
    return CampaignCreate.model_validate(values)
