"""Exceptions the CLI turns into one clear line and a non-zero exit status.

IotnoticeError
├── ConfigError        settings, registry or data files that cannot be used
├── InputError         a file to read is missing, unreadable or damaged (names file and offset)
├── NotFoundError      a named thing (sensor, ISP, case) does not exist
└── DeliveryError      a report could not be delivered
"""

from __future__ import annotations

__all__ = ["ConfigError", "DeliveryError", "InputError", "IotnoticeError", "NotFoundError"]


class IotnoticeError(Exception):
    """Base class: an expected failure with a message fit for a user."""


class ConfigError(IotnoticeError):
    """Configuration or a data file it names cannot be used."""


class InputError(IotnoticeError):
    """An input file is missing or damaged."""

    def __init__(self, path: object, message: str, offset: int | None = None) -> None:
        self.path = str(path)
        self.offset = offset
        self.reason = message
        where = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"{self.path}{where}: {message}")


class NotFoundError(IotnoticeError):
    """A named object does not exist."""


class DeliveryError(IotnoticeError):
    """A report could not be delivered."""
