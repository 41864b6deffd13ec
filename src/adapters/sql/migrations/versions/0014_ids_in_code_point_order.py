"""The ids that break ties in a list's order, in the same order on every database.

Revision ID: 0014
Revises: 0013

Tenants are listed by creation time then id, sessions by time then id, doctors by name then
id. Memory and SQLite compare ids code point by code point; PostgreSQL compared them by the
cluster's collation, so on a cluster made for a language (ICU, `en_US.UTF-8`) sessions booked
for one slot came in another order (`aB` beside `ab`, `_` before `-`), and a collation that
ignores punctuation put tenant `ab` before `a-c`. These ids take the "C" collation, as the
audit log's ids do, and so do the tenant ids that refer to a tenant (a foreign key compares
like with like); their indexes are rebuilt with it.
"""

from alembic import op

from adapters.sql.migrations.helpers import is_postgres

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: (table, column): the ids, and the tenant ids that refer to a tenant.
COLUMNS = (
    ("tenants", "id"),
    ("tenant_settings", "tenant_id"),
    ("tenant_org_mappings", "tenant_id"),
    ("mso_sessions", "id"),
    ("mso_sessions", "tenant_id"),
    ("mso_doctors", "id"),
    ("mso_doctors", "tenant_id"),
)


def _collate(collation: str) -> None:
    changes: dict[str, list[str]] = {}
    for table, column in COLUMNS:
        changes.setdefault(table, []).append(
            f'ALTER COLUMN {column} TYPE text COLLATE "{collation}"'
        )
    for table, alterations in changes.items():
        op.execute(f"ALTER TABLE {table} {', '.join(alterations)}")


def upgrade() -> None:
    if is_postgres():
        _collate("C")


def downgrade() -> None:
    if is_postgres():
        _collate("default")
