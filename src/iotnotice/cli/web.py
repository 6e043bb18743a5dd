"""``iotnotice serve`` (the web UI) and ``iotnotice operator-add`` (console accounts)."""

from __future__ import annotations

import click

from iotnotice.cli.context import AppContext, pass_app

__all__ = ["commands", "operator_add_cmd", "serve_cmd"]


@click.command("serve")
@click.option("--host", default=None, help="Address to bind (default: setting web_host).")
@click.option(
    "--port", type=int, default=None, help="Port to listen on (default: setting web_port)."
)
@pass_app
def serve_cmd(app: AppContext, host: str | None, port: int | None) -> None:
    """Serve the support site and operator console until Ctrl-C."""
    from iotnotice.web.serve import serve

    host = host or str(app.settings.web_host)
    port = port or int(app.settings.web_port)
    app.console.print(f"serving on http://{host}:{port}/ (Ctrl-C to stop)")
    serve(app.settings, host, port)


@click.command("operator-add")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice(["viewer", "operator", "admin"]),
    default="viewer",
    show_default=True,
)
@click.password_option(help="Password (prompted when not given).")
@pass_app
def operator_add_cmd(app: AppContext, username: str, role: str, password: str) -> None:
    """Create an operator-console account (or reset its password and role)."""
    from iotnotice.web.accounts import create_operator

    create_operator(app.engine, username, password, role)
    app.console.print(f"operator {username!r} ({role}) saved")


commands: list[click.Command] = [serve_cmd, operator_add_cmd]
