"""The second-opinion doctors of the demo data set, onboarded through the real use case (so
each has its `mso_doctor.onboard` audit entry). Days are relative to the seed's clock: most
doctors are available already, one only from next month, and one is inactive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from admin_core.kernel.principal import Principal
from admin_core.mso_doctors.use_cases import OnboardMsoDoctorCommand
from entrypoints.container import Container


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoDoctor:
    tenant_id: str
    full_name: str
    email: str
    specialty: str
    languages: tuple[str, ...]
    countries: tuple[str, ...]
    license_number: str
    fee_minor: int
    currency: str
    available_in_days: int  # from the day of the seed; negative: available since
    timezone: str
    active: bool = True
    clerk_user_id: str | None = None


DEMO_DOCTORS: tuple[DemoDoctor, ...] = (
    DemoDoctor(
        tenant_id="apollo-chennai",
        full_name="Dr. Lakshmi Ramanathan",
        email="l.ramanathan@apollo.example",
        specialty="cardiology",
        languages=("en", "ta", "hi"),
        countries=("IN",),
        license_number="TNMC-48211",
        fee_minor=300_000,
        currency="INR",
        available_in_days=-200,
        timezone="Asia/Kolkata",
    ),
    DemoDoctor(
        tenant_id="apollo-chennai",
        full_name="Dr. Arvind Subramaniam",
        email="a.subramaniam@apollo.example",
        specialty="oncology",
        languages=("en", "ta"),
        countries=("IN",),
        license_number="TNMC-51907",
        fee_minor=350_000,
        currency="INR",
        available_in_days=-90,
        timezone="Asia/Kolkata",
    ),
    DemoDoctor(
        tenant_id="apollo-chennai",
        full_name="Dr. Meera Krishnan",
        email="m.krishnan@apollo.example",
        specialty="orthopaedics",
        languages=("en", "hi", "ml"),
        countries=("IN",),
        license_number="TNMC-39044",
        fee_minor=250_000,
        currency="INR",
        available_in_days=-400,
        timezone="Asia/Kolkata",
        active=False,
    ),
    DemoDoctor(
        tenant_id="bumrungrad-bangkok",
        full_name="Dr. Niran Chaiyaporn",
        email="niran.c@bumrungrad.example",
        specialty="cardiology",
        languages=("th", "en"),
        countries=("TH",),
        license_number="TMC-27730",
        fee_minor=550_000,
        currency="THB",
        available_in_days=-150,
        timezone="Asia/Bangkok",
    ),
    DemoDoctor(
        tenant_id="bumrungrad-bangkok",
        full_name="Dr. Siriporn Thanakit",
        email="siriporn.t@bumrungrad.example",
        specialty="neurology",
        languages=("th", "en", "zh"),
        countries=("TH", "SG"),
        license_number="TMC-31152",
        fee_minor=600_000,
        currency="THB",
        available_in_days=21,
        timezone="Asia/Bangkok",
    ),
    DemoDoctor(
        tenant_id="acibadem-istanbul",
        full_name="Dr. Elif Yılmaz",
        email="dr.yilmaz@acibadem.example",
        specialty="oncology",
        languages=("tr", "en", "de"),
        countries=("TR",),
        license_number="TTB-118204",
        fee_minor=20_000,
        currency="EUR",
        available_in_days=-120,
        timezone="Europe/Istanbul",
        clerk_user_id="user_acibadem_doctor",
    ),
    DemoDoctor(
        tenant_id="acibadem-istanbul",
        full_name="Dr. Murat Demir",
        email="murat.demir@acibadem.example",
        specialty="orthopaedics",
        languages=("tr", "en", "ar", "ru"),
        countries=("TR",),
        license_number="TTB-097611",
        fee_minor=16_000,
        currency="EUR",
        available_in_days=-60,
        timezone="Europe/Istanbul",
    ),
    DemoDoctor(
        tenant_id="medanta-gurugram",
        full_name="Dr. Rohan Mehta",
        email="rohan.mehta@medanta.example",
        specialty="neurology",
        languages=("en", "hi", "pa"),
        countries=("IN",),
        license_number="HMC-22086",
        fee_minor=280_000,
        currency="INR",
        available_in_days=-30,
        timezone="Asia/Kolkata",
    ),
)


async def onboard_demo_doctors(
    container: Container, acting: Callable[[], Principal]
) -> dict[str, list[str]]:
    """Onboard every demo doctor through `OnboardMsoDoctor`, each as `acting()`. Returns the
    ids of each tenant's doctors (tenant id → doctor ids), for the demo's sessions."""
    onboard = container.mso_doctors.onboard_mso_doctor()
    today = container.runtime.clock().now().date()
    ids: dict[str, list[str]] = {}
    for d in DEMO_DOCTORS:
        doctor = await onboard.execute(
            acting(),
            OnboardMsoDoctorCommand(
                tenant_id=d.tenant_id,
                full_name=d.full_name,
                email=d.email,
                specialty=d.specialty,
                languages=d.languages,
                countries=d.countries,
                license_number=d.license_number,
                consultation_fee_minor=d.fee_minor,
                currency=d.currency,
                available_from=today + timedelta(days=d.available_in_days),
                timezone=d.timezone,
                active=d.active,
                clerk_user_id=d.clerk_user_id,
            ),
        )
        ids.setdefault(doctor.tenant_id, []).append(doctor.id)
    return ids
