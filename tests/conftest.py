"""Shared fixtures: a settings object on a temporary data directory, and real databases."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from iotnotice.db import connect
from iotnotice.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default settings with every piece of state under a fresh temporary directory."""
    return load_settings(environ={}, data_dir=str(tmp_path / "data"))


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """A migrated SQLite database in the temporary data directory."""
    eng = connect(settings)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """URL of a real PostgreSQL server: from the Makefile, or started here with the same script."""
    url = os.environ.get("IOTNOTICE_TEST_PG_URL")
    if not url:
        out = subprocess.run(
            ["bash", str(ROOT / "scripts/start-postgres.sh")],
            check=True,
            capture_output=True,
            text=True,
        )
        url = out.stdout.strip().splitlines()[-1]
    return url


@pytest.fixture
def pg_settings(pg_server_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings pointing at a fresh, empty PostgreSQL database (dropped afterwards)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = pg_server_url.rpartition("/")
    yield load_settings(environ={}, data_dir=str(tmp_path / "data"), database_url=f"{base}/{name}")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The same test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return load_settings(environ={}, data_dir=str(tmp_path / "data"))
    return request.getfixturevalue("pg_settings")  # type: ignore[no-any-return]
