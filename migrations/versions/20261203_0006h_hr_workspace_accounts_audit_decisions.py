"""hr workspace: accounts, sessions, API tokens, login attempts, the audit log and decisions

The audit log is append-only in the database too: triggers refuse deleting an entry or changing
who, what, which or when; only erasure's redaction (``candidate_id``, ``changes``) may change it.

Revision ID: 0006h
Revises: 0005c
Create Date: 2026-12-03 13:22:44.112323
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006h"
down_revision: str | None = "0005c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hr_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("candidate_ref", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("candidate_id", sa.Integer(), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("hr_audit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hr_audit_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_hr_audit_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hr_audit_candidate_id"), ["candidate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hr_audit_candidate_ref"), ["candidate_ref"], unique=False)
        batch_op.create_index(batch_op.f("ix_hr_audit_created_at"), ["created_at"], unique=False)

    op.create_table(
        "hr_login_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("address_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("hr_login_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hr_login_attempt_address_key"), ["address_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_hr_login_attempt_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_hr_login_attempt_email_key"), ["email_key"], unique=False)

    op.create_table(
        "hr_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("password_changed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "hr_api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("prefix", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["hr_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("hr_api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hr_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "hr_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["hr_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("hr_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hr_session_user_id"), ["user_id"], unique=False)

    op.create_table(
        "decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("interview_id", sa.Integer(), nullable=False),
        sa.Column("candidate_id", sa.Integer(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["candidate_id"],
            ["candidate.id"],
        ),
        sa.ForeignKeyConstraint(
            ["interview_id"],
            ["interview.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["hr_user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_decision_candidate_id"), ["candidate_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_decision_interview_id"), ["interview_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_decision_role"), ["role"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """CREATE FUNCTION hr_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'hr_audit is append-only'; END $$"""
        )
        op.execute(
            "CREATE TRIGGER hr_audit_no_delete BEFORE DELETE ON hr_audit "
            "FOR EACH ROW EXECUTE FUNCTION hr_audit_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER hr_audit_no_rewrite BEFORE UPDATE OF {_FIXED} ON hr_audit "
            "FOR EACH ROW EXECUTE FUNCTION hr_audit_append_only()"
        )
    else:
        op.execute(
            "CREATE TRIGGER hr_audit_no_delete BEFORE DELETE ON hr_audit "
            "BEGIN SELECT RAISE(ABORT, 'hr_audit is append-only'); END"
        )
        op.execute(
            f"CREATE TRIGGER hr_audit_no_rewrite BEFORE UPDATE OF {_FIXED} ON hr_audit "
            "BEGIN SELECT RAISE(ABORT, 'hr_audit is append-only'); END"
        )


_FIXED = "id, actor_id, actor, action, target, candidate_ref, created_at"


def _on() -> str:
    return " ON hr_audit" if op.get_bind().dialect.name == "postgresql" else ""


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS hr_audit_no_delete" + _on())
    op.execute("DROP TRIGGER IF EXISTS hr_audit_no_rewrite" + _on())
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS hr_audit_append_only()")
    with op.batch_alter_table("decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decision_role"))
        batch_op.drop_index(batch_op.f("ix_decision_interview_id"))
        batch_op.drop_index(batch_op.f("ix_decision_candidate_id"))

    op.drop_table("decision")
    with op.batch_alter_table("hr_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hr_session_user_id"))

    op.drop_table("hr_session")
    with op.batch_alter_table("hr_api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hr_api_token_user_id"))

    op.drop_table("hr_api_token")
    op.drop_table("hr_user")
    with op.batch_alter_table("hr_login_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hr_login_attempt_email_key"))
        batch_op.drop_index(batch_op.f("ix_hr_login_attempt_created_at"))
        batch_op.drop_index(batch_op.f("ix_hr_login_attempt_address_key"))

    op.drop_table("hr_login_attempt")
    with op.batch_alter_table("hr_audit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hr_audit_created_at"))
        batch_op.drop_index(batch_op.f("ix_hr_audit_candidate_ref"))
        batch_op.drop_index(batch_op.f("ix_hr_audit_candidate_id"))
        batch_op.drop_index(batch_op.f("ix_hr_audit_actor_id"))
        batch_op.drop_index(batch_op.f("ix_hr_audit_action"))

    op.drop_table("hr_audit")
