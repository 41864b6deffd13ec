"""Errors of the health area."""

from __future__ import annotations

from admin_core.kernel.errors import AdminError


class NotReady(AdminError):
    """This replica cannot serve: its message says why in words that name nothing of the
    deployment (the probe is answered to anyone); the log has the details."""

    code = "NOT_READY"
    default_message = "Not ready."
