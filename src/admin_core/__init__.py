"""Admin Core: the business rules of the admin control plane, split by area over a kernel.

Each area (`audit`, `auth`, `tenants`, `directory`, `users`, `graph`, `health`, ...) holds its
model, its ports (Protocols) and its use cases; `kernel` holds what every area shares and
imports no area. This package imports only the standard library: adapters implement its
ports, entrypoints wire them together and call its use cases.
"""
