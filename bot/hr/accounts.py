"""HR's accounts: users and roles, passwords, sessions, API tokens, the sign-in rate limit and the
audit log. Plain functions over a database session; the web layer is `bot.hr.auth`.

Roles (`ROLES`)
    ``viewer`` reads everything in the workspace; ``recruiter`` also decides on candidates and
    answers handoffs; ``scheduler`` runs invitation campaigns; ``admin`` may do all of that and
    manages users. `allowed` is the one place that says so.

Secrets at rest
    Passwords are argon2id hashes (argon2-cffi, its default parameters, re-hashed when those change).
    A session cookie and an API token are random values (256 bits) stored as their SHA-256 only: a
    copy of the database signs nobody in. Sign-in attempts keep the e-mail and the address as keyed
    hashes (`bot.secrets.id_key`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import case, delete, func, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.hr.i18n import N_
from bot.store.db import Database
from bot.store.models import HrApiToken, HrAudit, HrLoginAttempt, HrLoginCounter, HrSession, HrUser

Role = Literal["admin", "recruiter", "scheduler", "viewer"]
ROLES: tuple[Role, ...] = ("admin", "recruiter", "scheduler", "viewer")
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 256
TOKEN_PREFIX = "ihr_"  # noqa: S105 (a prefix, not a secret)
"""API tokens start with this, so a leaked one is recognisable (and `bot.secrets.redact` finds it)."""
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
"""Verified against when the e-mail is unknown, so that a wrong e-mail takes as long as a wrong password."""


class AccountError(Exception):
    """Bad input to an account operation; the message says what to do. ``status`` is the HTTP one."""

    def __init__(self, message: str, status: int = 400, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def allowed(role: str, *wanted: str) -> bool:
    """Whether a user of ``role`` may do what needs one of the ``wanted`` roles (admin may do all)."""
    return role == "admin" or role in wanted


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def keyed(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def candidate_ref(key: bytes, candidate_id: int) -> str:
    """A candidate's pseudonymous reference in the audit log and in webhooks: a keyed hash of their
    id, the same in every process, meaningless without ``INTERVIEWER_ID_KEY``."""
    return "c_" + keyed(key, f"candidate:{candidate_id}")[:24]


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise AccountError(f"not an e-mail address: {email[:80]!r}", 422)
    return email


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_CHARS} characters", 422)
    if len(password) > MAX_PASSWORD_CHARS:
        raise AccountError(f"a password may have at most {MAX_PASSWORD_CHARS} characters", 422)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(encoded: str, password: str) -> bool:
    """Constant-time within argon2; False for a wrong password or an unreadable hash."""
    try:
        return _hasher.verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False


def one_time_password() -> str:
    """A password to give a new user once (about 120 bits); they must change it at first sign-in."""
    return secrets.token_urlsafe(15)


# --- users -------------------------------------------------------------------------------------------


async def create_user(session: AsyncSession, email: str, role: str, password: str) -> HrUser:
    email = normalise_email(email)
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: use one of {', '.join(ROLES)}", 422)
    taken = (await session.exec(select(HrUser.id).where(HrUser.email == email))).first()
    if taken is not None:
        raise AccountError(f"there is already a user {email}", 409)
    encoded = await asyncio.to_thread(hash_password, password)  # off the event loop (an admin's action)
    user = HrUser(email=email, role=role, password_hash=encoded, must_change_password=True)
    session.add(user)
    await session.flush()
    return user


async def count_users(session: AsyncSession) -> int:
    return int((await session.exec(select(func.count()).select_from(HrUser))).one())


async def new_password_hash(user: HrUser, current: str, new: str) -> str:
    """Check a password change (the current password, the rules) and hash the new password; both
    argon2 steps run in a thread, outside any transaction. Store it with `set_password`."""
    if not await asyncio.to_thread(verify_password, user.password_hash, current):
        raise AccountError(N_("the current password is not right"), 400)
    check_password_rules(new)
    if new == current:
        raise AccountError(N_("choose a password different from the current one"), 422)
    return await asyncio.to_thread(hash_password, new)


async def set_password(session: AsyncSession, user_id: int, encoded: str, now: datetime) -> HrUser:
    user = await session.get(HrUser, user_id)
    if user is None:
        raise AccountError(f"no user {user_id}", 404)
    user.password_hash = encoded
    user.must_change_password = False
    user.password_changed_at = now
    session.add(user)
    return user


# --- the sign-in rate limit ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginLimits:
    max_failures: int
    window: timedelta

    @property
    def max_address_failures(self) -> int:
        return self.max_failures * 4


async def count_attempt(
    session: AsyncSession, key: str, window: timedelta, now: datetime
) -> tuple[int, datetime]:
    """Count one sign-in attempt against ``key`` and return (attempts in the window, its start).

    One statement, atomic in SQLite and PostgreSQL alike: ``INSERT ... ON CONFLICT (key) DO UPDATE
    ... RETURNING``. A window older than ``window`` starts again at 1. Two attempts at the same
    moment, in one process or in two, get two different numbers: they can't both pass the limit.
    """
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    table = HrLoginCounter.__table__  # type: ignore[attr-defined]
    expired = table.c.window_start <= now - window
    statement = (
        insert(table)
        .values(key=key, failures=1, window_start=now)
        .on_conflict_do_update(
            index_elements=[table.c.key],
            set_={
                "failures": case((expired, 1), else_=table.c.failures + 1),
                "window_start": case((expired, now), else_=table.c.window_start),
            },
        )
        .returning(table.c.failures, table.c.window_start)
    )
    failures, started = (await session.exec(statement)).one()
    return int(failures), _aware(started)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def reserve_attempt(
    db: Database, limits: LoginLimits, email_key: str, address_key: str, now: datetime
) -> None:
    """Count an attempt before its password is checked; raise `AccountError` 429 (with
    ``retry_after``) when the e-mail or the address is over its limit in the window."""
    async with db.write() as session:
        counted = [
            (await count_attempt(session, f"email:{email_key}", limits.window, now), limits.max_failures),
            (
                await count_attempt(session, f"address:{address_key}", limits.window, now),
                limits.max_address_failures,
            ),
        ]
    waits = [
        (started + limits.window - now).total_seconds()
        for (failures, started), limit in counted
        if failures > limit
    ]
    if waits:
        wait = max(1.0, *waits)
        raise AccountError(f"too many failed sign-ins; try again in {int(wait + 0.999)} s", 429, wait)


async def authenticate(
    db: Database,
    key: bytes,
    limits: LoginLimits,
    email: str,
    password: str,
    address: str,
    now: datetime,
) -> HrUser | None:
    """Check an e-mail and password and count the attempt: the user, or None for a wrong e-mail or
    password. Raises `AccountError` 429 (with ``retry_after``) while rate-limited, without checking
    the password.

    The attempt is counted first, atomically (`reserve_attempt`), and only then is the password
    checked: attempts made at the same moment each take their own place in the count, so no more
    than ``max_failures`` passwords per e-mail (and four times that per address) are ever tried
    in a window, across processes too. A right password clears the e-mail's count.

    Argon2 takes a good part of a second on a busy machine: it runs in a thread, outside any
    transaction, so that neither the event loop nor SQLite's writer waits for it.
    """
    email = email.strip().lower()[:254]
    email_key = keyed(key, f"email:{email}")
    address_key = keyed(key, f"address:{address}")
    await reserve_attempt(db, limits, email_key, address_key, now)
    async with db.read() as session:
        user = (await session.exec(select(HrUser).where(HrUser.email == email))).first()
    encoded = user.password_hash if user is not None else _DUMMY_HASH
    ok = await asyncio.to_thread(verify_password, encoded, password[:MAX_PASSWORD_CHARS])
    ok = ok and user is not None and user.active
    rehashed = (
        await asyncio.to_thread(hash_password, password)
        if ok and _hasher.check_needs_rehash(encoded)
        else None
    )
    async with db.write() as session:
        session.add(
            HrLoginAttempt(email_key=email_key, address_key=address_key, succeeded=ok, created_at=now)
        )
        if ok:
            await session.exec(delete(HrLoginCounter).where(col(HrLoginCounter.key) == f"email:{email_key}"))
        if rehashed is not None and user is not None:
            await session.exec(
                update(HrUser)
                .where(col(HrUser.id) == user.id)
                .values(password_hash=rehashed)
                .execution_options(synchronize_session=False)
            )
    return user if ok else None


async def forget_old_attempts(session: AsyncSession, limits: LoginLimits, now: datetime) -> int:
    """Delete sign-in attempts older than a day past the window (nothing counts them any more)."""
    cutoff = now - limits.window - timedelta(days=1)
    result = await session.exec(delete(HrLoginAttempt).where(col(HrLoginAttempt.created_at) < cutoff))
    await session.exec(delete(HrLoginCounter).where(col(HrLoginCounter.window_start) < cutoff))
    return int(result.rowcount)


# --- sessions ----------------------------------------------------------------------------------------


async def open_session(session: AsyncSession, user: HrUser, lifetime: timedelta, now: datetime) -> str:
    """A new sign-in: returns the cookie's token (only its hash is stored)."""
    assert user.id is not None
    token = secrets.token_urlsafe(32)
    session.add(
        HrSession(token_hash=digest(token), user_id=user.id, created_at=now, expires_at=now + lifetime)
    )
    return token


