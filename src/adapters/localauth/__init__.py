"""The embedded mode's token issuer: a local RSA key, its JWKS, and short-lived session tokens
in Clerk's format, verified by the very same code path as production tokens."""
