"""Redis: the health probe (`redis` package, asyncio client)."""
