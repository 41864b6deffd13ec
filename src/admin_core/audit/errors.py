"""Errors of the audit area (SPEC §4)."""

from __future__ import annotations

from admin_core.kernel.errors import AdminError


class AuditChainBroken(AdminError):
    """A write refused because a chain is inconsistent: an audited write whose chain's head
    and links disagree (the entry cannot be linked), or a checkpoint the sink or the database
    holds differently (`chain` "checkpoints"). Nothing repairs a chain silently; `adminctl
    audit verify` says where it broke and what to do."""

    code = "AUDIT_CHAIN_BROKEN"
    default_message = "The audit chain is inconsistent; the change was not made."

    def __init__(self, chain: str, reason: str, message: str | None = None) -> None:
        super().__init__(
            message
            or f"The audit chain {chain!r} cannot be appended to ({reason}); the change was "
            "not made. Run `adminctl audit verify` for the chain (docs/adr/0056).",
            details={"chain": chain, "reason": reason},
        )
        self.chain = chain
        self.reason = reason


#: The `chain` of errors about the checkpoints, which chain to each other.
CHECKPOINTS = "checkpoints"
