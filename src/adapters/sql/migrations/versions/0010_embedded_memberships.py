"""The embedded mode's organisation memberships, one set for every process on the database.

Revision ID: 0010
Revises: 0009

The embedded mode has no Clerk: its identity provider knows the demo users, and kept their
memberships of organisations in each process's memory, so the server, the CLI and a second
replica each saw memberships of their own (docs/adr/0059). They are kept here instead.
Production uses Clerk and never reads or writes this table.
"""

import sqlalchemy as sa
from alembic import op

from adapters.sql.migrations.helpers import grant, grant_sequences
from adapters.sql.types import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "embedded_memberships",
        # The order memberships were created in (they are listed in it).
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("org_id", sa.Text, nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_embedded_memberships"),
        sa.UniqueConstraint("org_id", "user_id", name="uq_embedded_memberships_org_id_user_id"),
    )
    grant(["embedded_memberships"], "SELECT, INSERT, UPDATE, DELETE")
    grant_sequences(["embedded_memberships_seq_seq"])


def downgrade() -> None:
    op.drop_table("embedded_memberships")
