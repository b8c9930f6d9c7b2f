"""The Telegram channel's settings: options from ``channels.telegram`` in config.yml, secrets from
the environment (``TELEGRAM_BOT_TOKEN``, ``TELEGRAM_WEBHOOK_SECRET``) and never from the file."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from telegram.constants import FloodLimit

from bot.settings import ConfigError

_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,256}$")
"""Telegram allows 1-256 of these characters; fewer than 16 would be guessable."""
_BOT_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")
_GENERATE_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


class RateLimits(BaseModel):
    """Telegram answers 429 past about one message a second in a chat and 30 a second overall."""

    model_config = ConfigDict(extra="forbid")

    per_chat: float = Field(FloodLimit.MESSAGES_PER_SECOND_PER_CHAT, gt=0)
    """Messages a second to one chat, on average."""
    per_chat_burst: int = Field(3, ge=1, le=30)
    """Messages sent at once to one chat before the average applies (a reply is often two or three)."""
    overall: float = Field(FloodLimit.MESSAGES_PER_SECOND, gt=0)
    """Messages a second to all chats together."""
    max_retries: int = Field(3, ge=0, le=10)
    """Times one message is retried after Telegram asked us to wait (429 retry_after)."""


class TelegramSettings(BaseModel):
    """``channels.telegram`` in config.yml."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field("https://api.telegram.org/bot", min_length=8)
    """The Bot API endpoint the token is appended to (a local Bot API server, a proxy)."""
    file_base_url: str | None = Field(None, min_length=8)
    """Where files (voice notes) are downloaded from, the token appended; by default ``base_url``
    with its last ``/bot`` replaced by ``/file/bot``, as Telegram's own."""

    def files_url(self) -> str:
        if self.file_base_url:
            return self.file_base_url
        head, separator, tail = self.base_url.rpartition("/bot")
        return f"{head}/file/bot{tail}" if separator else self.base_url

    rate_limits: RateLimits = RateLimits()
    polling_timeout: int = Field(30, ge=0, le=50)
    """Seconds one long-poll request waits for updates (``interviewer telegram --polling``)."""


class TelegramSecrets(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TELEGRAM_", extra="ignore")

    bot_token: SecretStr | None = None
    webhook_secret: SecretStr | None = None


def load_settings(section: dict[str, Any]) -> TelegramSettings:
    """Validate ``channels.telegram``; raise `ConfigError` naming the key."""
    try:
        return TelegramSettings.model_validate(section)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(["channels", "telegram", *(str(part) for part in error["loc"])])
        raise ConfigError(
            f"invalid setting {key!r} in config.yml: {error['msg']} (got {error.get('input')!r})"
        ) from exc


def bot_token(secrets: TelegramSecrets) -> str:
    token = secrets.bot_token.get_secret_value().strip() if secrets.bot_token else ""
    if not token:
        raise ConfigError(
            "the Telegram channel needs a bot token: set TELEGRAM_BOT_TOKEN to the token @BotFather "
            "gave you (never put it in config.yml)"
        )
    if not _BOT_TOKEN.match(token):
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then letters); "
            "copy it again from @BotFather"
        )
    return token


def webhook_secret(secrets: TelegramSecrets) -> str:
    secret = secrets.webhook_secret.get_secret_value().strip() if secrets.webhook_secret else ""
    if not secret:
        raise ConfigError(
            "the Telegram webhook needs a secret so that only Telegram can post to it: set "
            f"TELEGRAM_WEBHOOK_SECRET, e.g. to the output of {_GENERATE_HINT}"
        )
    if not _SECRET_TOKEN.match(secret):
        raise ConfigError(
            "TELEGRAM_WEBHOOK_SECRET must be 16 to 256 letters, digits, '_' or '-' (Telegram's rule); "
            f"make one with {_GENERATE_HINT}"
        )
    return secret
