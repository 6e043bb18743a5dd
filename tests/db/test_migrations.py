"""The migrations create exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from iotnotice.db import connect
from iotnotice.db.models import Base
from iotnotice.settings import Settings


def test_migrations_match_models(any_settings: Settings) -> None:
    """After upgrade to head, autogenerate finds no difference between database and models."""
    engine = connect(any_settings)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_connect_twice_is_harmless(any_settings: Settings) -> None:
    """Migrating an up-to-date database changes nothing and raises nothing."""
    connect(any_settings).dispose()
    engine = connect(any_settings)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() is not None
    engine.dispose()
