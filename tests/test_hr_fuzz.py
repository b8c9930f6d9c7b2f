"""HR's JSON API fuzzed from the app's own OpenAPI schema with schemathesis: every operation under
``/hr/``, called with generated (valid and invalid) input as an admin with an API token, never
answers 5xx. Runs against the app on a real port (uvicorn in a thread, SQLite), well under a minute."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.app import create_app
from bot.hr.accounts import create_api_token, create_user
from bot.nlu import IntentClassifier
from bot.runtime import Runtime
from bot.scoring import ScorerBuilds
from bot.settings import ROOT, load_settings
from bot.store.db import Database

EXAMPLES = 12
"""Per operation; about 25 operations."""
SKIPPED = {("DELETE", "/hr/api/tokens/{token_id}")}
"""Revoking a token could revoke the fuzzer's own (ids start at 1); tested in test_hr_workspace."""


@pytest.fixture(scope="module")
def api_server(
    classifier: IntentClassifier, scorer_builds: ScorerBuilds, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """The app on a real port; yields its base URL and an admin's API token."""
    import uvicorn
    from cryptography.fernet import Fernet

    database_url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'interviewer.db'}"
    patch = pytest.MonkeyPatch()
    patch.setenv("DATABASE_URL", database_url)
    patch.setenv("INTERVIEWER_HR_TOKEN", "")
    patch.setenv("INTERVIEWER_CONTACT_KEY", Fernet.generate_key().decode())  # campaigns store contacts sealed
    settings = load_settings(ROOT / "config.yml")
    runtime = Runtime(settings, load_samples=True, classifier=classifier, scorer_builds=scorer_builds)
    app = create_app(settings, runtime=runtime)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, ws="none", lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not (server.started and runtime.ready):
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the fuzzing test server did not start")
        time.sleep(0.05)

    async def admin_token() -> str:
        db = Database(settings.database_url)
        try:
            async with db.write() as session:
                user = await create_user(session, "fuzz@example.com", "admin", "a password nobody guesses")
                user.must_change_password = False
                session.add(user)
                _, secret = await create_api_token(session, user, "schemathesis")
            return secret
        finally:
            await db.dispose()

    try:
        yield f"http://127.0.0.1:{port}", asyncio.run(admin_token())
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        patch.undo()


@pytest.mark.slow
def test_hr_api_never_answers_5xx(api_server: tuple[str, str]) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, Phase, given, settings

    base, token = api_server
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json").include(path_regex="^/hr/")
    operations = [result.ok() for result in schema.get_all_operations()]
    fuzzed = [op for op in operations if (op.method.upper(), op.path) not in SKIPPED]
    assert len(fuzzed) >= 20, [f"{op.method} {op.path}" for op in operations]
    calls: list[int] = []
    failures: list[str] = []
    started = time.monotonic()
    for operation in fuzzed:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def call(case: Any) -> None:
            response = case.call(base_url=base, headers=headers, timeout=60)
            calls.append(response.status_code)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} query={case.query} body={case.body!r:.300}: "
                f"{response.status_code} {response.text[:300]}"
            )

        try:
            call()
        except AssertionError as failure:  # every operation's first 5xx, not only the first one's
            failures.append(str(failure).splitlines()[0])
    assert failures == []
    assert len(calls) >= len(fuzzed) * 3
    assert time.monotonic() - started < 120
    assert any(200 <= status < 300 for status in calls) and any(400 <= status < 500 for status in calls)
