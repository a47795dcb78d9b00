"""The store: SQLAlchemy Core over SQLite (default) or PostgreSQL."""

from prodloop.store.engine import connect, create_store_engine, upgrade

__all__ = ["connect", "create_store_engine", "upgrade"]
