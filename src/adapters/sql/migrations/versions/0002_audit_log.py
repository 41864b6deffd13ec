"""The append-only audit log and its chain heads.

Revision ID: 0002
Revises: 0001

The table refuses change below the application (docs/adr/0012): triggers reject UPDATE and
DELETE on every database, and TRUNCATE on PostgreSQL, where they are enabled ALWAYS (they fire
for replication sessions too) and the application role is granted INSERT and SELECT only.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from adapters.sql.migrations.helpers import grant, is_postgres
from adapters.sql.types import Json, UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BinaryText = sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")

INDEXES: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    ("ix_audit_log_occurred_at_id", ("occurred_at", "id"), None),
    ("ix_audit_log_tenant_id_occurred_at_id", ("tenant_id", "occurred_at", "id"), None),
    (
        "ix_audit_log_tenant_id_action_occurred_at_id",
        ("tenant_id", "action", "occurred_at", "id"),
        None,
    ),
    ("ix_audit_log_action_occurred_at_id", ("action", "occurred_at", "id"), None),
    ("ix_audit_log_actor_id_occurred_at_id", ("actor_id", "occurred_at", "id"), None),
    ("ix_audit_log_case_id_occurred_at_id", ("case_id", "occurred_at", "id"), "case_id"),
    ("ix_audit_log_patient_id_occurred_at_id", ("patient_id", "occurred_at", "id"), "patient_id"),
)

POSTGRES_IMMUTABILITY = (
    """
    CREATE FUNCTION audit_log_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_log is append-only: % is not allowed', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
    """,
    """
    CREATE TRIGGER audit_log_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()
    """,
    """
    CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()
    """,
    "ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_update_or_delete",
    "ALTER TABLE audit_log ENABLE ALWAYS TRIGGER audit_log_no_truncate",
)

SQLITE_IMMUTABILITY = (
    """
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE is not allowed'); END
    """,
    """
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE is not allowed'); END
    """,
)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", BinaryText),
        sa.Column("chain", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        sa.Column("tenant_id", sa.Text, nullable=True),
        sa.Column("actor_id", sa.Text, nullable=False),
        sa.Column("actor_role", sa.Text, nullable=True),
        sa.Column("action", BinaryText, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("resource_type", sa.Text, nullable=False),
        sa.Column("resource_id", sa.Text, nullable=True),
        sa.Column("case_id", sa.Text, nullable=True),
        sa.Column("patient_id", sa.Text, nullable=True),
        sa.Column("request_id", sa.Text, nullable=True),
        sa.Column("before", Json, nullable=True),
        sa.Column("after", Json, nullable=True),
        sa.Column("prev_hash", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
        sa.UniqueConstraint("chain", "seq", name="uq_audit_log_chain_seq"),
    )
    for name, columns, not_null in INDEXES:
        where = sa.text(f"{not_null} IS NOT NULL") if not_null else None
        op.create_index(
            name, "audit_log", list(columns), postgresql_where=where, sqlite_where=where
        )
    op.create_table(
        "audit_chain_heads",
        sa.Column("chain", sa.Text),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("chain", name="pk_audit_chain_heads"),
    )
    for statement in POSTGRES_IMMUTABILITY if is_postgres() else SQLITE_IMMUTABILITY:
        op.execute(statement)
    grant(["audit_log"], "SELECT, INSERT")
    grant(["audit_chain_heads"], "SELECT, INSERT, UPDATE")
