"""Admin Core: use cases, domain types, ports and errors of the admin control plane.

This package imports only the standard library. Adapters implement its ports; entrypoints
wire them together and call its use cases.
"""
