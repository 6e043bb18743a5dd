"""The ``iotnotice`` command: a click group whose commands are thin shells over the library.

Each part registers its commands from its own module (``iotnotice.cli.<part>``). Expected
failures (:class:`~iotnotice.errors.IotnoticeError`) become one line on stderr and exit 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from iotnotice import __version__
from iotnotice.cli.context import AppContext
from iotnotice.errors import IotnoticeError
from iotnotice.settings import load_settings

__all__ = ["cli", "main"]


class _Group(click.Group):
    """Turns expected errors into one line and a non-zero exit status.

    Commands are loaded lazily: running one imports only the module of its part.
    """

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            from iotnotice.cli import commands

            commands.load_part_of(self, cmd_name)
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        from iotnotice.cli import commands

        commands.load_all(self)
        return super().list_commands(ctx)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except IotnoticeError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="iotnotice")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="IOTNOTICE_DATA_DIR",
    default=None,
    help="Directory holding all state (default ./iotnotice-data).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="IOTNOTICE_CONFIG",
    default=None,
    help="Settings file (default ./iotnotice.toml when present).",
)
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, config_file: Path | None) -> None:
    """Find infected IoT devices on a darknet and drive their clean-up."""
    try:
        settings = load_settings(config_file, data_dir=str(data_dir) if data_dir else None)
    except IotnoticeError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    ctx.obj = AppContext(settings)


def _register() -> None:
    from iotnotice.cli import commands

    commands.register(cli)


def main() -> None:
    cli()
