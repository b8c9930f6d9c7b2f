"""Voice answers on every channel, offline, with real decoding and the packaged Whisper model:
a Telegram voice note fetched through the fake Bot API, a WeChat voice message fetched by MediaId
from the fake media API (two notes in a row make one answer), and the web page's upload; questions
read aloud go back as a Telegram voice note, a WeChat voice message and an MP3 on the page."""

from __future__ import annotations

import asyncio
import difflib
import itertools
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import requests
import yaml
from telegram.request import RequestData

from bot.app import create_app
from bot.runtime import Runtime
from bot.settings import ChannelSettings, Settings
from bot.store.models import Score, VoiceClip
from channels.telegram.channel import TelegramChannel
from channels.telegram.throttle import Limit, Throttle
from channels.wechat import WeChatChannel
from flows.schema import Flow, parse_flow
from tests.channels.test_telegram import BASE_URL, SECRET, TOKEN, FakeBotApi, FakeClock, deliver, update
from tests.channels.test_wechat import SECRETS, FakeWeChatAPI, WeChat, payload
from tests.helpers import answers, interviews, rows, sample_flow
from tests.voice_audio import ZH_INTERVIEW_ANSWERS, spoken

FLOW = sample_flow("sales_manager")
ANSWER = (
    "Last year a logistics customer asked us for forty more licences because their dispatchers were "
    "too slow. I sat with two dispatchers for a morning and proposed our email integration instead, "
    "and dispatch time fell by a third."
)


def overlap(heard: str, said: str = ANSWER) -> float:
    words = {w.strip(".,").lower() for w in said.split()}
    return len(words & {w.strip(".,").lower() for w in heard.split()}) / len(words)


# --- Telegram ----------------------------------------------------------------------------------------


