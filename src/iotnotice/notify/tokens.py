"""Bearer tokens of the ISP pull API: issued once, stored as SHA-256, revocable.

Tokens carry 256 random bits, so a plain SHA-256 (not a slow password hash) is enough: there
is nothing to brute-force, and lookup by hash avoids comparing secrets in Python.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from iotnotice.db.engine import session_scope
from iotnotice.db.models import Isp, IspApiToken, utcnow
from iotnotice.errors import NotFoundError

__all__ = [
    "TOKEN_PREFIX",
    "TokenInfo",
    "authenticate",
    "create_token",
    "list_tokens",
    "revoke_token",
]

TOKEN_PREFIX = "ino_"


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed (never the secret itself)."""

    id: int
    isp: str
    prefix: str
    label: str
    created_at: datetime
    revoked_at: datetime | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(engine: Engine, isp_name: str, label: str = "") -> tuple[int, str]:
    """Issue a token for an ISP; returns (id, secret). The secret is shown only this once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with session_scope(engine) as session:
        isp = session.scalars(select(Isp).where(Isp.name == isp_name)).one_or_none()
        if isp is None:
            raise NotFoundError(f"no ISP named {isp_name!r} in the registry")
        row = IspApiToken(isp=isp, token_hash=_hash(token), prefix=token[:12], label=label)
        session.add(row)
        session.flush()
        return row.id, token


def list_tokens(engine: Engine) -> list[TokenInfo]:
    """Every token, oldest first."""
    with session_scope(engine) as session:
        rows = session.scalars(
            select(IspApiToken).options(selectinload(IspApiToken.isp)).order_by(IspApiToken.id)
        )
        return [
            TokenInfo(r.id, r.isp.name, r.prefix, r.label, r.created_at, r.revoked_at) for r in rows
        ]


def revoke_token(engine: Engine, token_id: int) -> None:
    """Revoke a token; requests with it are refused from now on."""
    with session_scope(engine) as session:
        row = session.get(IspApiToken, token_id)
        if row is None:
            raise NotFoundError(f"no API token with id {token_id}")
        row.revoked_at = row.revoked_at or utcnow()


def authenticate(session: Session, token: str) -> IspApiToken | None:
    """The live token row for a presented secret, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.scalars(
        select(IspApiToken).where(IspApiToken.token_hash == _hash(token))
    ).one_or_none()
    return row if row is not None and row.revoked_at is None else None
