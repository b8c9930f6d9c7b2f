"""Who is asking: the workspace's FastAPI dependencies (sessions, API tokens, roles, CSRF).

Use in any HR route, JSON or page::

    from bot.hr.auth import Principal, require_role

    @router.post("/hr/api/campaigns")
    async def create(body: CampaignCreate, who: Principal = Depends(require_role("scheduler"))) -> ...:
        ...

`require_role` ("scheduler", "recruiter" ...; admin always passes; `READ` lets every role in)
answers 401 to anyone not signed in and 403 to a role without the right; on a page
(``page=True``) the first is a redirect to the sign-in page instead. Credentials, in order:

* ``Authorization: Bearer <token>``: a user's API token (`bot.hr.accounts.create_api_token`), or
  the deprecated shared ``$INTERVIEWER_HR_TOKEN``, which still acts as a recruiter for one release
  (its responses carry ``Deprecation: true``; the first use in a process logs a warning).
* the session cookie ``hr_session`` of a signed-in browser. A request that changes something
  (POST, PUT, PATCH, DELETE) with a cookie must carry the session's CSRF token, in the form field
  ``csrf`` or the header ``X-CSRF-Token``; a bearer token needs none (a browser never adds it).

A user with a one-time password may only change it (`allowed_with_one_time_password`).
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.hr.accounts import LoginLimits, allowed, csrf_token, session_user, token_user
from bot.store.db import Database
from bot.store.models import HrUser, utcnow

log = logging.getLogger(__name__)

TOKEN_VARIABLE = "INTERVIEWER_HR_TOKEN"  # noqa: S105 (the variable's name, not a secret)
SESSION_COOKIE = "hr_session"
LOGIN_CSRF_COOKIE = "hr_login_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
READ: tuple[str, ...] = ("viewer", "recruiter", "scheduler")
"""Every role: reading the workspace."""
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
LEGACY_ROLE = "recruiter"
"""What the deprecated shared token may do: what it could before (read, answer handoffs)."""

Clock = Callable[[], datetime]


class AuthError(Exception):
    """Refused: ``status`` 401 (not signed in), 403 (no right) or 429; pages turn a 401 into the
    sign-in page (`bot.hr.install`)."""

    def __init__(self, status: int, message: str, *, page: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.page = page
        self.retry_after = retry_after


@dataclass(frozen=True)
class Principal:
    """The one asking: a user (by session or API token) or the deprecated shared token."""

    role: str
    name: str
    via: Literal["session", "token", "legacy"]
    user: HrUser | None = None
    session_token: str | None = None

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user is not None else None

    @property
    def actor(self) -> HrUser | str:
        """As the audit log names it."""
        return self.user if self.user is not None else "legacy-token"

    @property
    def csrf(self) -> str:
        return csrf_token(self.session_token) if self.session_token else ""

    def may(self, *roles: str) -> bool:
        return allowed(self.role, *roles)


class HrAuth:
    """The workspace's settings and database for the dependencies; one per app
    (``app.state.hr_auth``)."""

    def __init__(
        self,
        db: Database,
        *,
        id_key: bytes,
        session_lifetime: timedelta,
        limits: LoginLimits,
        secure_cookies: bool,
        clock: Clock = utcnow,
    ) -> None:
        self.db = db
        self.id_key = id_key
        self.session_lifetime = session_lifetime
        self.limits = limits
        self.secure_cookies = secure_cookies
        self.clock = clock
        self._warned_legacy = False

    @classmethod
    def from_runtime(cls, runtime: object) -> HrAuth:
        from bot.runtime import Runtime

        assert isinstance(runtime, Runtime)
        hr = runtime.settings.hr
        return cls(
            runtime.db,
            id_key=runtime.hr_key,
            session_lifetime=timedelta(hours=hr.session_hours),
            limits=LoginLimits(hr.login_max_failures, timedelta(minutes=hr.login_window_minutes)),
            secure_cookies=hr.secure_cookies,
        )

    async def identify(
        self, request: Request, response: Response, bearer: HTTPAuthorizationCredentials | None, *, page: bool
    ) -> Principal | None:
        if bearer is not None:
            given = bearer.credentials.strip()
            legacy = os.environ.get(TOKEN_VARIABLE, "")
            if legacy and hmac.compare_digest(given.encode(), legacy.encode()):
                if not self._warned_legacy:
                    self._warned_legacy = True
                    log.warning(
                        "%s is deprecated: give each integration its own API token (/hr/tokens)",
                        TOKEN_VARIABLE,
                    )
                response.headers["Deprecation"] = "true"
                return Principal(role=LEGACY_ROLE, name="legacy-token", via="legacy")
            async with self.db.write() as session:
                user = await token_user(session, given, self.clock())
            if user is None:
                raise AuthError(401, "a valid HR token is required: Authorization: Bearer <token>")
            return Principal(role=user.role, name=user.email, via="token", user=user)
        if request.headers.get("authorization"):
            # present but not a Bearer credential: refused, whatever cookie comes with it
            raise AuthError(401, "a valid HR token is required: Authorization: Bearer <token>")
        token = request.cookies.get(SESSION_COOKIE, "")
        if not token:
            return None
        async with self.db.read() as session:
            user = await session_user(session, token, self.clock())
        if user is None:
            return None
        principal = Principal(role=user.role, name=user.email, via="session", user=user, session_token=token)
        if request.method not in SAFE_METHODS:
            given = request.headers.get(CSRF_HEADER, "")
            if not given and "form" in request.headers.get("content-type", ""):
                given = str((await request.form()).get(CSRF_FIELD, ""))
            if not hmac.compare_digest(given.encode(), principal.csrf.encode()):
                await request.close()  # an uploaded file's temporary copy
                raise AuthError(403, "the form expired or came from another site; reload the page", page=page)
        return principal


_bearer = HTTPBearer(
    auto_error=False, description="a user's API token (/hr/tokens), or the deprecated $INTERVIEWER_HR_TOKEN"
)


def hr_auth(request: Request) -> HrAuth:
    auth = getattr(request.app.state, "hr_auth", None)
    if not isinstance(auth, HrAuth):
        raise RuntimeError("bot.hr.install(app, runtime) was not called")
    return auth


def allowed_with_one_time_password(request: Request) -> bool:
    return request.url.path in {"/hr/password", "/hr/logout", "/hr/api/me", "/hr/api/me/password"}


def require_role(*roles: str, page: bool = False) -> Callable[..., Awaitable[Principal]]:
    """A dependency that gives the `Principal` when it has one of ``roles`` (or is admin).

    Args:
        roles: the roles allowed besides admin; `READ` for every role.
        page: an HTML page: someone not signed in is sent to the sign-in page instead of a 401.
    """

    async def dependency(
        request: Request,
        response: Response,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        auth = hr_auth(request)
        principal = await auth.identify(request, response, bearer, page=page)
        if principal is None:
            raise AuthError(401, "sign in at /hr/login, or send Authorization: Bearer <token>", page=page)
        user = principal.user
        if user is not None and user.must_change_password and not allowed_with_one_time_password(request):
            raise AuthError(403, "change your one-time password first (/hr/password)", page=page)
        if not principal.may(*roles):
            await request.close()  # an uploaded file's temporary copy, if the form was read
            raise AuthError(403, f"this needs the role {' or '.join(('admin', *roles))}", page=page)
        return principal

    return dependency


def sign_in_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/hr/login?next={quote(target, safe='')}"
