"""Authentication (SPEC §5): session tokens become principals under the role policy."""
