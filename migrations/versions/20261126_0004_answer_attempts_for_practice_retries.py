"""answer attempts for practice retries

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 01:05:08.534357
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (column types in generated migrations)
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows from before retries existed are each question's first (and only) attempt.
    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))

    with op.batch_alter_table("interview", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("interview", schema=None) as batch_op:
        batch_op.drop_column("attempt")

    with op.batch_alter_table("answer", schema=None) as batch_op:
        batch_op.drop_column("attempt")
