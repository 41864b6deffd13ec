"""The in-memory database: every table as a plain container."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from typing import Any

from admin_core.audit.model import AuditEntry
from admin_core.directory.model import Procedure, ProcedureOffer, Provider, ProviderDoctor
from admin_core.kernel.loops import LoopLock
from admin_core.mso_doctors.model import MsoDoctor
from admin_core.payments.model import MsoSession, Refund
from admin_core.side_effects.model import Intent
from admin_core.tenants.model import OrgMapping, Tenant
from admin_core.users.model import UserContact, UserRole


@dataclass
class InMemoryStore:
    """All tables as plain containers. One transaction at a time (a single lock), which gives
    the serialisable behaviour the contract suites expect from a real database."""

    providers: dict[str, Provider] = field(default_factory=dict)
    tenants: dict[str, Tenant] = field(default_factory=dict)
    org_mappings: dict[str, OrgMapping] = field(default_factory=dict)
    audit_entries: list[AuditEntry] = field(default_factory=list)
    audit_heads: dict[str, AuditEntry] = field(default_factory=dict)
    #: Signed audit checkpoints by seq, as their documents.
    audit_checkpoints: dict[int, bytes] = field(default_factory=dict)
    users: dict[str, UserContact] = field(default_factory=dict)
    user_roles: dict[tuple[str, str, str], UserRole] = field(default_factory=dict)
    # The provider directory (source of the graph projection); a provider's specialties,
    # languages and accreditations live on its `Provider`.
    accreditations: set[str] = field(default_factory=set)
    doctors: dict[str, ProviderDoctor] = field(default_factory=dict)
    procedures: dict[str, Procedure] = field(default_factory=dict)
    provider_procedures: dict[tuple[str, str], ProcedureOffer] = field(default_factory=dict)
    doctor_procedures: set[tuple[str, str]] = field(default_factory=set)
    intents: dict[str, Intent] = field(default_factory=dict)
    mso_sessions: dict[str, MsoSession] = field(default_factory=dict)
    # The sandbox gateway's refunds: (idempotency key, payment ref, refund).
    sandbox_refunds: list[tuple[str, str, Refund]] = field(default_factory=list)
    mso_doctors: dict[str, MsoDoctor] = field(default_factory=dict)
    lock: LoopLock = field(default_factory=LoopLock)
    #: The task whose transaction holds `lock`.
    holder: asyncio.Task[Any] | None = None

    def snapshot(self) -> dict[str, Any]:
        return {
            name: copy.copy(value)
            for name, value in vars(self).items()
            if name not in ("lock", "holder")
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        for name, value in snapshot.items():
            setattr(self, name, value)
