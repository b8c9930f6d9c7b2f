"""Secrets, from the environment only, and keeping them out of logs and stored errors.

`redact` removes every configured secret (the value of any environment variable named like a
token, secret, password or key), secret-looking URL parameters, Telegram bot tokens and URL
passwords from a text before it is logged or stored (the outbox's ``last_error``).

``INTERVIEWER_ID_KEY`` keys the hash that replaces external identifiers (EHR record and employee
ids). Without it, a development install generates a random key once under ``var/secrets/`` (owner-
readable only) and says so: identifiers stay unlinkable, and `make run` needs no set-up. A
production deployment sets the variable, so every process hashes the same way.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

ID_KEY_ENV = "INTERVIEWER_ID_KEY"
MIN_KEY_BYTES = 16


SECRET_NAME = re.compile(r"(^|_)(TOKEN|SECRET|PASSWORD|PASSWD|KEY|APIKEY|CREDENTIALS?)(_|$)", re.IGNORECASE)
"""Environment variables whose values are secrets: TELEGRAM_BOT_TOKEN, WECHAT_APP_SECRET,
WECHAT_ENCODING_AES_KEY, INTERVIEWER_HR_TOKEN, LLM_API_KEY, SMTP_PASSWORD ..."""
MIN_SECRET_CHARS = 6
"""Shorter values are not treated as secrets (they would blank out ordinary words)."""
REDACTED = "[redacted]"

_SECRET_PARAMETER = re.compile(
    r"(?i)\b((?:app)?secret|(?:access_|refresh_)?token|(?:api_?)?key|password|passwd|sig(?:nature)?)"
    r"(=|%3D)[^&\s'\"<>]+"
)
_TELEGRAM_TOKEN = re.compile(r"(?<!\d)\d{5,}:[A-Za-z0-9_-]{20,}")
_URL_PASSWORD = re.compile(r"(?<=://)([^/\s:@]+):[^@\s/]+@")


class SecretError(Exception):
    pass


def configured_secrets() -> list[str]:
    """The values of the environment's secret variables, and the password in DATABASE_URL."""
    values = [
        value
        for name, value in os.environ.items()
        if SECRET_NAME.search(name) and len(value) >= MIN_SECRET_CHARS
    ]
    match = _URL_PASSWORD.search(os.environ.get("DATABASE_URL", ""))
    if match:
        password = match.group(0).split(":", 1)[1].removesuffix("@")
        if len(password) >= MIN_SECRET_CHARS:
            values.append(password)
    # Longest first, so that a secret containing another is removed whole.
    return sorted(set(values), key=len, reverse=True)


def redact(text: str, *, also: Iterable[str] = ()) -> str:
    """``text`` without secrets: configured ones, URL parameters named like secrets, Telegram bot
    tokens and URL passwords. ``also`` lists further values to remove (a recipient's platform id,
    which is personal data), each replaced by ``[recipient]``."""
    for value in configured_secrets():
        text = text.replace(value, REDACTED)
    for value in also:
        if value and len(value) >= 3:
            text = text.replace(value, "[recipient]")
    text = _SECRET_PARAMETER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    text = _TELEGRAM_TOKEN.sub(REDACTED, text)
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{REDACTED}@", text)


def id_key(local_dir: Path) -> bytes:
    value = os.environ.get(ID_KEY_ENV)
    if value is not None:
        key = value.encode("utf-8")
        if len(key) < MIN_KEY_BYTES:
            raise SecretError(f"${ID_KEY_ENV} must be at least {MIN_KEY_BYTES} bytes; use a random value")
        return key
    path = local_dir / "secrets" / "id_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            handle.write(secrets.token_hex(32))
        log.warning(
            "%s is not set: generated a local key in %s (set the variable in production)", ID_KEY_ENV, path
        )
    return path.read_text(encoding="utf-8").strip().encode("utf-8")
