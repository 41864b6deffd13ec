"""Thin controllers: parse, call one use case, map the result."""
