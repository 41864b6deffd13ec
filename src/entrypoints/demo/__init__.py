"""The demo data set of the embedded mode and its seeding (never in production)."""
