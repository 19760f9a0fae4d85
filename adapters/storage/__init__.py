"""Storage adapters (SQLite embedded default; PostgreSQL for scale)."""
