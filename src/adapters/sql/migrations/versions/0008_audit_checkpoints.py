"""Signed audit checkpoints, and chains that the database itself keeps append-only.

Revision ID: 0008
Revises: 0007

`audit_checkpoints` holds each signed checkpoint's document (docs/adr/0056); like the log it
refuses UPDATE, DELETE and TRUNCATE. Below the application, on both databases:
- an entry, a link or a checkpoint cannot be replaced (SQLite's `INSERT OR REPLACE` deletes
  the old row without firing DELETE triggers: a BEFORE INSERT trigger refuses a taken key;
  an upsert's DO UPDATE fires the UPDATE triggers, which refuse it);
- a link must follow its chain's head (the next seq, linking to the head's hash) and name an
  entry of that chain;
- a head starts at seq 0 and only moves forward one linked step at a time (to the next seq,
  whose link exists and links to the old head); it is never deleted.
On PostgreSQL the linking trigger now writes the link before moving the head, and refuses,
with its own SQLSTATE naming the chain, to link a new entry to a chain whose head and links
disagree (AU001: links beyond the head; AU002: the head's hash is not its link's), so the
write fails with AUDIT_CHAIN_BROKEN instead of a key clash. Triggers are enabled ALWAYS.
"""

import sqlalchemy as sa
from alembic import op

from adapters.sql.migrations.helpers import grant, is_postgres
from adapters.sql.types import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ZEROS = "0" * 64

POSTGRES = (
    """
    CREATE OR REPLACE FUNCTION audit_log_link() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
    DECLARE
        head audit_chain_heads%ROWTYPE;
        beyond bigint;
        at_head text;
        next_hash text;
    BEGIN
        IF NEW.digest IS NULL THEN
            RAISE EXCEPTION 'audit_log entry % has no digest', NEW.id
                USING ERRCODE = 'not_null_violation';
        END IF;
        LOOP
            SELECT * INTO head FROM audit_chain_heads WHERE chain = NEW.chain FOR UPDATE;
            EXIT WHEN FOUND;
            INSERT INTO audit_chain_heads (chain, seq, hash, prev_hash)
            VALUES (NEW.chain, 0, repeat('0', 64), repeat('0', 64))
            ON CONFLICT (chain) DO NOTHING;
        END LOOP;
        SELECT count(*) FILTER (WHERE seq = head.seq + 1), max(hash) FILTER (WHERE seq = head.seq)
          INTO beyond, at_head
          FROM audit_chain_links
         WHERE chain = NEW.chain AND seq IN (head.seq, head.seq + 1);
        IF beyond > 0 THEN
            RAISE EXCEPTION 'audit chain % has links beyond its head (seq %)', NEW.chain, head.seq
                USING ERRCODE = 'AU001', DETAIL = NEW.chain;
        END IF;
        IF head.seq > 0 AND at_head IS DISTINCT FROM head.hash THEN
            RAISE EXCEPTION 'audit chain % head (seq %) disagrees with its link',
                NEW.chain, head.seq USING ERRCODE = 'AU002', DETAIL = NEW.chain;
        END IF;
        next_hash := encode(sha256(convert_to(
            head.hash || ':' || (head.seq + 1)::text || ':' || NEW.digest, 'UTF8'
        )), 'hex');
        INSERT INTO audit_chain_links (chain, seq, entry_id, prev_hash, hash)
        VALUES (NEW.chain, head.seq + 1, NEW.id, head.hash, next_hash);
        UPDATE audit_chain_heads
           SET seq = head.seq + 1, prev_hash = head.hash, hash = next_hash
         WHERE chain = NEW.chain;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE FUNCTION audit_chain_links_follow_head() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF NOT EXISTS (
            SELECT 1 FROM audit_chain_heads h
             WHERE h.chain = NEW.chain AND h.seq + 1 = NEW.seq AND h.hash = NEW.prev_hash
        ) OR NOT EXISTS (
            SELECT 1 FROM audit_log e WHERE e.id = NEW.entry_id AND e.chain = NEW.chain
        ) THEN
            RAISE EXCEPTION 'a link must follow its chain head and name an entry of its chain'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER audit_chain_links_follow_head
    BEFORE INSERT ON audit_chain_links
    FOR EACH ROW EXECUTE FUNCTION audit_chain_links_follow_head()
    """,
    """
    CREATE FUNCTION audit_chain_heads_one_linked_step() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            IF NEW.seq <> 0 OR NEW.hash <> repeat('0', 64) THEN
                RAISE EXCEPTION 'a chain head starts at seq 0'
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END IF;
        IF NEW.chain <> OLD.chain OR NEW.seq <> OLD.seq + 1 OR NEW.prev_hash <> OLD.hash
           OR NOT EXISTS (
               SELECT 1 FROM audit_chain_links l
                WHERE l.chain = NEW.chain AND l.seq = NEW.seq
                  AND l.hash = NEW.hash AND l.prev_hash = OLD.hash
           ) THEN
            RAISE EXCEPTION 'audit_chain_heads moves forward one linked step at a time'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER audit_chain_heads_one_linked_step
    BEFORE INSERT OR UPDATE ON audit_chain_heads
    FOR EACH ROW EXECUTE FUNCTION audit_chain_heads_one_linked_step()
    """,
    """
    CREATE TRIGGER audit_chain_heads_no_delete
    BEFORE DELETE ON audit_chain_heads
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()
    """,
    """
    CREATE TRIGGER audit_chain_heads_no_truncate
    BEFORE TRUNCATE ON audit_chain_heads
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()
    """,
    """
    CREATE TRIGGER audit_checkpoints_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change()
    """,
    """
    CREATE TRIGGER audit_checkpoints_no_truncate
    BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change()
    """,
    *(
        f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}"
        for table, trigger in (
            ("audit_chain_links", "audit_chain_links_follow_head"),
            ("audit_chain_heads", "audit_chain_heads_one_linked_step"),
            ("audit_chain_heads", "audit_chain_heads_no_delete"),
            ("audit_chain_heads", "audit_chain_heads_no_truncate"),
            ("audit_checkpoints", "audit_checkpoints_no_update_or_delete"),
            ("audit_checkpoints", "audit_checkpoints_no_truncate"),
        )
    ),
)


