"""Jinja2 rendering with the language, translations, CSRF token and session user in context."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

from iotnotice.web.i18n import pick_language, translator
from iotnotice.web.security import csrf_token

__all__ = ["current_language", "link", "render", "templates"]

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


def current_language(request: Request) -> str:
    """Language carried by the link (``?lang=en``) or a form field; Japanese by default."""
    return pick_language(request.query_params.get("lang"))


def link(path: str, lang: str, **params: Any) -> str:
    """An internal link that keeps the language."""
    query = {k: v for k, v in params.items() if v not in (None, "")}
    if lang != "ja":
        query["lang"] = lang
    return f"{path}?{urlencode(query)}" if query else path


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    lang: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page in the request's language."""
    lang = lang or current_language(request)
    other = "en" if lang == "ja" else "ja"
    settings = request.app.state.settings
    full = {
        "lang": lang,
        "t": translator(lang),
        "link": lambda path, **kw: link(path, lang, **kw),
        "switch_url": link(request.url.path, other),
        "csrf": csrf_token(request),
        "user": request.session.get("user"),
        "support_phone": settings.support_phone,
        "support_hours": settings.support_hours,
        **(context or {}),
    }
    return templates.TemplateResponse(request, template, full, status_code=status_code)
