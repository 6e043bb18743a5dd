"""`iotnotice check`: every component's own check, collected (as IntelMQ's bots each have one)."""

from __future__ import annotations

from collections.abc import Callable

from iotnotice.errors import IotnoticeError
from iotnotice.settings import Settings

__all__ = ["CHECKS", "run_checks"]


def _database(settings: Settings) -> list[str]:
    from iotnotice.db import connect

    connect(settings).dispose()
    return []


def _ip_data(settings: Settings) -> list[str]:
    import numpy as np

    from iotnotice.enrich.ipdata import load_ip_data

    load_ip_data(settings).lookup(np.array([0x08080808], dtype=np.uint32))
    return []


def _registry(settings: Settings) -> list[str]:
    from iotnotice.enrich.registry import check_registry, load_registry

    return list(check_registry(load_registry(settings)))


def _research(settings: Settings) -> list[str]:
    from iotnotice.detect.research import load_research_networks

    load_research_networks(settings)
    return []


def _notify(settings: Settings) -> list[str]:
    from iotnotice.notify.check import check

    return list(check(settings))


def _honeypot(settings: Settings) -> list[str]:
    from iotnotice.honeypot import check

    return list(check())


def _web(settings: Settings) -> list[str]:
    from iotnotice.web.check import check

    return list(check(settings))


def _stats(settings: Settings) -> list[str]:
    from iotnotice.stats.check import check

    return list(check(settings))


def _flow_store(settings: Settings) -> list[str]:
    from iotnotice.store.query import connect_duckdb

    connect_duckdb(settings).execute("SELECT count(*) FROM flows").fetchone()
    return []


CHECKS: dict[str, Callable[[Settings], list[str]]] = {
    "database": _database,
    "ip data": _ip_data,
    "ISP registry": _registry,
    "research networks": _research,
    "report formats": _notify,
    "honeypot credentials": _honeypot,
    "flow store": _flow_store,
    "statistics": _stats,
    "web": _web,
}


def run_checks(settings: Settings) -> list[tuple[str, str]]:
    """Run every check; return (component, problem) pairs, empty when all is well."""
    problems: list[tuple[str, str]] = []
    for name, check in CHECKS.items():
        try:
            problems.extend((name, p) for p in check(settings))
        except IotnoticeError as exc:
            problems.append((name, str(exc)))
        except (OSError, ValueError) as exc:
            problems.append((name, f"{exc.__class__.__name__}: {exc}"))
    return problems
