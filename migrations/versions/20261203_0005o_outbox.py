"""outbox: every outbound message that is not a direct reply, with its delivery state

Revision ID: 0005o
Revises: 0004
Create Date: 2026-12-03 07:52:56.589107
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005o"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    outbox = op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("recipient", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=True),
        sa.Column("candidate_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("ordering_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("claimed_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidate.id"],
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["channel_identity.id"],
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["message.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_candidate_id"), ["candidate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_identity_id"), ["identity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_message_id"), ["message_id"], unique=False)
        batch_op.create_index("ix_outbox_ordering_key_id", ["ordering_key", "id"], unique=False)
        batch_op.create_index("ix_outbox_state_not_before", ["state", "not_before"], unique=False)

    # Messages queued for push channels before the outbox existed (HR's answers, WeChat's late
    # replies) become outbox rows, so that they are still delivered, with the same 48 hours ahead.
    message = sa.table(
        "message",
        sa.column("id", sa.Integer),
        sa.column("identity_id", sa.Integer),
        sa.column("channel", sa.String),
        sa.column("direction", sa.String),
        sa.column("text", sa.Text),
        sa.column("buttons", sa.JSON),
        sa.column("delivered", sa.Boolean),
    )
    identity = sa.table(
        "channel_identity",
        sa.column("id", sa.Integer),
        sa.column("external_id", sa.String),
        sa.column("candidate_id", sa.Integer),
    )
    waiting = op.get_bind().execute(
        sa.select(
            message.c.id,
            message.c.identity_id,
            message.c.channel,
            message.c.text,
            message.c.buttons,
            identity.c.external_id,
            identity.c.candidate_id,
        )
        .join(identity, identity.c.id == message.c.identity_id)
        .where(
            message.c.delivered == sa.false(),
            message.c.direction == "out",
            message.c.channel.in_(["telegram", "wechat"]),
        )
        .order_by(message.c.id)
    )
    now = datetime.now(UTC)
    rows = [
        {
            "channel": row.channel,
            "recipient": row.external_id,
            "identity_id": row.identity_id,
            "candidate_id": row.candidate_id,
            "message_id": row.id,
            "kind": "reply",
            "payload": {"text": row.text, **({"buttons": row.buttons} if row.buttons else {})},
            "idempotency_key": f"message:{row.id}",
            "ordering_key": f"conversation:{row.identity_id}",
            "state": "scheduled",
            "attempts": 0,
            "not_before": now,
            "created_at": now,
        }
        for row in waiting
    ]
    if rows:
        op.bulk_insert(outbox, rows)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_state_not_before")
        batch_op.drop_index("ix_outbox_ordering_key_id")
        batch_op.drop_index(batch_op.f("ix_outbox_message_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_identity_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_candidate_id"))

    op.drop_table("outbox")
