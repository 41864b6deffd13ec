"""Adapters: one package per technology, each implementing ports of `admin_core`."""
