"""The migrations create exactly the schema the models declare, on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from iotnotice.db import connect
from iotnotice.db.models import Base
from iotnotice.settings import Settings, load_settings


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


def test_a_new_sqlite_database_has_16k_pages_and_an_old_one_keeps_its_own(
    settings: Settings, tmp_path: Path
) -> None:
    """New SQLite files get 16 KiB pages (cheaper bulk writes of ~1 KB host rows); a file
    made with other pages keeps them and works as before."""
    engine = connect(settings)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 16384
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
    old = tmp_path / "old"
    old.mkdir()
    raw = sqlite3.connect(old / "iotnotice.db")
    raw.execute("PRAGMA page_size=4096")
    raw.execute("CREATE TABLE legacy (x)")
    raw.close()
    engine = connect(load_settings(environ={}, data_dir=str(old)))
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 4096
        assert conn.exec_driver_sql("SELECT count(*) FROM hosts").scalar() == 0
    engine.dispose()
