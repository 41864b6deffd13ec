"""Health of this replica and of the services it depends on (SPEC §6.10)."""