async def session_user(session: AsyncSession, token: str, now: datetime) -> HrUser | None:
    """The active user a session cookie belongs to, or None (unknown, expired, user deactivated)."""
    if not token or len(token) > 128:
        return None
    row = (
        await session.exec(
            select(HrUser)
            .join(HrSession, col(HrSession.user_id) == col(HrUser.id))
            .where(HrSession.token_hash == digest(token), col(HrSession.expires_at) > now)
        )
    ).first()
    return row if row is not None and row.active else None


async def close_session(session: AsyncSession, token: str) -> None:
    await session.exec(delete(HrSession).where(col(HrSession.token_hash) == digest(token)))


async def close_sessions_of(session: AsyncSession, user_id: int, *, keep_token: str | None = None) -> None:
    """End a user's sessions (a password change, deactivation), all but ``keep_token``'s."""
    statement = delete(HrSession).where(col(HrSession.user_id) == user_id)
    if keep_token is not None:
        statement = statement.where(col(HrSession.token_hash) != digest(keep_token))
    await session.exec(statement)


def csrf_token(session_token: str) -> str:
    """The form token of a session: derived from the cookie's secret value, so a page of another
    site, which cannot read the cookie, cannot forge it; nothing more to store."""
    return keyed(session_token.encode("utf-8"), "csrf")[:40]


