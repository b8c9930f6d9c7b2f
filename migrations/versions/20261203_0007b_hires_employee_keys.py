"""hires: the employee id (keyed hash) HR entered when hiring a candidate

Revision ID: 0007b
Revises: 0007c
Create Date: 2026-12-03 18:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007b"
down_revision: str | None = "0007c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hire",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("interview_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("employee_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidate.id"]),
        sa.ForeignKeyConstraint(["interview_id"], ["interview.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["hr_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("interview_id"),
    )
    with op.batch_alter_table("hire", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hire_candidate_id"), ["candidate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hire_employee_key"), ["employee_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_hire_role"), ["role"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hire", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hire_role"))
        batch_op.drop_index(batch_op.f("ix_hire_employee_key"))
        batch_op.drop_index(batch_op.f("ix_hire_candidate_id"))
    op.drop_table("hire")
