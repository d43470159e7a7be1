"""Persistence: killmails already seen and small key/value state, on SQLite or PostgreSQL.

``database`` owns the engine, ``tables`` the schema, ``repositories`` all SQL (returning the
plain records of ``records``), and ``migrate`` runs the Alembic migrations from code. Import
from those modules directly; this package imports nothing so that using a record does not
pull in SQLAlchemy and Alembic.
"""

__all__: list[str] = []
