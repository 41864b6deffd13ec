"""A realistic audit history for the demo data set: what operators and tenant admins would
have done over a few weeks — flag overrides, triage tuning, doctor onboarding, refunds, role
changes, graph rebuilds. Written through `record_audit` like every real entry (identifiers
only, no PHI), so the chains verify. Idempotent: skipped when the history is already there.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from admin_core.audit import Actor
from admin_core.audit.model import AuditFilter
from admin_core.audit.recording import record_audit
from admin_core.kernel.principal import Permission, Principal, Scope
from admin_core.kernel.transaction import Transaction

DEMO_AUDIT_TENANTS: tuple[tuple[str, str, str], ...] = (
    # tenant id, its org, payment provider
    ("apollo-chennai", "org_apollo_chennai", "razorpay"),
    ("bumrungrad-bangkok", "org_bumrungrad", "stripe"),
    ("acibadem-istanbul", "org_acibadem", "stripe"),
    ("medanta-gurugram", "org_medanta", "razorpay"),
)
PLATFORM_OPERATOR = "user_demo_ops_priya"
ENTRIES_PER_TENANT = 36


@dataclass(frozen=True, slots=True)
class _Step:
    action: str
    event_type: str
    resource_type: str
    resource_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    case_id: str | None = None
    patient_id: str | None = None


def _platform_actor(user_id: str, n: int) -> Actor:
    principal = Principal(
        user_id=user_id,
        org_id="org_platform",
        role="org:admin",
        tenant_id=None,
        scope=Scope.PLATFORM,
        permissions=frozenset({Permission.TENANT_MANAGE, Permission.GRAPH_REBUILD}),
    )
    return Actor(principal=principal, request_id=f"demo-{n:04d}")


def _tenant_actor(tenant_id: str, org_id: str, n: int) -> Actor:
    principal = Principal(
        user_id=f"user_demo_{tenant_id.split('-')[0]}_admin",
        org_id=org_id,
        role="org:provider:admin",
        tenant_id=tenant_id,
        scope=Scope.TENANT,
        permissions=frozenset({Permission.TENANT_MANAGE, Permission.AUDIT_READ}),
    )
    return Actor(principal=principal, request_id=f"demo-{n:04d}")


def _tenant_step(rng: random.Random, tenant_id: str, provider: str, n: int) -> _Step:
    kind = rng.choice(
        ("flag", "flag", "triage", "triage", "doctor", "doctor_update", "refund", "refund", "role")
    )
    doctor = f"doc_{tenant_id[:4]}_{rng.randint(1, 12):02d}"
    if kind == "flag":
        flag = rng.choice(("mso_enabled", "matching_domain_weights", "mso_max_offers_per_case"))
        if n % 7 == 0:
            return _Step(
                "flag.identity_override_removed",
                "ADMIN_FLAG_IDENTITY_OVERRIDE_REMOVED",
                "flag",
                flag,
                {"flag": flag, "value": 4},
                None,
            )
        return _Step(
            "flag.identity_override",
            "ADMIN_FLAG_IDENTITY_OVERRIDE",
            "flag",
            flag,
            {"flag": flag, "value": 3},
            {"flag": flag, "value": rng.randint(2, 6), "reason": "capacity review"},
        )
    if kind == "triage":
        name = rng.choice(("triage_risk_threshold", "mso_completion_threshold"))
        old = round(rng.uniform(0.5, 0.8), 2)
        return _Step(
            "triage_threshold.update",
            "ADMIN_FLAG_IDENTITY_OVERRIDE",
            "flag",
            name,
            {"flag": name, "value": old},
            {"flag": name, "value": round(old + 0.05, 2), "reason": "monthly calibration"},
        )
    if kind == "doctor":
        return _Step(
            "mso_doctor.onboard",
            "ADMIN_MSO_DOCTOR_ONBOARD",
            "mso_doctor",
            doctor,
            None,
            {
                "specialty": rng.choice(("cardiology", "oncology", "orthopaedics")),
                "languages": ["en", rng.choice(("hi", "th", "tr", "ta"))],
                "consultation_fee_minor": rng.choice((9900, 14900, 19900)),
                "active": True,
            },
        )
    if kind == "doctor_update":
        return _Step(
            "mso_doctor.update",
            "ADMIN_MSO_DOCTOR_UPDATE",
            "mso_doctor",
            doctor,
            {"active": True},
            {"active": rng.random() < 0.7},
        )
    if kind == "refund":
        amount = rng.choice((9900, 14900, 19900))
        session = f"mso_{tenant_id[:4]}_{n:04d}"
        return _Step(
            "mso_session.refund",
            "ADMIN_MSO_SESSION_REFUND",
            "mso_session",
            session,
            {"status": rng.choice(("paid", "cancelled", "no_show"))},
            {
                "status": "refunded",
                "amount_minor": amount,
                "currency": "USD",
                "provider": provider,
                "refund_id": f"rf_{session}",
            },
            case_id=f"case_{tenant_id[:4]}_{rng.randint(1, 40):03d}",
            patient_id=f"pat_{tenant_id[:4]}_{rng.randint(1, 30):03d}",
        )
    user = f"user_{tenant_id[:4]}_staff_{rng.randint(1, 8)}"
    revoke = rng.random() < 0.3
    return _Step(
        "user_role.revoke" if revoke else "user_role.assign",
        "ADMIN_USER_ROLE_REVOKE" if revoke else "ADMIN_USER_ROLE_ASSIGN",
        "user",
        user,
        {"roles": ["org:provider:staff"]} if revoke else {"roles": []},
        {"roles": []} if revoke else {"roles": ["org:provider:staff"]},
    )


async def seed_demo_audit(uow: Transaction) -> int:
    """Write the demo history inside `uow` (the caller commits); returns how many entries
    were written, 0 when they exist already."""
    if await uow.audit.count(AuditFilter(actor_id=PLATFORM_OPERATOR)):
        return 0
    rng = random.Random(20260301)
    written = 0
    for tenant_id, org_id, provider in DEMO_AUDIT_TENANTS:
        for n in range(ENTRIES_PER_TENANT):
            step = _tenant_step(rng, tenant_id, provider, n)
            actor = (
                _platform_actor(PLATFORM_OPERATOR, written)
                if n % 5 == 0
                else _tenant_actor(tenant_id, org_id, written)
            )
            await record_audit(
                uow,
                actor,
                action=step.action,
                event_type=step.event_type,
                resource_type=step.resource_type,
                resource_id=step.resource_id,
                tenant_id=tenant_id,
                before=step.before,
                after=step.after,
                case_id=step.case_id,
                patient_id=step.patient_id,
            )
            written += 1
        await record_audit(
            uow,
            _platform_actor(PLATFORM_OPERATOR, written),
            action="tenant.update",
            event_type="ADMIN_TENANT_UPDATE",
            resource_type="tenant",
            resource_id=tenant_id,
            tenant_id=tenant_id,
            before={"settings": {"timezone": None}},
            after={"settings": {"timezone": "UTC"}},
        )
        written += 1
    for scope, count in (("all", 3), ("doctors", 2), ("providers", 1)):
        for _ in range(count):
            await record_audit(
                uow,
                _platform_actor(PLATFORM_OPERATOR, written),
                action="graph.rebuild",
                event_type="ADMIN_GRAPH_REBUILD",
                resource_type="graph",
                resource_id=scope,
                tenant_id=None,
                after={"scope": scope, "duration_ms": rng.randint(900, 4200)},
            )
            written += 1
    return written
