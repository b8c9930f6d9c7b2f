"""Secrets, from the environment only.

``INTERVIEWER_ID_KEY`` keys the hash that replaces external identifiers (EHR record and employee
ids). Without it, a development install generates a random key once under ``var/secrets/`` (owner-
readable only) and says so: identifiers stay unlinkable, and `make run` needs no set-up. A
production deployment sets the variable, so every process hashes the same way.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

ID_KEY_ENV = "INTERVIEWER_ID_KEY"
MIN_KEY_BYTES = 16


class SecretError(Exception):
    pass


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
