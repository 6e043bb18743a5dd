"""What every command receives: the settings and a lazily created database engine."""

from __future__ import annotations

from dataclasses import dataclass, field

import click
from rich.console import Console
from sqlalchemy import Engine

from iotnotice.db.engine import connect
from iotnotice.settings import Settings

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
            self._engine = connect(self.settings)
        return self._engine

    def fail(self, message: str) -> None:
        """Print one error line to stderr (no traceback)."""
        self.err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)


pass_app = click.make_pass_decorator(AppContext)
