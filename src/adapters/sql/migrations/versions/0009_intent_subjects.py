"""Intents name what they change: at most one pending intent per subject.

Revision ID: 0009
Revises: 0008

`side_effect_intents.subject` names what an intent changes where changes must not overlap (a
user's membership of one organisation, docs/adr/0058). A partial unique index keeps one
pending intent per subject; done and failed intents keep their subject as a record.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending' AND subject IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("side_effect_intents") as batch:
        batch.add_column(sa.Column("subject", sa.Text, nullable=True))
    op.create_index(
        "uq_side_effect_intents_subject",
        "side_effect_intents",
        ["subject"],
        unique=True,
        sqlite_where=PENDING,
        postgresql_where=PENDING,
    )


def downgrade() -> None:
    op.drop_index("uq_side_effect_intents_subject", "side_effect_intents")
    with op.batch_alter_table("side_effect_intents") as batch:
        batch.drop_column("subject")
