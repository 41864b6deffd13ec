"""Providers, tenants, tenant settings and org mappings.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from adapters.sql.migrations.helpers import grant
from adapters.sql.types import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "providers",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("country", sa.Text, nullable=True),
        sa.Column("city", sa.Text, nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_providers"),
    )
    op.create_table(
        "tenants",
        sa.Column("id", sa.Text),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("provider_id", sa.Text, nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name="fk_tenants_provider_id_providers"
        ),
        sa.UniqueConstraint("provider_id", name="uq_tenants_provider_id"),
        sa.CheckConstraint("status in ('active', 'suspended')", name=op.f("ck_tenants_status")),
    )
    op.create_index("ix_tenants_created_at_id", "tenants", ["created_at", "id"])
    op.create_table(
        "tenant_settings",
        sa.Column("tenant_id", sa.Text),
        sa.Column("payments_provider", sa.Text, nullable=True),
        sa.Column("data_residency_region", sa.Text, nullable=True),
        sa.Column("default_currency", sa.Text, nullable=True),
        sa.Column("timezone", sa.Text, nullable=True),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_tenant_settings"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_tenant_settings_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "payments_provider is null or payments_provider in ('stripe', 'razorpay')",
            name=op.f("ck_tenant_settings_payments_provider"),
        ),
    )
    op.create_table(
        "tenant_org_mappings",
        sa.Column("org_id", sa.Text),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("org_id", name="pk_tenant_org_mappings"),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name="fk_tenant_org_mappings_tenant_id_tenants",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("tenant_id", name="uq_tenant_org_mappings_tenant_id"),
    )
    grant(
        ["providers", "tenants", "tenant_settings", "tenant_org_mappings"],
        "SELECT, INSERT, UPDATE, DELETE",
    )
