"""Intents of external side effects, and the embedded mode's flag overrides.

Revision ID: 0006
Revises: 0005

`side_effect_intents` records each external side effect before it is made (docs/adr/0048).
`flag_overrides` holds the tenants' flag overrides when no Flagsmith is configured.
"""

import sqlalchemy as sa
from alembic import op

from adapters.sql.migrations.helpers import grant
from adapters.sql.types import Json, UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "side_effect_intents",
        sa.Column("id", sa.Text),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("tenant_id", sa.Text, nullable=True),
        sa.Column("payload", Json, nullable=False),
        sa.Column("audit", Json, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_side_effect_intents"),
    )
    op.create_index(
        "ix_side_effect_intents_status_created_at",
        "side_effect_intents",
        ["status", "created_at"],
    )
    op.create_table(
        "flag_overrides",
        sa.Column("identity", sa.Text),
        sa.Column("flag", sa.Text),
        # JSON text, encoded by the adapter: SQLite's JSON columns have numeric affinity and
        # would read a float 1.0 back as the integer 1.
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("identity", "flag", name="pk_flag_overrides"),
    )
    grant(["side_effect_intents"], "SELECT, INSERT, UPDATE")
    grant(["flag_overrides"], "SELECT, INSERT, UPDATE, DELETE")


def downgrade() -> None:
    op.drop_table("flag_overrides")
    op.drop_index("ix_side_effect_intents_status_created_at", "side_effect_intents")
    op.drop_table("side_effect_intents")
