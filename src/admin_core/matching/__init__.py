"""The matching dashboard: the parameter registry, its data coverage, domain weights
(SPEC §6.3)."""
