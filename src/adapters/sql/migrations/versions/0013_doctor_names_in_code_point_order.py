"""Doctors' names in the same order on every database.

Revision ID: 0013
Revises: 0012

Memory and SQLite order doctors' names code point by code point; PostgreSQL ordered them by
the cluster's collation, so a cluster made for a language (`en_US.UTF-8`, ICU) listed and
paged them otherwise (`de Souza` first, `Dr. b` beside `Dr. B`). The column takes the "C"
collation, as the audit log's ordered text does; its indexes are rebuilt with it.
"""

from alembic import op

from adapters.sql.migrations.helpers import is_postgres

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if is_postgres():
        op.execute('ALTER TABLE mso_doctors ALTER COLUMN full_name TYPE text COLLATE "C"')


def downgrade() -> None:
    if is_postgres():
        op.execute('ALTER TABLE mso_doctors ALTER COLUMN full_name TYPE text COLLATE "default"')