class VoiceBotApi(FakeBotApi):
    """The fake Bot API with files: getFile, their download, and sendVoice."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, bytes] = {}

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, **timeouts: Any
    ) -> tuple[int, bytes]:
        url = url.replace("%3A", ":")  # PTB quotes the token in file URLs
        files = f"https://bot-api.test/file/bot{TOKEN}/"
        if url.startswith(files):
            self.calls.append(("download", {"path": url.removeprefix(files)}))
            return 200, self.files[url.removeprefix(files)]
        return await super().do_request(url, method, request_data, **timeouts)

    def _getFile(self, parameters: dict[str, Any]) -> dict[str, Any]:
        file_id = parameters["file_id"]
        return {"file_id": file_id, "file_unique_id": "u" + file_id[:8], "file_path": f"voice/{file_id}.oga"}

    def _sendVoice(self, parameters: dict[str, Any]) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "chat": {"id": parameters["chat_id"], "type": "private"},
            "date": 1767225600,
            "voice": {"file_id": "sent", "file_unique_id": "sent", "duration": 3},
        }

    def voice_note(self, update_id: int, recording: bytes) -> dict[str, Any]:
        body = update("voice", update_id=update_id)
        file_id = f"voice{update_id}"
        self.files[f"voice/{file_id}.oga"] = recording
        body["message"]["voice"].update(file_id=file_id, file_size=len(recording))
        return body


@pytest.fixture
def bot_api() -> Iterator[VoiceBotApi]:
    fake = VoiceBotApi()
    yield fake
    assert fake.unexpected == [], f"unexpected Bot API requests: {fake.unexpected}"


@pytest.fixture
async def telegram(
    voice_runtime: Runtime, bot_api: VoiceBotApi, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[httpx.AsyncClient, TelegramChannel]]:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
    voice_runtime.settings.channels = ChannelSettings.model_validate(
        {"enabled": ["rest", "telegram"], "telegram": {"base_url": BASE_URL}}
    )
    clock = FakeClock()
    throttle = Throttle(Limit("overall", 30), Limit("per chat", 1, burst=3), clock=clock, sleep=clock.sleep)
    channel = TelegramChannel(
        voice_runtime.conversations, voice_runtime.settings, request=bot_api, throttle=throttle
    )
    installed = voice_runtime.channels
    monkeypatch.setattr(
        voice_runtime,
        "channels",
        lambda names=None: [channel if c.name == "telegram" else c for c in installed(names)],
    )
    app = create_app(voice_runtime.settings, runtime=voice_runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http, channel
    await channel.drain()


async def test_a_telegram_voice_note_is_fetched_stored_transcribed_and_scored(
    voice_runtime: Runtime, telegram: tuple[httpx.AsyncClient, TelegramChannel], bot_api: VoiceBotApi
) -> None:
    client, channel = telegram
    await deliver(client, channel, update("text_answer", update_id=1, text="/voice on"))
    await deliver(client, channel, update("text_answer", update_id=2, text="/interview sales_manager"))
    await deliver(client, channel, update("text_answer", update_id=3, text="/yes"))
    # The first question went out read aloud: a voice note, then its text.
    assert "sendVoice" in bot_api.endpoints()
    response = await deliver(client, channel, bot_api.voice_note(4, spoken(ANSWER, encoding="ogg")))
    assert response.status_code == 200
    (answer,) = await answers(voice_runtime)
    assert overlap(answer.text) >= 0.8
    assert (await rows(voice_runtime, Score))[0].answer_id == answer.id
    (clip,) = await rows(voice_runtime, VoiceClip)
    assert clip.source == "telegram_voice" and clip.message_id == answer.message_id
    assert ("download", {"path": "voice/voice4.oga"}) in bot_api.calls
    # Redelivered: stored once, fetched and answered once.
    sent = len(bot_api.sent())
    await deliver(client, channel, bot_api.voice_note(4, spoken(ANSWER, encoding="ogg")))
    assert len(await answers(voice_runtime)) == 1 and len(bot_api.sent()) == sent


async def test_a_telegram_voice_note_too_large_is_refused_without_fetching_it(
    voice_runtime: Runtime, telegram: tuple[httpx.AsyncClient, TelegramChannel], bot_api: VoiceBotApi
) -> None:
    client, channel = telegram
    await deliver(client, channel, update("text_answer", update_id=1, text="/interview sales_manager"))
    await deliver(client, channel, update("text_answer", update_id=2, text="/yes"))
    body = bot_api.voice_note(3, b"x")
    body["message"]["voice"]["file_size"] = voice_runtime.settings.voice.max_bytes + 1
    await deliver(client, channel, body)
    assert "too large" in bot_api.texts()[-2]
    assert "getFile" not in bot_api.endpoints() and await answers(voice_runtime) == []


# --- WeChat ------------------------------------------------------------------------------------------


class VoiceWeChatAPI(FakeWeChatAPI):
    """The fake WeChat API with the media endpoints: media/get serves recordings, media/upload
    takes a question read aloud."""

    def __init__(self) -> None:
        super().__init__()
        self.media: dict[str, bytes] = {}
        self.uploaded: list[bytes] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        path = (request.url or "").split("?")[0].removeprefix("https://api.wechat.test")
        if path == "/cgi-bin/media/get":
            media_id = requests.utils.urlparse(request.url).query.split("media_id=")[1].split("&")[0]
            response = requests.Response()
            response.status_code = 200
            response._content = self.media[media_id]
            response.headers["Content-Type"] = "audio/amr"
            response.request = request
            return response
        if path == "/cgi-bin/media/upload":
            body = request.body if isinstance(request.body, bytes) else b""
            self.uploaded.append(body)
            return self._json(
                request, {"type": "voice", "media_id": f"up{len(self.uploaded)}", "created_at": 1}
            )
        return super().send(request, *args, **kwargs)


@pytest.fixture
async def wechat(
    voice_runtime: Runtime, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> AsyncIterator[WeChat]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    voice_runtime.settings.channels = ChannelSettings(
        enabled=["rest", "wechat"],
        wechat={"api_base_url": "https://api.wechat.test/cgi-bin/", "token_cache": str(tmp_path / "t.json")},
    )
    built: list[Any] = []
    original = voice_runtime.channels

    def capture(names: list[str] | None = None) -> Any:
        found = original(names)
        built.extend(found)
        return found

    monkeypatch.setattr(voice_runtime, "channels", capture)
    app = create_app(voice_runtime.settings, runtime=voice_runtime)
    (channel,) = (c for c in built if isinstance(c, WeChatChannel))
    api = VoiceWeChatAPI()
    channel.http.mount("https://", api)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    yield WeChat(http, channel, api)
    await channel.drain()
    await http.aclose()
    assert api.unexpected == []


async def test_wechat_voice_notes_in_a_row_make_one_answer_and_keep_wechats_transcript(
    voice_runtime: Runtime, wechat: WeChat
) -> None:
    released = asyncio.Event()

    async def gap(_: float) -> None:  # the merge gap passes when the test says so
        await released.wait()

    wechat.channel.sleep = gap
    # Narrowband AMR is harder to hear: this test is about merging, so any confidence is recorded.
    voice_runtime.settings.voice.min_avg_logprob = -1.5
    await wechat.answer("o_amy", "/interview sales_manager")
    await wechat.answer("o_amy", "/yes")
    first, second = ANSWER.split(" and dispatch")
    api = wechat.api
    assert isinstance(api, VoiceWeChatAPI)
    api.media["m1"], api.media["m2"] = (
        spoken(first, encoding="amr"),
        spoken("And dispatch" + second, encoding="amr"),
    )
    one = asyncio.create_task(
        wechat.reply(
            payload("voice", sender="o_amy", recognition=first).replace("media_id_0001", "m1"), sender="o_amy"
        )
    )
    # The first note is taken in (stored, its merge gap waiting) before the second arrives, as
    # WeChat's servers deliver them; a fixed pause raced with a loaded machine.
    assert await asyncio.wait_for(asyncio.shield(one), 30) == ""
    two = asyncio.create_task(
        wechat.reply(
            payload("voice", sender="o_amy", recognition="").replace("media_id_0001", "m2"), sender="o_amy"
        )
    )
    assert await asyncio.wait_for(asyncio.shield(two), 10) == ""  # answered later, by API
    released.set()
    await wechat.channel.drain()
    (answer,) = await answers(voice_runtime)
    assert overlap(answer.text) >= 0.8  # both notes, one answer
    clips = await rows(voice_runtime, VoiceClip)
    assert [c.status for c in clips] == ["transcribed", "merged"]
    assert clips[0].second_opinion == first and clips[0].source == "wechat_voice"
    # The bot's reply to the merged answer (a follow-up probe or the next question) went out once,
    # late, through the customer-service API; nothing was answered to the first note alone.
    late = [b["text"]["content"] for b in api.sent() if b.get("touser") == "o_amy" and "text" in b]
    assert late and sum("?" in text or "？" in text for text in late[-1:]) == 1


async def test_wechat_questions_are_read_aloud_as_voice_messages(
    voice_runtime: Runtime, wechat: WeChat
) -> None:
    await wechat.answer("o_ben", "/voice on")
    await wechat.answer("o_ben", "/interview sales_manager")
    await wechat.answer("o_ben", "/yes")
    await wechat.channel.drain()
    api = wechat.api
    assert isinstance(api, VoiceWeChatAPI)
    assert api.uploaded and b"audio/mpeg" in api.uploaded[0]
    assert any(b.get("msgtype") == "voice" and b["voice"]["media_id"] == "up1" for b in api.sent())


# --- the web page --------------------------------------------------------------------------------------


@pytest.fixture
async def web(voice_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(voice_runtime.settings, runtime=voice_runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


async def say(web: httpx.AsyncClient, sender: str, text: str) -> list[dict[str, Any]]:
    response = await web.post(
        "/chat/messages",
        json={"sender": sender, "message": text, "metadata": {"message_id": uuid.uuid4().hex}},
    )
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_a_web_recording_is_uploaded_transcribed_and_scored(
    voice_runtime: Runtime, web: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    sender = str(uuid.uuid4())
    await say(web, sender, "/voice on")
    await say(web, sender, "/interview sales_manager")
    replies = await say(web, sender, "/yes")
    (question,) = [r for r in replies if FLOW.questions[0].text["en"] in r["text"]]
    audio = await web.get(question["audio"])
    assert (
        audio.status_code == 200
        and audio.headers["content-type"] == "audio/mpeg"
        and len(audio.content) > 1000
    )
    message_id = uuid.uuid4().hex
    files = {"audio": ("answer.webm", spoken(ANSWER, encoding="webm"), "audio/webm")}
    response = await web.post("/chat/voice", data={"sender": sender, "message_id": message_id}, files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert overlap(body["heard"]) >= 0.8
    assert any(
        FLOW.questions[1].text["en"] in r["text"] or "follow" in r["text"].lower() or r["text"]
        for r in body["replies"]
    )
    (answer,) = await answers(voice_runtime)
    assert answer.text == body["heard"]
    assert (await rows(voice_runtime, Score))[0].answer_id == answer.id
    # HR see the transcript beside its score, with the recogniser's confidence.
    monkeypatch.setenv("INTERVIEWER_HR_TOKEN", "hr-token-for-tests")
    hr = {"Authorization": "Bearer hr-token-for-tests"}
    shown = await web.get(f"/hr/interviews/{answer.interview_id}/answers", headers=hr)
    (row,) = shown.json()
    assert row["text"] == answer.text and row["score"] is not None
    assert row["voice"]["avg_logprob"] < 0 and row["voice"]["segments"] and not row["voice"]["recording_kept"]


async def test_web_uploads_that_are_not_usable_get_a_clear_answer(
    voice_runtime: Runtime, web: httpx.AsyncClient
) -> None:
    sender = str(uuid.uuid4())
    await say(web, sender, "/interview sales_manager")
    await say(web, sender, "/yes")
    response = await web.post(
        "/chat/voice",
        data={"sender": sender, "message_id": "m1"},
        files={"audio": ("notes.txt", b"this is not audio", "text/plain")},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["problem"] == "unsupported" and "can't read that kind of file" in body["replies"][0]["text"]
    bad = await web.post(
        "/chat/voice", data={"sender": "not-a-uuid", "message_id": "m2"}, files={"audio": ("a", b"x")}
    )
    assert bad.status_code == 422 and "error" in bad.json()
    assert await answers(voice_runtime) == []
    assert json.loads((await web.get("/chat/audio/joe/1/" + "0" * 64 + ".mp3")).text)["error"]


# --- a whole interview by voice, on each channel ------------------------------------------------------

SPOKEN_ANSWERS = {
    "en": {
        "customer_needs_discovery": (
            "A retailer asked us for a bigger discount on forty licences. I visited two of their stores "
            "and found that the real problem was slow stock counts, so we sold them our inventory module "
            "instead. They signed for three years and expanded the contract a year later."
        ),
        "forecast_miss": (
            "Last spring my team missed the quarterly forecast by twenty percent. I reviewed every deal "
            "with the reps and found we had counted deals without a confirmed budget. I changed our "
            "qualification rules, and in the next two quarters we landed within five percent of the forecast."
        ),
    },
    "zh": ZH_INTERVIEW_ANSWERS,
}
ROLES = {"en": "sales_manager", "zh": "rd_engineer"}


def heard_right(heard: str, said: str, language: str) -> bool:
    """At least 80% of the words (English) or characters (Chinese) said were heard."""
    if language == "en":
        return overlap(heard, said) >= 0.8
    keep = re.compile(r"[\u3400-\u9fff]")
    matcher = difflib.SequenceMatcher(None, keep.findall(said), keep.findall(heard), autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) >= 0.8 * len(keep.findall(said))


async def publish_short_flow(runtime: Runtime, language: str) -> Flow:
    """The language's sample flow cut to its first two questions, without follow-up probes: a short
    interview, published as the role's next version (every new interview takes it)."""
    path = runtime.settings.flows_dir / f"{ROLES[language]}.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["questions"] = [question | {"follow_ups": []} for question in data["questions"][:2]]
    asked = [question["competency"] for question in data["questions"]]
    data["competencies"] = [c | {"weight": 1 / len(asked)} for c in data["competencies"] if c["id"] in asked]
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    assert (await runtime.catalog.publish_text(text)).created
    return parse_flow(text).flow


