"""MSO sessions with their refunds, the sandbox gateway's refunds, MSO doctors; intents keep
the provider's answer and a lease.

Revision ID: 0007
Revises: 0006

A refund attempt is an intent of `side_effect_intents` (its key is the idempotency key sent to
the provider, `result` the provider's last answer); `lease_until` lets one caller at a time,
on any replica, drive an intent (docs/adr/0051).
"""

import sqlalchemy as sa
from alembic import op

from adapters.sql.migrations.helpers import grant
from adapters.sql.types import Json, UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("side_effect_intents") as batch:
        batch.add_column(sa.Column("result", Json, nullable=True))
        batch.add_column(sa.Column("lease_until", UtcDateTime, nullable=True))
    op.create_table(
        "mso_sessions",
        sa.Column("id", sa.Text),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("patient_id", sa.Text, nullable=False),
        sa.Column("case_id", sa.Text, nullable=False),
        sa.Column("mso_doctor_id", sa.Text, nullable=False),
        sa.Column("scheduled_at", UtcDateTime, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("payment_provider", sa.Text, nullable=False),
        sa.Column("payment_ref", sa.Text, nullable=False),
        sa.Column("refund_id", sa.Text, nullable=True),
        sa.Column("refund_status", sa.Text, nullable=True),
        sa.Column("refund_amount_minor", sa.BigInteger, nullable=True),
        sa.Column("refund_provider", sa.Text, nullable=True),
        sa.Column("refund_created_at", UtcDateTime, nullable=True),
        sa.Column("refund_attempts", sa.Integer, nullable=False),
        sa.Column("refund_intent_id", sa.Text, nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mso_sessions"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_mso_sessions_tenant_id_tenants"
        ),
        sa.CheckConstraint(
            "payment_provider in ('stripe', 'razorpay', 'sandbox')",
            name="ck_mso_sessions_payment_provider",
        ),
        sa.CheckConstraint("amount_minor >= 0", name="ck_mso_sessions_amount_minor"),
    )
    for columns in (
        ["scheduled_at", "id"],
        ["tenant_id", "scheduled_at", "id"],
        ["status", "scheduled_at", "id"],
        ["tenant_id", "status", "scheduled_at", "id"],
    ):
        op.create_index(f"ix_mso_sessions_{'_'.join(columns)}", "mso_sessions", columns)
    op.create_table(
        "sandbox_refunds",
        sa.Column("id", sa.Text),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("payment_ref", sa.Text, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sandbox_refunds"),
        sa.UniqueConstraint("key", name="uq_sandbox_refunds_key"),
    )
    op.create_table(
        "mso_doctors",
        sa.Column("id", sa.Text),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("full_name", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("specialty", sa.Text, nullable=False),
        sa.Column("languages", Json, nullable=False),
        sa.Column("countries", Json, nullable=False),
        sa.Column("license_number", sa.Text, nullable=False),
        sa.Column("consultation_fee_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("available_from", sa.Date, nullable=False),
        sa.Column("timezone", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("clerk_user_id", sa.Text, nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mso_doctors"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_mso_doctors_tenant_id_tenants"
        ),
        sa.UniqueConstraint("tenant_id", "email", name="uq_mso_doctors_tenant_id_email"),
        sa.CheckConstraint(
            "consultation_fee_minor >= 0", name="ck_mso_doctors_consultation_fee_minor"
        ),
    )
    op.create_index(
        "ix_mso_doctors_tenant_id_full_name_id", "mso_doctors", ["tenant_id", "full_name", "id"]
    )
    op.create_index("ix_mso_doctors_specialty", "mso_doctors", ["specialty"])
    grant(["mso_sessions", "mso_doctors"], "SELECT, INSERT, UPDATE")
    grant(["sandbox_refunds"], "SELECT, INSERT")


def downgrade() -> None:
    op.drop_table("mso_doctors")
    op.drop_table("sandbox_refunds")
    op.drop_table("mso_sessions")
    with op.batch_alter_table("side_effect_intents") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("result")
