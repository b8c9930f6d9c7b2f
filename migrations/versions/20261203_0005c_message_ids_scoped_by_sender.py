"""message ids scoped by sender

Revision ID: 0005c
Revises: 0005t
Create Date: 2026-11-27 08:00:00.000000

A platform's message id is unique only within its sender's conversation, so the deduplication key
becomes (channel, sender_key, platform_message_id). ``sender_key`` is a keyed hash of the sender's
platform id; the key is a secret (``INTERVIEWER_ID_KEY``) that migrations do not read, so rows stored
before this revision get theirs when the app starts (`bot.store.repo.scope_message_ids`).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005c"
down_revision: str | None = "0005t"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# 0001 left the old constraint unnamed: PostgreSQL named it itself, and on SQLite (where batch mode
# copies the table) this convention names it so that it can be dropped.
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _old_constraint() -> tuple[str, dict[str, str] | None]:
    if op.get_bind().dialect.name == "sqlite":
        return "uq_message_channel", _SQLITE_NAMES
    return "message_channel_platform_message_id_key", None


def upgrade() -> None:
    name, convention = _old_constraint()
    with op.batch_alter_table("message", schema=None, naming_convention=convention) as batch_op:
        batch_op.add_column(
            sa.Column("sender_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.drop_constraint(name, type_="unique")
        batch_op.create_unique_constraint(
            "uq_message_sender_message_id", ["channel", "sender_key", "platform_message_id"]
        )


def downgrade() -> None:
    name, convention = _old_constraint()
    with op.batch_alter_table("message", schema=None, naming_convention=convention) as batch_op:
        batch_op.drop_constraint("uq_message_sender_message_id", type_="unique")
        # Fails if two senders' messages now share an id: the old key cannot hold them both.
        batch_op.create_unique_constraint(name, ["channel", "platform_message_id"])
        batch_op.drop_column("sender_key")