# --- API tokens --------------------------------------------------------------------------------------


async def create_api_token(session: AsyncSession, user: HrUser, name: str) -> tuple[HrApiToken, str]:
    """A new token for ``user``; returns the row and the token, which is shown once and never again."""
    assert user.id is not None
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = HrApiToken(user_id=user.id, name=name, token_hash=digest(token), prefix=token[:10])
    session.add(row)
    await session.flush()
    return row, token


async def token_user(session: AsyncSession, token: str, now: datetime) -> HrUser | None:
    """The active user an API token belongs to (not revoked), noting when it was last used."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    row = (
        await session.exec(
            select(HrApiToken, HrUser)
            .join(HrUser, col(HrUser.id) == col(HrApiToken.user_id))
            .where(HrApiToken.token_hash == digest(token), col(HrApiToken.revoked_at).is_(None))
        )
    ).first()
    if row is None or not row[1].active:
        return None
    await session.exec(
        update(HrApiToken)
        .where(col(HrApiToken.id) == row[0].id)
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return row[1]


async def revoke_api_token(session: AsyncSession, user: HrUser, token_id: int, now: datetime) -> HrApiToken:
    row = await session.get(HrApiToken, token_id)
    if row is None or (row.user_id != user.id and user.role != "admin"):
        raise AccountError(f"no token {token_id}", 404)
    if row.revoked_at is None:
        row.revoked_at = now
        session.add(row)
    return row


# --- the audit log -----------------------------------------------------------------------------------


def record(
    session: AsyncSession,
    actor: HrUser | str,
    action: str,
    *,
    target: str | None = None,
    candidate: tuple[int, str] | None = None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Append one entry to HR's audit log, in the caller's transaction (it commits with the action).

    Args:
        actor: the user, or a name for an actor without an account (``cli``, ``legacy-token``).
        action: what happened: ``decision.made``, ``user.created``, ``login.succeeded`` ...
        target: what was acted on, as ``kind:id``.
        candidate: the candidate's id and pseudonymous reference (`candidate_ref`).
        changes: ``{field: {"from": old, "to": new}}`` or the facts of the event; never a secret.
    """
    session.add(
        HrAudit(
            actor_id=actor.id if isinstance(actor, HrUser) else None,
            actor=actor.email if isinstance(actor, HrUser) else actor,
            action=action,
            target=target,
            candidate_id=candidate[0] if candidate else None,
            candidate_ref=candidate[1] if candidate else None,
            changes=changes or {},
        )
    )


def change(old: Any, new: Any) -> dict[str, Any]:
    return {"from": old, "to": new}
