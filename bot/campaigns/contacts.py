"""Contact data, sealed: email addresses, phone numbers and WeChat openids are personal data that a
campaign needs (unlike EHR imports, which never store them).

They are kept in one Fernet token per campaign candidate (`cryptography.fernet`), together with the
invitation's token, under the key in ``INTERVIEWER_CONTACT_KEY`` (a URL-safe base64 32-byte key, as
``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``
prints; several keys separated by commas rotate: the first seals, all open). Without the variable,
nothing that needs contact data works, and the error says which variable to set.

External ids (the HR system's candidate id) and opt-out addresses are stored only as keyed hashes
(HMAC-SHA256 with ``INTERVIEWER_ID_KEY``, as EHR record ids are).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from dataclasses import asdict, dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

CONTACT_KEY_ENV = "INTERVIEWER_CONTACT_KEY"

_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
_OPENID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")


class ContactKeyError(Exception):
    """The contact key is missing or not a Fernet key."""


class ContactError(ValueError):
    """A contact field is invalid; the message names the field."""


def contact_cipher(value: str | None = None) -> MultiFernet:
    """The cipher for contact data, from ``INTERVIEWER_CONTACT_KEY`` (or ``value``)."""
    raw = value if value is not None else os.environ.get(CONTACT_KEY_ENV, "")
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    if not keys:
        raise ContactKeyError(
            f"campaigns store email addresses and phone numbers encrypted: set ${CONTACT_KEY_ENV} to a "
            "Fernet key (python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        )
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ContactKeyError(
            f"${CONTACT_KEY_ENV} must hold Fernet keys (32 bytes, URL-safe base64), comma-separated"
        ) from exc


@dataclass(frozen=True)
class Contact:
    """What a campaign candidate's sealed data holds."""

    email: str | None = None
    phone: str | None = None
    wechat_openid: str | None = None
    token: str | None = None
    """The invitation's token (the database keeps only its hash in `Invitation`)."""

    def reachable(self) -> list[str]:
        """The channels these contacts reach (names of outbox channels), without the values."""
        kinds = [("email", self.email), ("sms", self.phone), ("wechat", self.wechat_openid)]
        return [name for name, value in kinds if value]


def clean_contact(email: str | None, phone: str | None, wechat_openid: str | None) -> Contact:
    """Normalise and check the contact fields; raise `ContactError` naming the bad field."""
    email = (email or "").strip() or None
    phone = re.sub(r"[\s().-]", "", phone or "") or None
    wechat_openid = (wechat_openid or "").strip() or None
    if email is not None and not _EMAIL.match(email):
        raise ContactError("email: not an email address")
    if phone is not None and not _PHONE.match(phone):
        raise ContactError("phone: use the international format, e.g. +8613812345678")
    if wechat_openid is not None and not _OPENID.match(wechat_openid):
        raise ContactError("wechat_openid: not a WeChat openid")
    return Contact(email=email.lower() if email else None, phone=phone, wechat_openid=wechat_openid)


def check_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ContactError(
            f"time_zone: unknown time zone {name!r} (use an IANA name, e.g. Asia/Shanghai)"
        ) from exc
    return name


def seal(cipher: MultiFernet, contact: Contact) -> bytes:
    data = {k: v for k, v in asdict(contact).items() if v is not None}
    return cipher.encrypt(json.dumps(data, separators=(",", ":")).encode("utf-8"))


def unseal(cipher: MultiFernet, sealed: bytes | None) -> Contact:
    """The contact data; an empty `Contact` when it was purged. Raises `ContactKeyError` when the
    key cannot open it (the key changed without keeping the old one)."""
    if sealed is None:
        return Contact()
    try:
        data = json.loads(cipher.decrypt(sealed))
    except InvalidToken as exc:
        raise ContactKeyError(
            f"${CONTACT_KEY_ENV} cannot open stored contact data: keep the old key after the new one"
        ) from exc
    return Contact(**data)


def keyed_hash(key: bytes, kind: str, value: str) -> str:
    """A keyed hash (HMAC-SHA256) of an identifier: the only form in which it is stored."""
    return hmac.new(key, f"{kind}\x00{value.strip()}".encode(), hashlib.sha256).hexdigest()[:64]


def external_key(key: bytes, external_id: str) -> str:
    return keyed_hash(key, "campaign-external-id", external_id)


def address_keys(key: bytes, contact: Contact) -> list[str]:
    """The opt-out keys of a candidate's addresses."""
    keys = []
    if contact.email:
        keys.append(keyed_hash(key, "email", contact.email.lower()))
    if contact.phone:
        keys.append(keyed_hash(key, "sms", contact.phone))
    if contact.wechat_openid:
        keys.append(keyed_hash(key, "wechat", contact.wechat_openid))
    return keys


def identity_key(key: bytes, channel: str, external_id: str) -> str:
    """The opt-out key of a chat address (a Telegram chat, a WeChat follower ...)."""
    return keyed_hash(key, channel, external_id)
