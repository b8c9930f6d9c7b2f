"""HR's ratings of candidates' answers; exemplars made from an answer keep its id (for erasure)

Revision ID: 0008score12b
Revises: 0007l
Create Date: 2026-12-04 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008score12b"
down_revision: str | None = "0007l"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "answer_rating",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("answer_id", sa.Integer(), nullable=False),
        sa.Column("interview_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("question_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["answer_id"], ["answer.id"]),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidate.id"]),
        sa.ForeignKeyConstraint(["interview_id"], ["interview.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["hr_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("answer_rating") as batch:
        batch.create_index(batch.f("ix_answer_rating_answer_id"), ["answer_id"], unique=False)
        batch.create_index(batch.f("ix_answer_rating_candidate_id"), ["candidate_id"], unique=False)
        batch.create_index(batch.f("ix_answer_rating_interview_id"), ["interview_id"], unique=False)
    with op.batch_alter_table("exemplar") as batch:
        batch.add_column(sa.Column("answer_id", sa.Integer(), nullable=True))
        batch.create_index(batch.f("ix_exemplar_answer_id"), ["answer_id"], unique=False)
        batch.create_foreign_key("fk_exemplar_answer_id_answer", "answer", ["answer_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("exemplar") as batch:
        batch.drop_constraint("fk_exemplar_answer_id_answer", type_="foreignkey")
        batch.drop_index(batch.f("ix_exemplar_answer_id"))
        batch.drop_column("answer_id")
    op.drop_table("answer_rating")
