"""Run the web application with uvicorn on the given address (blocks until Ctrl-C)."""

from __future__ import annotations

import uvicorn

from iotnotice.settings import Settings
from iotnotice.web.app import create_app

__all__ = ["serve"]


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve the support site and operator console (defaults: settings web_host/web_port)."""
    app = create_app(settings)
    uvicorn.run(
        app,
        host=host or str(settings.web_host),
        port=int(port or settings.web_port),
        log_level="warning",
    )
