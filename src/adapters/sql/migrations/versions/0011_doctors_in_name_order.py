"""Doctors listed across tenants in name order, read from an index.

Revision ID: 0011
Revises: 0010

A page of every tenant's doctors (and one filtered by specialty, language or day) is in
`(full_name, id)` order; without an index in that order the database sorted every matching
doctor to return fifty.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_mso_doctors_full_name_id", "mso_doctors", ["full_name", "id"])


def downgrade() -> None:
    op.drop_index("ix_mso_doctors_full_name_id", table_name="mso_doctors")
