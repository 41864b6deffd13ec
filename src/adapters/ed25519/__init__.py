"""Ed25519 keys that sign and verify audit checkpoints (the `cryptography` package)."""
