"""Inbound use cases: one class each, ports in `__init__`, `async execute`."""
