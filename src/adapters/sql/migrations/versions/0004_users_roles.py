"""Users (contact details cached from the identity provider) and the roles granted to them.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from adapters.sql.migrations.helpers import grant
from adapters.sql.types import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Text),
        sa.Column("email", sa.Text, nullable=True),
        sa.Column("name", sa.Text, nullable=True),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
    )
    # `tenant_id` is a tenant's id or the reserved "platform" (the platform organisation), so
    # it has no foreign key to `tenants`.
    op.create_table(
        "user_roles",
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("granted_by", sa.Text, nullable=False),
        sa.Column("granted_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "user_id", "role", name="pk_user_roles"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_user_roles_user_id_users"),
    )
    op.create_index("ix_user_roles_tenant_id_role", "user_roles", ["tenant_id", "role"])
    op.create_index("ix_user_roles_user_id", "user_roles", ["user_id"])
    grant(["users", "user_roles"], "SELECT, INSERT, UPDATE, DELETE")
