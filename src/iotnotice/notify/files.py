"""Outbox file helpers: safe names, atomic writes, content hashes."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "sha256_hex", "slug"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")


def slug(name: str) -> str:
    """A file-name-safe form of an ISP name: ``\\w`` runs joined by hyphens.

    IntelMQ's Shadowserver parser recognises report files by
    ``^(?:\\d{4}-\\d{2}-\\d{2}-)?(\\w+)(-\\w+)*\\.csv$``, so nothing else may appear.
    """
    return "-".join(part for part in _UNSAFE.split(name) if part) or "unnamed"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write(path: Path, data: bytes, fsync: bool = True) -> str:
    """Write ``data`` to ``path`` via a temporary file and rename; returns its SHA-256.

    With ``fsync=False`` the caller makes the data durable itself (one ``os.sync()`` after a
    batch is far cheaper than one fsync per file).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha256_hex(data)
