"""The provider catalogue projected into the graph: provider specialties and languages,
accreditations, doctors, procedures and what links them.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from adapters.sql.migrations.helpers import grant
from adapters.sql.types import Json, UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PRICE = sa.Numeric(12, 2)


def upgrade() -> None:
    op.add_column("providers", sa.Column("specialties", Json, nullable=True))
    op.add_column("providers", sa.Column("languages", Json, nullable=True))
    op.create_table(
        "accreditations",
        sa.Column("name", sa.Text),
        sa.PrimaryKeyConstraint("name", name="pk_accreditations"),
    )
    op.create_table(
        "provider_accreditations",
        sa.Column("provider_id", sa.Text, nullable=False),
        sa.Column("accreditation_name", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint(
            "provider_id", "accreditation_name", name="pk_provider_accreditations"
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name="fk_provider_accreditations_provider_id_providers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["accreditation_name"],
            ["accreditations.name"],
            name="fk_provider_accreditations_accreditation_name_accreditations",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_provider_accreditations_accreditation_name",
        "provider_accreditations",
        ["accreditation_name"],
    )
    op.create_table(
        "doctors",
        sa.Column("id", sa.Text),
        sa.Column("provider_id", sa.Text, nullable=False),
        sa.Column("full_name", sa.Text, nullable=False),
        sa.Column("specialty", sa.Text, nullable=True),
        sa.Column("languages", Json, nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_doctors"),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name="fk_doctors_provider_id_providers",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_doctors_provider_id", "doctors", ["provider_id"])
    op.create_table(
        "procedures",
        sa.Column("code", sa.Text),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("specialty", sa.Text, nullable=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_procedures"),
    )
    op.create_table(
        "provider_procedures",
        sa.Column("provider_id", sa.Text, nullable=False),
        sa.Column("procedure_code", sa.Text, nullable=False),
        sa.Column("price_min_usd", PRICE, nullable=True),
        sa.Column("price_max_usd", PRICE, nullable=True),
        sa.PrimaryKeyConstraint("provider_id", "procedure_code", name="pk_provider_procedures"),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name="fk_provider_procedures_provider_id_providers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["procedure_code"],
            ["procedures.code"],
            name="fk_provider_procedures_procedure_code_procedures",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "price_min_usd is null or price_max_usd is null or price_min_usd <= price_max_usd",
            name="price_range",
        ),
    )
    op.create_index(
        "ix_provider_procedures_procedure_code", "provider_procedures", ["procedure_code"]
    )
    op.create_table(
        "doctor_procedures",
        sa.Column("doctor_id", sa.Text, nullable=False),
        sa.Column("procedure_code", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("doctor_id", "procedure_code", name="pk_doctor_procedures"),
        sa.ForeignKeyConstraint(
            ["doctor_id"],
            ["doctors.id"],
            name="fk_doctor_procedures_doctor_id_doctors",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["procedure_code"],
            ["procedures.code"],
            name="fk_doctor_procedures_procedure_code_procedures",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_doctor_procedures_procedure_code", "doctor_procedures", ["procedure_code"])
    grant(
        [
            "accreditations",
            "provider_accreditations",
            "doctors",
            "procedures",
            "provider_procedures",
            "doctor_procedures",
        ],
        "SELECT, INSERT, UPDATE, DELETE",
    )
