"""Translate driver errors into core errors at the adapter boundary."""

from __future__ import annotations

import sqlalchemy.exc


def unique_violation(error: sqlalchemy.exc.IntegrityError) -> bool:
    """True for a unique/primary-key violation on either database."""
    text = str(error.orig).lower()
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code == "23505" or "unique constraint" in text or "duplicate key" in text
