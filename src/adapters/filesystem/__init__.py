"""Ports kept in plain files: the audit checkpoints' directory sink."""
