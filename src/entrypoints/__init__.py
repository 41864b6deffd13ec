"""Entrypoints: the HTTP API, the `adminctl` CLI, and the composition root both use."""
