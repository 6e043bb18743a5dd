"""The coordinator's relational database: models, engine, migrations."""

from iotnotice.db.engine import connect, migrate, session_scope

__all__ = ["connect", "migrate", "session_scope"]
