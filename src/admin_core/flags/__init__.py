"""Feature flags and per-tenant overrides (SPEC §6.2)."""
