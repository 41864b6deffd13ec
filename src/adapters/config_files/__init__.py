"""Configuration files the core's definitions are read from (YAML)."""
