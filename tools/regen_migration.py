"""Regenerate the initial migration (0001) from the models; used only before the first release."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from iotnotice.db.engine import alembic_config

versions = Path(__file__).resolve().parents[1] / "src/iotnotice/db/migrations/versions"
for old in versions.glob("0001_*.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as tmp:
    engine = create_engine(f"sqlite:///{tmp}/gen.db")
    command.revision(
        alembic_config(engine), message="initial schema", autogenerate=True, rev_id="0001"
    )
new = next(versions.glob("0001_*.py"))
ruff = Path(sys.executable).with_name("ruff")
subprocess.run([str(ruff), "check", "--fix", "-q", "--ignore", "E501", str(new)], check=False)
subprocess.run([str(ruff), "format", "-q", str(new)], check=True)
print("regenerated", new)
