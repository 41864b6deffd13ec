"""Audit entries join their chain at commit: links move to their own table.

Revision ID: 0005
Revises: 0004

An entry's place in its chain (`seq`, `prev_hash`, `hash`) moves from `audit_log` to
`audit_chain_links`, and `audit_log` gains `digest` (the SHA-256 of the entry's canonical
encoding, computed by the writer). On PostgreSQL a deferred constraint trigger links each new
entry when its transaction commits, so a chain's head row is locked only during the server's
commit work instead of from the append until COMMIT (docs/adr/0010). The trigger function runs
with the owner's rights: the application role may read links and heads but no longer write
either, so it cannot forge a link or move a head. On SQLite the adapter links entries itself,
inside the one writer's transaction.

Existing entries keep their links; their `digest` stays empty (verification recomputes digests
from the entries' content, never reads the stored one).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from adapters.sql.migrations.helpers import grant, is_postgres, revoke
from adapters.sql.types import Json, UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BinaryText = sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")

CONTENT = (
    "id, chain, occurred_at, tenant_id, actor_id, actor_role, action, event_type, "
    "resource_type, resource_id, case_id, patient_id, request_id, before, after"
)

POSTGRES_LINKING = (
    """
    CREATE FUNCTION audit_log_link() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    DECLARE
        head audit_chain_heads%ROWTYPE;
    BEGIN
        IF NEW.digest IS NULL THEN
            RAISE EXCEPTION 'audit_log entry % has no digest', NEW.id
                USING ERRCODE = 'not_null_violation';
        END IF;
        LOOP
            UPDATE audit_chain_heads
               SET seq = seq + 1,
                   prev_hash = hash,
                   hash = encode(sha256(convert_to(
                       hash || ':' || (seq + 1)::text || ':' || NEW.digest, 'UTF8'
                   )), 'hex')
             WHERE chain = NEW.chain
            RETURNING * INTO head;
            EXIT WHEN FOUND;
            INSERT INTO audit_chain_heads (chain, seq, hash, prev_hash)
            VALUES (NEW.chain, 0, repeat('0', 64), repeat('0', 64))
            ON CONFLICT (chain) DO NOTHING;
        END LOOP;
        INSERT INTO audit_chain_links (chain, seq, entry_id, prev_hash, hash)
        VALUES (NEW.chain, head.seq, NEW.id, head.prev_hash, head.hash);
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE CONSTRAINT TRIGGER audit_log_link_at_commit
    AFTER INSERT ON audit_log DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION audit_log_link()
    """,
    """
    CREATE TRIGGER audit_chain_links_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_chain_links
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()
    """,
    """
    CREATE TRIGGER audit_chain_links_no_truncate
    BEFORE TRUNCATE ON audit_chain_links
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()
    """,
    "ALTER TABLE audit_chain_links ENABLE ALWAYS TRIGGER audit_chain_links_no_update_or_delete",
    "ALTER TABLE audit_chain_links ENABLE ALWAYS TRIGGER audit_chain_links_no_truncate",
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
    """
    CREATE TRIGGER audit_chain_links_no_update BEFORE UPDATE ON audit_chain_links
    BEGIN SELECT RAISE(ABORT, 'audit_chain_links is append-only: UPDATE is not allowed'); END
    """,
    """
    CREATE TRIGGER audit_chain_links_no_delete BEFORE DELETE ON audit_chain_links
    BEGIN SELECT RAISE(ABORT, 'audit_chain_links is append-only: DELETE is not allowed'); END
    """,
)

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


def _create_links_table() -> None:
    op.create_table(
        "audit_chain_links",
        sa.Column("chain", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("entry_id", BinaryText, nullable=False),
        sa.Column("prev_hash", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("chain", "seq", name="pk_audit_chain_links"),
        sa.UniqueConstraint("entry_id", name="uq_audit_chain_links_entry_id"),
    )
    op.execute(
        "INSERT INTO audit_chain_links (chain, seq, entry_id, prev_hash, hash) "
        "SELECT chain, seq, id, prev_hash, hash FROM audit_log"
    )


def _upgrade_postgres() -> None:
    _create_links_table()
    op.execute(
        "ALTER TABLE audit_log ADD COLUMN digest text, "
        "DROP CONSTRAINT uq_audit_log_chain_seq, "
        "DROP COLUMN seq, DROP COLUMN prev_hash, DROP COLUMN hash"
    )
    schema = op.get_bind().execute(sa.text("select current_schema()")).scalar_one()
    for statement in POSTGRES_LINKING:
        op.execute(statement.replace("{schema}", f'"{schema}"'))
    grant(["audit_chain_links"], "SELECT")
    revoke(["audit_chain_heads"], "INSERT, UPDATE")


def _upgrade_sqlite() -> None:
    """SQLite cannot drop a column that a table constraint names: the table is rebuilt."""
    op.create_table(
        "audit_log_next",
        sa.Column("id", BinaryText),
        sa.Column("chain", sa.Text, nullable=False),
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
        sa.Column("digest", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.execute(f"INSERT INTO audit_log_next ({CONTENT}) SELECT {CONTENT} FROM audit_log")
    _create_links_table()
    op.execute("DROP TABLE audit_log")  # with its indexes and triggers
    op.execute("ALTER TABLE audit_log_next RENAME TO audit_log")
    for name, columns, not_null in INDEXES:
        where = sa.text(f"{not_null} IS NOT NULL") if not_null else None
        op.create_index(name, "audit_log", list(columns), sqlite_where=where)
    for statement in SQLITE_IMMUTABILITY:
        op.execute(statement)


def upgrade() -> None:
    if is_postgres():
        _upgrade_postgres()
    else:
        _upgrade_sqlite()
