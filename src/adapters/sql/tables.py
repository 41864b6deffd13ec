"""Table definitions. Migrations (alembic, `migrations/versions`) create them; this module is
what queries are written against, and must match the latest migration."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from adapters.sql.types import Json, UtcDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: Text compared byte by byte on PostgreSQL too (SQLite's default already is), so that ordered
#: indexes serve prefix ranges and keyset order matches the application's string order.
BinaryText = sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")

providers = sa.Table(
    "providers",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("country", sa.Text, nullable=True),
    sa.Column("city", sa.Text, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("specialties", Json, nullable=True),  # list of specialty names
    sa.Column("languages", Json, nullable=True),  # list of ISO 639-1 codes
)

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", BinaryText, primary_key=True),  # lists break ties by id: one order
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("provider_id", sa.Text, sa.ForeignKey("providers.id"), nullable=True, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.CheckConstraint("status in ('active', 'suspended')", name="status"),
    sa.Index("ix_tenants_created_at_id", "created_at", "id"),
)

tenant_settings = sa.Table(
    "tenant_settings",
    metadata,
    sa.Column(
        "tenant_id", BinaryText, sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("payments_provider", sa.Text, nullable=True),
    sa.Column("data_residency_region", sa.Text, nullable=True),
    sa.Column("default_currency", sa.Text, nullable=True),
    sa.Column("timezone", sa.Text, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.CheckConstraint(
        "payments_provider is null or payments_provider in ('stripe', 'razorpay')",
        name="payments_provider",
    ),
)

tenant_org_mappings = sa.Table(
    "tenant_org_mappings",
    metadata,
    sa.Column("org_id", sa.Text, primary_key=True),
    sa.Column(
        "tenant_id",
        BinaryText,
        sa.ForeignKey("tenants.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BinaryText, primary_key=True),
    sa.Column("chain", sa.Text, nullable=False),
    sa.Column("occurred_at", UtcDateTime, nullable=False),
    sa.Column("tenant_id", sa.Text, nullable=True),
    sa.Column("actor_id", sa.Text, nullable=False),
    sa.Column("actor_role", sa.Text, nullable=True),
    sa.Column("action", BinaryText, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("resource_type", sa.Text, nullable=False),
    sa.Column("resource_id", sa.Text, nullable=True),
    sa.Column("case_id", sa.Text, nullable=True),
    sa.Column("patient_id", sa.Text, nullable=True),
    sa.Column("request_id", sa.Text, nullable=True),
    sa.Column("before", Json, nullable=True),
    sa.Column("after", Json, nullable=True),
    # SHA-256 of the canonical encoding, as the writer computed it; the link at commit hashes
    # it. Verification recomputes it from the content instead of trusting this copy.
    sa.Column("digest", sa.Text, nullable=True),
    # One index per filter shape, each ending in (occurred_at, id): every query is a range
    # scan read newest first (docs/adr/0011-audit-cursor-and-index-design.md).
    sa.Index("ix_audit_log_occurred_at_id", "occurred_at", "id"),
    sa.Index("ix_audit_log_tenant_id_occurred_at_id", "tenant_id", "occurred_at", "id"),
    sa.Index(
        "ix_audit_log_tenant_id_action_occurred_at_id", "tenant_id", "action", "occurred_at", "id"
    ),
    sa.Index("ix_audit_log_action_occurred_at_id", "action", "occurred_at", "id"),
    sa.Index("ix_audit_log_actor_id_occurred_at_id", "actor_id", "occurred_at", "id"),
    sa.Index(
        "ix_audit_log_case_id_occurred_at_id",
        "case_id",
        "occurred_at",
        "id",
        postgresql_where=sa.text("case_id IS NOT NULL"),
        sqlite_where=sa.text("case_id IS NOT NULL"),
    ),
    sa.Index(
        "ix_audit_log_patient_id_occurred_at_id",
        "patient_id",
        "occurred_at",
        "id",
        postgresql_where=sa.text("patient_id IS NOT NULL"),
        sqlite_where=sa.text("patient_id IS NOT NULL"),
    ),
)

#: Each entry's place in its chain, written when the entry's transaction commits (PostgreSQL:
#: by a deferred trigger; SQLite: by the adapter) (docs/adr/0010-audit-hash-chain.md).
audit_chain_links = sa.Table(
    "audit_chain_links",
    metadata,
    sa.Column("chain", sa.Text, primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("entry_id", BinaryText, nullable=False, unique=True),
    sa.Column("prev_hash", sa.Text, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
)

#: The last entry of each chain. Linking locks the chain's row, so writers of one chain queue
#: (for the commit only) while writers of different chains never wait for each other.
audit_chain_heads = sa.Table(
    "audit_chain_heads",
    metadata,
    sa.Column("chain", sa.Text, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.Text, nullable=False),
)

#: Signed checkpoints of every chain's head, as their documents (docs/adr/0056).
audit_checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
)

# The provider directory (source of the graph projection, SPEC §6.1).

PRICE = sa.Numeric(12, 2)

accreditations = sa.Table(
    "accreditations",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
)

provider_accreditations = sa.Table(
    "provider_accreditations",
    metadata,
    sa.Column(
        "provider_id",
        sa.Text,
        sa.ForeignKey("providers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "accreditation_name",
        sa.Text,
        sa.ForeignKey("accreditations.name", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)

doctors = sa.Table(
    "doctors",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column(
        "provider_id",
        sa.Text,
        sa.ForeignKey("providers.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("full_name", sa.Text, nullable=False),
    sa.Column("specialty", sa.Text, nullable=True),
    sa.Column("languages", Json, nullable=True),  # list of ISO 639-1 codes
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

procedures = sa.Table(
    "procedures",
    metadata,
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("specialty", sa.Text, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

provider_procedures = sa.Table(
    "provider_procedures",
    metadata,
    sa.Column(
        "provider_id",
        sa.Text,
        sa.ForeignKey("providers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "procedure_code",
        sa.Text,
        sa.ForeignKey("procedures.code", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
    sa.Column("price_min_usd", PRICE, nullable=True),
    sa.Column("price_max_usd", PRICE, nullable=True),
    sa.CheckConstraint(
        "price_min_usd is null or price_max_usd is null or price_min_usd <= price_max_usd",
        name="price_range",
    ),
)

doctor_procedures = sa.Table(
    "doctor_procedures",
    metadata,
    sa.Column(
        "doctor_id",
        sa.Text,
        sa.ForeignKey("doctors.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "procedure_code",
        sa.Text,
        sa.ForeignKey("procedures.code", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)

# Users and roles (SPEC §6.9).

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("email", sa.Text, nullable=True),
    sa.Column("name", sa.Text, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

user_roles = sa.Table(
    "user_roles",
    metadata,
    sa.Column("tenant_id", sa.Text, primary_key=True),  # a tenant id, or "platform"
    sa.Column("user_id", sa.Text, sa.ForeignKey("users.id"), primary_key=True, index=True),
    sa.Column("role", sa.Text, primary_key=True),
    sa.Column("granted_by", sa.Text, nullable=False),
    sa.Column("granted_at", UtcDateTime, nullable=False),
    sa.Index("ix_user_roles_tenant_id_role", "tenant_id", "role"),
)

_PENDING_SUBJECT = sa.text("status = 'pending' AND subject IS NOT NULL")

side_effect_intents = sa.Table(
    "side_effect_intents",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("tenant_id", sa.Text, nullable=True),
    sa.Column("payload", Json, nullable=False),
    sa.Column("audit", Json, nullable=False),  # the audit records written once it is done
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("result", Json, nullable=True),  # the provider's last answer
    sa.Column("lease_until", UtcDateTime, nullable=True),  # driven until then by one caller
    sa.Column("subject", sa.Text, nullable=True),  # what it changes: one pending per subject
    sa.Index("ix_side_effect_intents_status_created_at", "status", "created_at"),
    sa.Index(
        "uq_side_effect_intents_subject",
        "subject",
        unique=True,
        sqlite_where=_PENDING_SUBJECT,
        postgresql_where=_PENDING_SUBJECT,
    ),
)

flag_overrides = sa.Table(
    "flag_overrides",
    metadata,
    sa.Column("identity", sa.Text, primary_key=True),  # a tenant id
    sa.Column("flag", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),  # JSON text (exact: 1.0 stays a float)
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

mso_sessions = sa.Table(
    "mso_sessions",
    metadata,
    sa.Column("id", BinaryText, primary_key=True),  # the tie-break of the list's order
    sa.Column("tenant_id", BinaryText, sa.ForeignKey("tenants.id"), nullable=False),
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
    sa.CheckConstraint(
        "payment_provider in ('stripe', 'razorpay', 'sandbox')", name="payment_provider"
    ),
    sa.CheckConstraint("amount_minor >= 0", name="amount_minor"),
    # One index per filter shape, each ending in the list's order (newest first).
    sa.Index("ix_mso_sessions_scheduled_at_id", "scheduled_at", "id"),
    sa.Index("ix_mso_sessions_tenant_id_scheduled_at_id", "tenant_id", "scheduled_at", "id"),
    sa.Index("ix_mso_sessions_status_scheduled_at_id", "status", "scheduled_at", "id"),
    sa.Index(
        "ix_mso_sessions_tenant_id_status_scheduled_at_id",
        "tenant_id",
        "status",
        "scheduled_at",
        "id",
    ),
)

sandbox_refunds = sa.Table(
    "sandbox_refunds",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, nullable=False, unique=True),  # the idempotency key
    sa.Column("payment_ref", sa.Text, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

mso_doctors = sa.Table(
    "mso_doctors",
    metadata,
    sa.Column("id", BinaryText, primary_key=True),  # the tie-break of the list's order
    sa.Column("tenant_id", BinaryText, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("full_name", BinaryText, nullable=False),  # the order of every backend
    sa.Column("email", sa.Text, nullable=False),  # lower-cased
    sa.Column("specialty", sa.Text, nullable=False),
    sa.Column("languages", Json, nullable=False),  # list of ISO 639-1 codes
    sa.Column("countries", Json, nullable=False),  # list of ISO 3166-1 alpha-2 codes
    sa.Column("license_number", sa.Text, nullable=False),
    sa.Column("consultation_fee_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("available_from", sa.Date, nullable=False),
    sa.Column("timezone", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("clerk_user_id", sa.Text, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("tenant_id", "email"),
    sa.CheckConstraint("consultation_fee_minor >= 0", name="consultation_fee_minor"),
    sa.Index("ix_mso_doctors_tenant_id_full_name_id", "tenant_id", "full_name", "id"),
    sa.Index("ix_mso_doctors_specialty", "specialty"),
    sa.Index("ix_mso_doctors_full_name_id", "full_name", "id"),
)

#: The embedded mode's memberships of organisations (`adapters.sql.identity`); Clerk's in
#: production.
embedded_memberships = sa.Table(
    "embedded_memberships",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("org_id", sa.Text, nullable=False),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("org_id", "user_id"),
)
