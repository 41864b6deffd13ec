"""Second-opinion (MSO) doctors (SPEC §6.5)."""
