"""Tenants (SPEC §6.8): hospitals and clinics on the marketplace, their settings and the
Clerk organisations mapped to them."""
