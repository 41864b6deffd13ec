"""Anthropic (the Claude API): the health probe of its REST API."""
