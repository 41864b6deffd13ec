"""Clerk: session-token verification (PyJWT) and, later, the Backend API identity provider."""
