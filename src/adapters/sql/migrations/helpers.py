"""Small helpers shared by migration scripts."""

from __future__ import annotations

from alembic import context, op


def is_postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def grant(tables: list[str], privileges: str) -> None:
    """On PostgreSQL, grant the application role `privileges` on `tables` (and nothing more)."""
    app_role = context.config.attributes.get("app_role")
    if not (is_postgres() and app_role):
        return
    for table in tables:
        op.execute(f'GRANT {privileges} ON TABLE {table} TO "{app_role}"')


def revoke(tables: list[str], privileges: str) -> None:
    """On PostgreSQL, take `privileges` on `tables` back from the application role."""
    app_role = context.config.attributes.get("app_role")
    if not (is_postgres() and app_role):
        return
    for table in tables:
        op.execute(f'REVOKE {privileges} ON TABLE {table} FROM "{app_role}"')


def grant_sequences(sequences: list[str]) -> None:
    """On PostgreSQL, let the application role draw from `sequences` (a serial column's)."""
    app_role = context.config.attributes.get("app_role")
    if not (is_postgres() and app_role):
        return
    for sequence in sequences:
        op.execute(f'GRANT USAGE ON SEQUENCE {sequence} TO "{app_role}"')
