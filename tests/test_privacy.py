"""Nothing leaked: erasure reaches every copy of a candidate's words and ids, and no secret, platform
id or candidate text reaches a log line or the database's errors.

Logs are captured as ``interviewer -v serve`` writes them (the ``app_logs`` fixture).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import create_app
from bot.messages import OutgoingMessage
from bot.runtime import Runtime
from bot.settings import ChannelSettings
from bot.store.models import Answer, OutboxRow, utcnow
from channels.telegram.channel import AUTH_HEADER, TelegramChannel
from channels.telegram.throttle import Limit, Throttle
from channels.wechat import WeChatChannel
from tests.channels.test_telegram import BASE_URL, SECRET, TOKEN, WEBHOOK, FakeBotApi, FakeClock, update
from tests.channels.test_wechat import API as WECHAT_API
from tests.channels.test_wechat import SECRETS as WECHAT_SECRETS
from tests.channels.test_wechat import FakeWeChatAPI, payload, sign, with_fake_api
from tests.helpers import database_text, rows, sample_flow, strong_answers

pytestmark = pytest.mark.every_database  # locks, claims and SQL the two dialects read differently

HR_TOKEN = "hr-token-" + "7f3a9c" * 4
VECTOR_CACHES = ("embeddings", "vectors")
"""Folders of `language.vector_cache.CachedEmbedder` under the cache directory."""


@dataclass
class Platforms:
    http: httpx.AsyncClient
    telegram: TelegramChannel
    bot_api: FakeBotApi
    wechat: WeChatChannel
    wechat_api: FakeWeChatAPI


@pytest.fixture
async def platforms(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AsyncIterator[Platforms]:
    """The app with every channel and the HR API, Telegram and WeChat on their fake APIs."""
    for name, value in {
        **WECHAT_SECRETS,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "INTERVIEWER_HR_TOKEN": HR_TOKEN,
    }.items():
        monkeypatch.setenv(name, value)
    runtime.settings.channels = ChannelSettings.model_validate(
        {
            "enabled": ["rest", "web", "telegram", "wechat"],
            "telegram": {"base_url": BASE_URL},
            "wechat": {"api_base_url": WECHAT_API, "token_cache": str(tmp_path / "wechat-token.json")},
        }
    )
    bot_api, clock = FakeBotApi(), FakeClock()
    throttle = Throttle(Limit("overall", 30), Limit("per chat", 1, burst=3), clock=clock, sleep=clock.sleep)
    telegram = TelegramChannel(runtime.conversations, runtime.settings, request=bot_api, throttle=throttle)
    installed, built = runtime.channels, []

    def channels(names: list[str] | None = None) -> list[Any]:
        found = [telegram if c.name == "telegram" else c for c in installed(names)]
        built.extend(found)
        return found

    monkeypatch.setattr(runtime, "channels", channels)
    app = create_app(runtime.settings, runtime=runtime)
    runtime.outbox.register_channel(telegram)
    (wechat,) = [c for c in built if isinstance(c, WeChatChannel)]
    wechat_api = with_fake_api(wechat)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield Platforms(http, telegram, bot_api, wechat, wechat_api)
    await telegram.drain()
    await wechat.drain()
    assert bot_api.unexpected == [] and wechat_api.unexpected == []


# --- erasure ----------------------------------------------------------------------------------------


@dataclass
class Erased:
    """What the bot held about a candidate before they asked for erasure: to be found nowhere."""

    texts: list[str]
    ids: list[str]
    scored_texts: list[str]
    """What the scorer embeds: a question's answer with the follow-ups answered so far, one text."""

    def needles(self) -> dict[str, bytes]:
        found = {f"text {n} {t[:30]!r}": t.encode() for n, t in enumerate(self.texts)}
        found |= {f"id {i}": i.encode() for i in self.ids}
        for n, text in enumerate([*self.texts, *self.scored_texts]):
            for name in ("sha1", "sha256"):  # a digest of a short text confirms a guess of it
                digest = hashlib.new(name, text.encode()).hexdigest()
                found[f"{name} of text {n} {text[:30]!r}"] = digest.encode()
        return found


