"""The application role keeps DELETE only where the application deletes.

Revision ID: 0012
Revises: 0011

Earlier migrations granted DELETE on every table of the tenants, users and the catalogue,
though the application deletes only organisation mappings, role grants, flag overrides and
the embedded mode's memberships. A role that can delete a tenant (and, by its cascades, its
settings, doctors and mappings) holds more than it uses: taken back.
"""

from adapters.sql.migrations.helpers import grant, revoke

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

NEVER_DELETED = [
    "providers",
    "tenants",
    "tenant_settings",
    "users",
    "accreditations",
    "provider_accreditations",
    "doctors",
    "procedures",
    "provider_procedures",
    "doctor_procedures",
]


def upgrade() -> None:
    revoke(NEVER_DELETED, "DELETE")


def downgrade() -> None:
    grant(NEVER_DELETED, "DELETE")
