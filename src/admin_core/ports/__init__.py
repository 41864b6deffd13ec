"""Outbound ports: what the core needs from the world, one small Protocol per capability."""
