"""MSO sessions and refunds through the provider that took the money (SPEC §6.4)."""
