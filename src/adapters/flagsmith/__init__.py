"""Flagsmith: the flag provider of production (docs/adr/0049)."""