async def erase_a_telegram_candidate(runtime: Runtime, platforms: Platforms) -> Erased:
    """A whole conversation on Telegram (answers, a follow-up, a question HR answered), then erasure."""
    chat = random.randint(7_000_000_000, 7_999_999_999)
    mark = secrets.token_hex(4)
    flow = sample_flow("sales_manager")
    said = [
        "/interview sales_manager",
        "/yes",
        f"I asked the client {mark}a a few questions and then changed the proposal for them.",
        f"The client {mark}b told me delivery dates mattered most, so we guaranteed them in writing.",
        f"{strong_answers(flow, 'en')[1]} Reference {mark}c.",
        f"Is there free parking for visitors at the {mark}d office?",
    ]
    update_ids = iter(range(810_000_000, 820_000_000))

    async def say(text: str) -> None:
        body = update("text_answer", update_id=next(update_ids), text=text)
        body["message"]["chat"]["id"] = body["message"]["from"]["id"] = chat
        response = await platforms.http.post(WEBHOOK, json=body, headers={AUTH_HEADER: SECRET})
        await platforms.telegram.drain()
        assert response.status_code == 200

    for text in said:
        await say(text)
    assert any("passed your question to HR" in t for t in platforms.bot_api.texts(chat))
    hr = {"Authorization": f"Bearer {HR_TOKEN}"}
    (handoff,) = (await platforms.http.get("/hr/handoffs", headers=hr)).json()
    answered = await platforms.http.post(
        f"/hr/handoffs/{handoff['id']}/answer", json={"answer": "Yes, in the basement car park."}, headers=hr
    )
    assert answered.status_code == 200
    stored = await rows(runtime, Answer)
    assert len(stored) == 3 and stored[1].follow_up_id is not None  # follow-ups were asked
    parts = {q: [a.text for a in stored if a.question_id == q] for q in {a.question_id for a in stored}}
    scored = ["\n".join(texts[: n + 1]) for texts in parts.values() for n in range(1, len(texts))]
    await say("/delete_my_data")
    await say("/yes")
    assert "Your data has been deleted" in platforms.bot_api.texts(chat)[-1]
    return Erased(texts=said[2:], ids=[str(chat)], scored_texts=scored)


def files_under(*folders: Path, skip: tuple[str, ...] = ()) -> Iterator[Path]:
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not any(part in skip for part in path.relative_to(folder).parts):
                yield path


def found_in_files(paths: Iterator[Path], needles: dict[str, bytes]) -> list[str]:
    return [
        f"{name} in {path}"
        for path in paths
        for content in [path.read_bytes()]
        for name, needle in needles.items()
        if needle in content
    ]


def data_folders(runtime: Runtime, tmp_path: Path) -> list[Path]:
    """Where the app keeps files: the SQLite database's folder (with its WAL), the cache directory,
    and the WeChat token file's folder (this test's temporary folder)."""
    folders = [runtime.settings.cache_dir, tmp_path]
    if runtime.db.is_sqlite:
        folders.append(Path(runtime.db.url.split("///", 1)[1]).parent)
    return sorted(set(folders))


