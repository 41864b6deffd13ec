"""The graph projection of the provider directory (SPEC §6.1)."""
