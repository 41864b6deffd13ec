"""Triage thresholds: flags that clinical operations tune per tenant (SPEC §6.6)."""