async def test_erasure_reaches_every_table_file_and_log_line(
    runtime: Runtime, platforms: Platforms, app_logs: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    erased = await erase_a_telegram_candidate(runtime, platforms)
    needles = erased.needles()
    stored = await database_text(runtime)
    assert [name for name, needle in needles.items() if needle.decode() in stored] == []
    files = files_under(*data_folders(runtime, tmp_path), skip=VECTOR_CACHES)
    assert found_in_files(files, needles) == []
    assert [name for name, needle in needles.items() if needle.decode() in app_logs.text] == []


async def test_erasure_leaves_no_vector_of_the_candidates_texts_in_the_embedding_cache(
    runtime: Runtime, platforms: Platforms
) -> None:
    erased = await erase_a_telegram_candidate(runtime, platforms)
    caches = [runtime.settings.cache_dir / name for name in VECTOR_CACHES]
    files = files_under(*[folder for folder in caches if folder.exists()])
    assert found_in_files(files, erased.needles()) == []


# --- secrets ------------------------------------------------------------------------------------------


async def wechat_row(runtime: Runtime, ready: Callable[[OutboxRow], bool]) -> OutboxRow:
    """The WeChat outbox row, once the background delivery loop has brought it to ``ready``."""
    for _ in range(3000):  # tiny waits
        found = [row for row in await rows(runtime, OutboxRow) if row.channel == "wechat"]
        if found and ready(found[0]):
            return found[0]
        await asyncio.sleep(0.01)
    raise AssertionError(f"the outbox row never got ready: {found}")


async def test_no_configured_secret_reaches_a_log_line_or_the_database(
    runtime: Runtime, platforms: Platforms, app_logs: pytest.LogCaptureFixture
) -> None:
    """Every channel failing the ways that used to quote a secret: Telegram rejecting the token,
    WeChat unreachable (its URLs carry the AppSecret or the access token), wrong webhook secrets and
    signatures, wrong HR tokens. No secret appears in a log line or anywhere in the database."""
    http = platforms.http
    platforms.bot_api.fail_next("getMe", 401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    body = update("text_answer", update_id=1, text="/interview sales_manager")
    assert (await http.post(WEBHOOK, json=body, headers={AUTH_HEADER: SECRET})).status_code == 200
    await platforms.telegram.drain()
    wrong_secret = await http.post(WEBHOOK, json=body, headers={AUTH_HEADER: SECRET[::-1]})
    assert wrong_secret.status_code == 403

    # WeChat: a message answered, then the API unreachable for the late reply and the outbox.
    xml = payload("text", sender="o_secret", content="/interview sales_manager", msg_id=1)
    stamp, nonce = str(int(time.time())), "n0nce"
    signed = {
        "signature": sign(WECHAT_SECRETS["WECHAT_TOKEN"], stamp, nonce),
        "timestamp": stamp,
        "nonce": nonce,
    }
    assert (await http.post("/wechat", params=signed, content=xml)).status_code == 200
    forged = await http.post("/wechat", params={**signed, "signature": "0" * 40}, content=xml)
    assert forged.status_code == 403
    platforms.wechat_api.sends_unreachable = True  # the token is fetched; its URL is the send's
    assert await runtime.conversations.queue(
        "wechat", "o_secret", [OutgoingMessage("o_secret", "HR says hi")]
    )
    first = await wechat_row(runtime, lambda row: row.attempts == 1 and row.state == "scheduled")
    platforms.wechat_api.unreachable = True  # the token request fails too: its URL has the AppSecret
    platforms.wechat.client.session.delete(f"{WECHAT_SECRETS['WECHAT_APP_ID']}_access_token")
    shift = first.not_before - utcnow()
    runtime.outbox.clock = lambda: utcnow() + shift
    runtime.outbox.notify()
    second = await wechat_row(runtime, lambda row: row.attempts == 2)
    assert "not reachable" in (first.last_error or "") and "not reachable" in (second.last_error or "")

    for header in (HR_TOKEN[::-1], HR_TOKEN, f"Basic {HR_TOKEN}"):
        refused = await http.get("/hr/handoffs", headers={"Authorization": header})
        assert refused.status_code == 401

    configured = {
        "Telegram bot token": TOKEN,
        "Telegram webhook secret": SECRET,
        "WeChat AppSecret": WECHAT_SECRETS["WECHAT_APP_SECRET"],
        "WeChat token": WECHAT_SECRETS["WECHAT_TOKEN"],
        "WeChat EncodingAESKey": WECHAT_SECRETS["WECHAT_ENCODING_AES_KEY"],
        "WeChat access token": "ACCESS_TOKEN_1",
        "HR token": HR_TOKEN,
    }
    assert "ACCESS_TOKEN_1" in str([c.query for c in platforms.wechat_api.calls])
    stored = await database_text(runtime)
    assert [name for name, secret in configured.items() if secret in app_logs.text] == []
    assert [name for name, secret in configured.items() if secret in stored] == []
    assert "o_secret" not in app_logs.text and "/interview sales_manager" not in app_logs.text