async def interview_by_voice(
    runtime: Runtime, flow: Flow, send: Callable[[bytes], Awaitable[str]], encoding: str, language: str
) -> str:
    """Answer whatever question the interview is on by voice until it ends; every answer is
    recorded from its transcript. Returns the bot's last replies."""
    said: list[tuple[str, str]] = []
    texts = SPOKEN_ANSWERS[language]
    replies = ""
    for _ in range(len(flow.questions) + 2):  # a re-asked question may take one more answer
        (interview,) = await interviews(runtime)
        if interview.completed_at is not None:
            break
        question = flow.questions[interview.question_index]
        said.append((question.id, texts[question.id]))
        replies = await send(spoken(texts[question.id], language, encoding=encoding))
    (interview,) = await interviews(runtime)
    assert interview.completed_at is not None, replies
    recorded = await answers(runtime)
    assert [a.question_id for a in recorded] == [q.id for q in flow.questions]
    assert [a.question_id for a in recorded] == [question_id for question_id, _ in said]  # none lost
    for answer, (_, text) in zip(recorded, said, strict=True):
        assert heard_right(answer.text, text, language), answer.text
    clips = await rows(runtime, VoiceClip)
    assert [c.message_id for c in clips] == [a.message_id for a in recorded]
    assert all(clip.language == language for clip in clips)
    assert flow.closing[language][:20] in replies
    return replies


