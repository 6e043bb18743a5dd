"""Operator accounts: creation and sign-in checks (argon2 hashes, roles)."""

from __future__ import annotations

from sqlalchemy import Engine, select

from iotnotice.db import session_scope
from iotnotice.db.models import OperatorUser, utcnow
from iotnotice.errors import IotnoticeError
from iotnotice.web.security import hash_password, verify_password

__all__ = ["ROLES", "authenticate", "create_operator", "role_at_least"]

ROLES: tuple[str, ...] = ("viewer", "operator", "admin")


def role_at_least(role: str | None, needed: str) -> bool:
    """True when ``role`` ranks at or above ``needed`` (viewer < operator < admin)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def create_operator(engine: Engine, username: str, password: str, role: str = "viewer") -> None:
    """Add an operator account, or reset the password and role of an existing one."""
    if role not in ROLES:
        raise IotnoticeError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise IotnoticeError("password too short: use at least 8 characters")
    with session_scope(engine) as session:
        user = session.scalar(select(OperatorUser).where(OperatorUser.username == username))
        if user is None:
            user = OperatorUser(username=username, password_hash="")
            session.add(user)
        user.password_hash = hash_password(password)
        user.role = role
        user.active = True


def authenticate(engine: Engine, username: str, password: str) -> tuple[str, str] | None:
    """(username, role) when the credentials are right and the account is active."""
    with session_scope(engine) as session:
        user = session.scalar(select(OperatorUser).where(OperatorUser.username == username))
        ok = verify_password(user.password_hash if user else None, password)
        if user is None or not ok or not user.active:
            return None
        user.last_login_at = utcnow()
        return user.username, user.role
