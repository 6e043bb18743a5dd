"""What every command receives: the settings and a lazily created database engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click
from rich.console import Console

from iotnotice.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["AppContext", "pass_app"]


@dataclass
class AppContext:
    settings: Settings
    console: Console = field(default_factory=Console)
    err: Console = field(default_factory=lambda: Console(stderr=True))
    _engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            # Imported here: commands that need no database start faster.
            from iotnotice.db.engine import connect

            self._engine = connect(self.settings)
        return self._engine

    def fail(self, message: str) -> None:
        """Print one error line to stderr (no traceback)."""
        self.err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)


pass_app = click.make_pass_decorator(AppContext)
