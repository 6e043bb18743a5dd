"""The web application factory: support site, operator console, static files."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response

from iotnotice.db import connect
from iotnotice.notify.api import create_isp_api
from iotnotice.settings import Settings
from iotnotice.web import admin, console, operator, portal, public
from iotnotice.web.render import render
from iotnotice.web.security import RateLimiter

__all__ = ["create_app", "secret_key"]

_STATIC = Path(__file__).with_name("static")


def secret_key(settings: Settings) -> str:
    """The session-signing key: the setting, else one generated once and kept in DATA_DIR."""
    if settings.secret_key:
        return str(settings.secret_key)
    path = settings.data_path / "secret_key"
    if not path.is_file():
        settings.data_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


async def _http_error(request: Request, exc: Exception) -> Response:
    code = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
    key = "not_found_page" if code == 404 else "forbidden"
    return render(request, "message.html", {"message": key}, status_code=code)


def create_app(settings: Settings) -> FastAPI:
    """The FastAPI application over the configured database and flow store."""
    app = FastAPI(title="iotnotice", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.engine = connect(settings)
    app.state.verify_limiter = RateLimiter(
        int(settings.verify_rate_limit), float(settings.verify_rate_window)
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key(settings),
        session_cookie="iotnotice_session",
        same_site="strict",
        max_age=8 * 3600,
    )
    app.mount("/static", StaticFiles(directory=_STATIC), name="static")
    # The ISP pull API is its own app so that its errors stay JSON, not HTML pages.
    app.mount("/api/isp", create_isp_api(settings, app.state.engine, prefix="/v1"))
    app.include_router(public.router)
    app.include_router(operator.router)
    app.include_router(console.router)
    app.include_router(portal.router)
    app.include_router(admin.router)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    return app
