"""The demo provider directory: 42 providers (the demo tenants' four among them), 172 doctors
and 30 procedures, with the offers, procedures performed and accreditations that link them.

Deterministic, and written through a transaction's directory writer, which keeps the rows
that exist already.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from admin_core.directory.model import (
    DirectoryBatch,
    DoctorProcedure,
    Procedure,
    ProcedureOffer,
    ProviderDoctor,
    ProviderListing,
)

ACCREDITATIONS = ("JCI", "NABH", "ISO 9001", "TEMOS", "ACHS", "KTQ", "DNV")

#: code, name, specialty
PROCEDURES: tuple[tuple[str, str, str], ...] = (
    ("CABG", "Coronary artery bypass graft", "cardiology"),
    ("PCI", "Coronary angioplasty with stent", "cardiology"),
    ("AVR", "Aortic valve replacement", "cardiology"),
    ("ABL", "Cardiac ablation", "cardiology"),
    ("TKR", "Total knee replacement", "orthopedics"),
    ("THR", "Total hip replacement", "orthopedics"),
    ("ACL", "ACL reconstruction", "orthopedics"),
    ("SPF", "Spinal fusion", "orthopedics"),
    ("MAS", "Mastectomy", "oncology"),
    ("CHE", "Chemotherapy cycle", "oncology"),
    ("RTH", "Radiotherapy course", "oncology"),
    ("PRS", "Robotic prostatectomy", "oncology"),
    ("CRN", "Craniotomy for tumour resection", "neurology"),
    ("DBS", "Deep brain stimulation", "neurology"),
    ("EPS", "Epilepsy surgery", "neurology"),
    ("IVF", "In vitro fertilisation cycle", "fertility"),
    ("ICS", "Intracytoplasmic sperm injection", "fertility"),
    ("EGF", "Egg freezing", "fertility"),
    ("KTX", "Kidney transplant", "transplant"),
    ("LTX", "Liver transplant (living donor)", "transplant"),
    ("BMT", "Bone marrow transplant", "transplant"),
    ("CAT", "Cataract surgery", "ophthalmology"),
    ("LAS", "LASIK", "ophthalmology"),
    ("COR", "Corneal transplant", "ophthalmology"),
    ("GSL", "Gastric sleeve", "bariatrics"),
    ("GBP", "Gastric bypass", "bariatrics"),
    ("RHN", "Rhinoplasty", "cosmetic"),
    ("ABD", "Abdominoplasty", "cosmetic"),
    ("DIM", "Dental implants (full arch)", "dentistry"),
    ("VEN", "Porcelain veneers", "dentistry"),
)

#: id, name, country, city, specialties, languages, accreditations
PROVIDERS: tuple[tuple[str, str, str, str, str, str, str], ...] = (
    ("prv_apollo_chennai", "Apollo Hospitals Chennai", "IN", "Chennai",
     "cardiology transplant oncology orthopedics", "en ta hi", "JCI NABH"),
    ("prv_bumrungrad", "Bumrungrad International Hospital", "TH", "Bangkok",
     "cardiology orthopedics oncology fertility", "en th ar ja", "JCI"),
    ("prv_acibadem", "Acibadem Maslak Hospital", "TR", "Istanbul",
     "oncology transplant neurology cosmetic", "tr en ar ru", "JCI TEMOS"),
    ("prv_medanta", "Medanta The Medicity", "IN", "Gurugram",
     "cardiology transplant neurology", "en hi", "JCI NABH"),
    ("prv_fortis_gurugram", "Fortis Memorial Research Institute", "IN", "Gurugram",
     "transplant oncology neurology", "en hi", "JCI NABH"),
    ("prv_max_saket", "Max Super Speciality Hospital Saket", "IN", "New Delhi",
     "cardiology oncology bariatrics", "en hi", "NABH"),
    ("prv_kokilaben", "Kokilaben Dhirubhai Ambani Hospital", "IN", "Mumbai",
     "oncology neurology orthopedics", "en hi mr", "JCI NABH"),
    ("prv_narayana_bengaluru", "Narayana Health City", "IN", "Bengaluru",
     "cardiology transplant", "en kn hi", "JCI NABH"),
    ("prv_aster_kochi", "Aster Medcity", "IN", "Kochi",
     "cardiology orthopedics fertility", "en ml ar", "JCI NABH"),
    ("prv_samitivej", "Samitivej Sukhumvit Hospital", "TH", "Bangkok",
     "fertility orthopedics cosmetic", "en th ja", "JCI"),
    ("prv_bangkok_hospital", "Bangkok Hospital", "TH", "Bangkok",
     "cardiology neurology oncology", "en th zh", "JCI"),
    ("prv_phyathai2", "Phyathai 2 International Hospital", "TH", "Bangkok",
     "fertility dentistry cosmetic", "en th", "JCI"),
    ("prv_memorial_sisli", "Memorial Sisli Hospital", "TR", "Istanbul",
     "fertility transplant cardiology", "tr en ar", "JCI TEMOS"),
    ("prv_medicana", "Medicana International Istanbul", "TR", "Istanbul",
     "bariatrics cosmetic orthopedics", "tr en ru", "JCI"),
    ("prv_anadolu", "Anadolu Medical Center", "TR", "Kocaeli",
     "oncology cardiology", "tr en", "JCI"),
    ("prv_dunyagoz", "Dunyagoz Etiler", "TR", "Istanbul",
     "ophthalmology", "tr en ar", "JCI TEMOS"),
    ("prv_gleneagles_sg", "Gleneagles Hospital", "SG", "Singapore",
     "transplant oncology cardiology", "en zh ms", "JCI"),
    ("prv_mount_elizabeth", "Mount Elizabeth Hospital", "SG", "Singapore",
     "cardiology neurology orthopedics", "en zh", "JCI"),
    ("prv_raffles", "Raffles Hospital", "SG", "Singapore",
     "fertility ophthalmology dentistry", "en zh ja", "JCI"),
    ("prv_prince_court", "Prince Court Medical Centre", "MY", "Kuala Lumpur",
     "cardiology fertility bariatrics", "en ms zh", "JCI ACHS"),
    ("prv_sunway", "Sunway Medical Centre", "MY", "Petaling Jaya",
     "oncology orthopedics", "en ms zh ta", "JCI ACHS"),
    ("prv_island_penang", "Island Hospital", "MY", "Penang",
     "cardiology ophthalmology", "en ms zh", "ACHS"),
    ("prv_cleveland_ad", "Cleveland Clinic Abu Dhabi", "AE", "Abu Dhabi",
     "cardiology neurology transplant", "en ar", "JCI"),
    ("prv_mediclinic_dubai", "Mediclinic City Hospital", "AE", "Dubai",
     "oncology orthopedics fertility", "en ar", "JCI"),
    ("prv_american_dubai", "American Hospital Dubai", "AE", "Dubai",
     "cardiology bariatrics", "en ar hi", "JCI"),
    ("prv_samsung_seoul", "Samsung Medical Center", "KR", "Seoul",
     "oncology transplant", "ko en", "JCI"),
    ("prv_asan_seoul", "Asan Medical Center", "KR", "Seoul",
     "transplant cardiology", "ko en ru", "JCI"),
    ("prv_severance", "Severance Hospital", "KR", "Seoul",
     "oncology ophthalmology cosmetic", "ko en", "JCI"),
    ("prv_charite", "Charité Universitätsmedizin", "DE", "Berlin",
     "neurology oncology cardiology", "de en", "KTQ"),
    ("prv_helios_berlin", "Helios Klinikum Berlin-Buch", "DE", "Berlin",
     "orthopedics bariatrics", "de en ru", "KTQ"),
    ("prv_quironsalud", "Hospital Universitario Quirónsalud", "ES", "Madrid",
     "fertility oncology", "es en", "JCI"),
    ("prv_teknon", "Centro Médico Teknon", "ES", "Barcelona",
     "orthopedics cosmetic", "es ca en", "JCI"),
    ("prv_star_medica", "Star Médica Mérida", "MX", "Mérida",
     "bariatrics dentistry", "es en", "JCI"),
    ("prv_angeles_tijuana", "Hospital Angeles Tijuana", "MX", "Tijuana",
     "bariatrics cosmetic", "es en", "JCI"),
    ("prv_cima_sanjose", "Hospital CIMA San José", "CR", "San José",
     "orthopedics dentistry cosmetic", "es en", "JCI"),
    ("prv_clinica_biblica", "Hospital Clínica Bíblica", "CR", "San José",
     "cardiology bariatrics", "es en", "JCI"),
    ("prv_fcv_bucaramanga", "Fundación Cardiovascular de Colombia", "CO", "Floridablanca",
     "cardiology transplant", "es en", "JCI"),
    ("prv_vithas_malaga", "Hospital Vithas Xanit", "ES", "Benalmádena",
     "orthopedics ophthalmology", "es en de", "JCI"),
    ("prv_hadassah", "Hadassah Medical Center", "IL", "Jerusalem",
     "oncology neurology", "he en ru ar", "JCI"),
    ("prv_sheba", "Sheba Medical Center", "IL", "Ramat Gan",
     "cardiology fertility", "he en", "JCI"),
    ("prv_vinmec", "Vinmec Times City", "VN", "Hanoi",
     "oncology fertility", "vi en", "JCI"),
    ("prv_st_lukes_manila", "St. Luke's Medical Center Global City", "PH", "Taguig",
     "cardiology oncology", "en fil", "JCI DNV"),
)  # fmt: skip

FIRST_NAMES = (
    "Aarav", "Ananya", "Somchai", "Mali", "Emre", "Elif", "Wei", "Mei", "Hyun", "Ji-woo",
    "Lukas", "Lena", "Carlos", "Lucia", "Omar", "Layla", "Noah", "Maya", "Arjun", "Priya",
    "Kenji", "Yuki", "Mateo", "Sofia", "David", "Sarah", "Minh", "Linh", "Rafael", "Isabel",
    "Tarik", "Zeynep", "Ravi", "Kavya", "Daniel", "Hannah", "Farid", "Nadia", "Jose", "Ana",
    "Anil", "Deepa", "Chen", "Lin",
)  # fmt: skip
LAST_NAMES = (
    "Sharma", "Iyer", "Wongsakul", "Chaiyaporn", "Yilmaz", "Demir", "Tan", "Lim", "Kim",
    "Park", "Becker", "Schmidt", "Garcia", "Rodriguez", "Haddad", "Nasser", "Cohen", "Levi",
    "Reddy", "Nair", "Sato", "Tanaka", "Morales", "Vargas", "Nguyen", "Tran", "Santos",
    "Reyes", "Kaya", "Celik", "Menon", "Pillai", "Ong", "Goh",
)  # fmt: skip

DOCTORS_PER_PROVIDER = 4
EXTRA_DOCTORS_PER_TENANT_PROVIDER = 1  # the four demo tenants: 42 × 4 + 4 = 172 doctors


def _number(*parts: str) -> int:
    """A stable number from text (unlike `hash`, the same in every process)."""
    return int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:4], "big")


def demo_directory() -> DirectoryBatch:
    procedures = tuple(Procedure(code=c, name=n, specialty=s) for c, n, s in PROCEDURES)
    by_specialty: dict[str, list[str]] = {}
    for p in procedures:
        by_specialty.setdefault(p.specialty or "", []).append(p.code)
    providers: list[ProviderListing] = []
    doctors: list[ProviderDoctor] = []
    offers: list[ProcedureOffer] = []
    performed: list[DoctorProcedure] = []
    serial = 0
    for index, (pid, name, country, city, specs, langs, accs) in enumerate(PROVIDERS):
        specialties = tuple(specs.split())
        languages = tuple(langs.split())
        providers.append(
            ProviderListing(
                id=pid,
                name=name,
                country=country,
                city=city,
                specialties=specialties,
                languages=languages,
                accreditations=tuple(accs.split()),
            )
        )
        for specialty in specialties:
            for code in by_specialty[specialty]:
                low = 1000 + _number(pid, code) % 20_000
                high = low + 500 + _number(code, pid) % 10_000
                offers.append(
                    ProcedureOffer(
                        provider_id=pid,
                        procedure_code=code,
                        price_min_usd=Decimal(low),
                        price_max_usd=Decimal(high),
                    )
                )
        count = DOCTORS_PER_PROVIDER + (EXTRA_DOCTORS_PER_TENANT_PROVIDER if index < 4 else 0)
        for n in range(count):
            serial += 1
            specialty = specialties[n % len(specialties)]
            doctor_id = f"doc_{serial:04d}"
            first = FIRST_NAMES[_number(doctor_id, "first") % len(FIRST_NAMES)]
            last = LAST_NAMES[_number(doctor_id, "last") % len(LAST_NAMES)]
            doctors.append(
                ProviderDoctor(
                    id=doctor_id,
                    provider_id=pid,
                    full_name=f"Dr. {first} {last}",
                    specialty=specialty,
                    languages=languages[: 1 + n % len(languages)],
                )
            )
            codes = by_specialty[specialty]
            for k in range(min(len(codes), 2 + n % 2)):
                performed.append(
                    DoctorProcedure(doctor_id=doctor_id, procedure_code=codes[(n + k) % len(codes)])
                )
    return DirectoryBatch(
        accreditations=ACCREDITATIONS,
        procedures=procedures,
        providers=tuple(providers),
        doctors=tuple(doctors),
        offers=tuple(offers),
        doctor_procedures=tuple(performed),
    )