@pytest.mark.parametrize("language", ["en", "zh"])
async def test_a_whole_interview_by_voice_on_telegram(
    voice_runtime: Runtime,
    telegram: tuple[httpx.AsyncClient, TelegramChannel],
    bot_api: VoiceBotApi,
    language: str,
) -> None:
    client, channel = telegram
    flow = await publish_short_flow(voice_runtime, language)
    update_ids = itertools.count(1)
    for command in (f"/lang {language}", f"/interview {flow.role}", "/yes"):
        await deliver(client, channel, update("text_answer", update_id=next(update_ids), text=command))

    async def send(recording: bytes) -> str:
        before = len(bot_api.texts())
        response = await deliver(client, channel, bot_api.voice_note(next(update_ids), recording))
        assert response.status_code == 200
        return "\n".join(bot_api.texts()[before:])

    await interview_by_voice(voice_runtime, flow, send, "ogg", language)
    assert {c.source for c in await rows(voice_runtime, VoiceClip)} == {"telegram_voice"}


@pytest.mark.parametrize("language", ["en", "zh"])
async def test_a_whole_interview_by_voice_on_wechat(
    voice_runtime: Runtime, wechat: WeChat, language: str
) -> None:
    async def no_gap(_: float) -> None:  # each note is a whole answer: no need to wait for another
        return None

    wechat.channel.sleep = no_gap
    # WeChat's AMR is narrowband (8 kHz): Whisper is less sure of it, though it hears it right.
    voice_runtime.settings.voice.min_avg_logprob = -1.0
    flow = await publish_short_flow(voice_runtime, language)
    for command in (f"/lang {language}", f"/interview {flow.role}", "/yes"):
        await wechat.answer("o_cleo", command)
    api = wechat.api
    assert isinstance(api, VoiceWeChatAPI)
    media_ids = itertools.count(1)

    async def send(recording: bytes) -> str:
        media_id = f"answer{next(media_ids)}"
        api.media[media_id] = recording
        before = len(api.sent())
        xml = payload("voice", sender="o_cleo", recognition="").replace("media_id_0001", media_id)
        passive = await wechat.reply(xml, sender="o_cleo")
        await wechat.channel.drain()
        sent = api.sent()[before:]
        late = [b["text"]["content"] for b in sent if b.get("touser") == "o_cleo" and "text" in b]
        return "\n".join([passive, *late])

    await interview_by_voice(voice_runtime, flow, send, "amr", language)
    assert {c.source for c in await rows(voice_runtime, VoiceClip)} == {"wechat_voice"}


@pytest.mark.parametrize("language", ["en", "zh"])
async def test_a_whole_interview_by_voice_on_the_web_page(
    voice_runtime: Runtime, web: httpx.AsyncClient, language: str
) -> None:
    flow = await publish_short_flow(voice_runtime, language)
    sender = str(uuid.uuid4())
    for command in (f"/lang {language}", f"/interview {flow.role}", "/yes"):
        await say(web, sender, command)

    async def send(recording: bytes) -> str:
        files = {"audio": ("answer.webm", recording, "audio/webm")}
        response = await web.post(
            "/chat/voice", data={"sender": sender, "message_id": uuid.uuid4().hex}, files=files
        )
        assert response.status_code == 200, response.text
        assert not response.json().get("problem")
        return "\n".join(r["text"] for r in response.json()["replies"])

    await interview_by_voice(voice_runtime, flow, send, "webm", language)
