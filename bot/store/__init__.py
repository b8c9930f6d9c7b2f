"""Persistence: SQLModel tables, the database engine and the queries the engine needs."""