def _refuse(message: str) -> str:
    return f"BEGIN SELECT RAISE(ABORT, '{message}'); END"


SQLITE = (
    f"""
    CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
    WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
    {_refuse("audit_log is append-only: an entry cannot be replaced")}
    """,
    f"""
    CREATE TRIGGER audit_chain_links_no_replace BEFORE INSERT ON audit_chain_links
    WHEN EXISTS (SELECT 1 FROM audit_chain_links WHERE chain = NEW.chain AND seq = NEW.seq)
      OR EXISTS (SELECT 1 FROM audit_chain_links WHERE entry_id = NEW.entry_id)
    {_refuse("audit_chain_links is append-only: a link cannot be replaced")}
    """,
    f"""
    CREATE TRIGGER audit_chain_links_follow_head BEFORE INSERT ON audit_chain_links
    WHEN NOT EXISTS (
        SELECT 1 FROM audit_chain_heads h
         WHERE h.chain = NEW.chain AND h.seq + 1 = NEW.seq AND h.hash = NEW.prev_hash
    ) OR NOT EXISTS (SELECT 1 FROM audit_log e WHERE e.id = NEW.entry_id AND e.chain = NEW.chain)
    {_refuse("a link must follow its chain head and name an entry of its chain")}
    """,
    f"""
    CREATE TRIGGER audit_chain_heads_start_at_zero BEFORE INSERT ON audit_chain_heads
    WHEN NEW.seq <> 0 OR NEW.hash <> '{ZEROS}'
      OR EXISTS (SELECT 1 FROM audit_chain_heads WHERE chain = NEW.chain)
    {_refuse("a chain head starts at seq 0 and cannot be replaced")}
    """,
    f"""
    CREATE TRIGGER audit_chain_heads_one_linked_step BEFORE UPDATE ON audit_chain_heads
    WHEN NEW.chain <> OLD.chain OR NEW.seq <> OLD.seq + 1 OR NEW.prev_hash <> OLD.hash
      OR NOT EXISTS (
        SELECT 1 FROM audit_chain_links l
         WHERE l.chain = NEW.chain AND l.seq = NEW.seq
           AND l.hash = NEW.hash AND l.prev_hash = OLD.hash
    )
    {_refuse("audit_chain_heads moves forward one linked step at a time")}
    """,
    f"""
    CREATE TRIGGER audit_chain_heads_no_delete BEFORE DELETE ON audit_chain_heads
    {_refuse("audit_chain_heads: a head cannot be deleted")}
    """,
    f"""
    CREATE TRIGGER audit_checkpoints_no_replace BEFORE INSERT ON audit_checkpoints
    WHEN EXISTS (SELECT 1 FROM audit_checkpoints WHERE seq = NEW.seq)
    {_refuse("audit_checkpoints is append-only: a checkpoint cannot be replaced")}
    """,
    f"""
    CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
    {_refuse("audit_checkpoints is append-only: UPDATE is not allowed")}
    """,
    f"""
    CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
    {_refuse("audit_checkpoints is append-only: DELETE is not allowed")}
    """,
)


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger, autoincrement=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_checkpoints"),
    )
    if is_postgres():
        schema = op.get_bind().execute(sa.text("select current_schema()")).scalar_one()
        for statement in POSTGRES:
            op.execute(statement.replace("{schema}", f'"{schema}"'))
    else:
        for statement in SQLITE:
            op.execute(statement)
    grant(["audit_checkpoints"], "SELECT, INSERT")
