"""Domain types that cross ports: frozen, slotted, keyword-only dataclasses."""
