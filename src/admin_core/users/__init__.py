"""Users and roles of a tenant (SPEC §6.9), checked against the identity provider."""
