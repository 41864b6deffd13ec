"""SQLAlchemy 2 (asyncio) adapters: PostgreSQL via asyncpg in production, SQLite via aiosqlite
for the embedded default. SQLAlchemy Core tables only; no ORM models in the domain."""
