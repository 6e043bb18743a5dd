"""One settings object: shipped defaults -> ``iotnotice.toml`` -> ``IOTNOTICE_*`` environment.

Every setting is declared once in :data:`SETTINGS` (name, default, help); the CLI, the docs
and a test read that table. Nothing reads configuration at import time: callers build a
:class:`Settings` with :func:`load_settings` and pass it down explicitly.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iotnotice.errors import ConfigError

__all__ = ["SETTINGS", "Setting", "Settings", "load_settings"]


@dataclass(frozen=True)
class Setting:
    """A declared setting: its name, default value and one-line help."""

    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "data_dir", "./iotnotice-data", "Directory holding the database, flow store and outbox."
    ),
    Setting("database_url", "", "SQLAlchemy URL; empty means SQLite at DATA_DIR/iotnotice.db."),
    Setting(
        "flow_interval", 60, "Flow-tuple aggregation interval in seconds (corsaro default: 60)."
    ),
    Setting("chunk_packets", 1_000_000, "Packets decoded per chunk during ingest (bounds memory)."),
    Setting("duckdb_memory_limit", "4GB", "Memory limit for DuckDB queries over the flow store."),
    Setting("duckdb_threads", 2, "Threads DuckDB may use."),
    Setting("detect_threads", 2, "Threads detection uses to build and merge partial aggregates."),
    Setting(
        "ip_data",
        "bundled",
        "IP data sources, comma-separated: 'bundled' (geoip2fast data) or .mmdb paths, plus "
        "RouteViews pfx2as / pyasn files (*.pfx2as or ipasn*.dat, optionally .gz/.bz2, or "
        "pfx2as:PATH) whose AS numbers and prefixes win where they have a route.",
    ),
    Setting(
        "isp_registry", "", "ISP registry TOML file; empty means the shipped Japanese default."
    ),
    Setting("country_scope", "JP", "Countries whose ISPs are notified (comma-separated)."),
    Setting(
        "research_networks", "", "Extra research-scanner list (TOML) merged with the shipped one."
    ),
    Setting("mirai_min_packets", 3, "Mirai-fingerprinted SYNs needed to call a source infected."),
    Setting("iot_min_packets", 20, "IoT-port SYNs (no options, initial TTL 64) for 'iot-unknown'."),
    Setting("iot_min_destinations", 10, "Distinct darknet destinations for 'iot-unknown'."),
    Setting(
        "scanner_min_destinations", 100, "Distinct destinations that make an untagged scanner."
    ),
    Setting("backscatter_min_packets", 25, "Backscatter packets per source (corsaro dos: 25)."),
    Setting(
        "backscatter_min_seconds", 60, "Backscatter attack duration in seconds (corsaro dos: 60)."
    ),
    Setting(
        "backscatter_window_packets",
        30,
        "Backscatter packets within one 60 s window (corsaro: 30).",
    ),
    Setting(
        "iot_ports",
        "23,2323,37215,52869,5555,7547,60001,8080,8081,81,9000,49152,6789,5358,2222,22",
        "Destination ports counted as IoT-bot targets (telnet, exploit ports of Mirai variants).",
    ),
    Setting(
        "spoofed_min_percent", 50, "Share (%) of spoofing-flagged packets that marks a source."
    ),
    Setting("tool_min_percent", 50, "Share (%) of Masscan/ZMap-flagged packets for 'scanner'."),
    Setting("suppression_days", 7, "Days before an unchanged case is reported to its ISP again."),
    Setting("case_expiry_days", 30, "Days without a sighting after which an open case expires."),
    Setting("smtp_host", "", "SMTP server for report e-mail; empty leaves messages in the outbox."),
    Setting("smtp_port", 587, "SMTP server port."),
    Setting("smtp_starttls", True, "Upgrade the SMTP connection with STARTTLS (required if set)."),
    Setting("smtp_user", "", "SMTP AUTH user name; empty means no AUTH."),
    Setting("smtp_password", "", "SMTP AUTH password."),
    Setting("smtp_cafile", "", "CA bundle to verify the SMTP server; empty uses the system's."),
    Setting("smtp_timeout", 30, "Seconds before an SMTP connection attempt gives up."),
    Setting("pgp_signing_key", "", "GnuPG key (fingerprint or user ID) that signs report e-mail."),
    Setting("gnupg_home", "", "GnuPG home directory holding that key; empty means gpg's default."),
    Setting("smtp_max_attempts", 6, "Delivery attempts per message before it is marked failed."),
    Setting("smtp_backoff_seconds", 60, "First retry delay; doubles after every failed attempt."),
    Setting("reporter_org", "iotnotice demo CERT", "Organisation named as sender in reports."),
    Setting("reporter_contact", "abuse@iotnotice.example", "Contact address named in reports."),
    Setting("reporter_domain", "iotnotice.example", "Reporter domain for X-ARF reports."),
    Setting("support_site_url", "https://support.iotnotice.example", "Support site address."),
    Setting("support_phone", "0120-000-000", "Support centre phone number shown on the site."),
    Setting("support_hours", "10:00-18:00 (JST, weekdays)", "Support centre opening hours."),
    # ISP toolkit (an ISP's own deployment: its own data dir and database).
    Setting("isp_name", "Example ISP", "The ISP's name as shown to its subscribers in alerts."),
    Setting("isp_support_phone", "0120-111-111", "The ISP's own support phone shown in alerts."),
    Setting("isp_mail_from", "abuse@isp.example", "From address of subscriber alert e-mail."),
    Setting("isp_language", "ja", "Alert language (ja or en) for subscribers with none set."),
    Setting("isp_templates_dir", "", "Directory of alert templates overriding the shipped ones."),
    Setting(
        "isp_radius_timeout", 7200, "Seconds a RADIUS session w/o Stop outlives its last record."
    ),
    Setting("isp_quarantine_filter_id", "walled-garden", "RADIUS Filter-Id for quarantine."),
    Setting("isp_quarantine_set", "iotnotice_quarantine", "nftables/ipset set of quarantined IPs."),
    Setting("isp_coordinator_url", "", "Coordinator API base URL for report pull and status."),
    Setting("isp_coordinator_token", "", "Bearer token for the coordinator API."),
    Setting("isp_coordinator_timeout", 30, "Seconds before a coordinator API request gives up."),
    Setting("web_host", "127.0.0.1", "Address the web UI binds to."),
    Setting("web_port", 8000, "Port the web UI listens on."),
    Setting("secret_key", "", "Key for session cookies; empty means one kept in DATA_DIR."),
    Setting("trusted_proxy_header", "", "Header carrying the client address behind a proxy."),
    Setting("verify_rate_limit", 10, "Notice-ID checks allowed per client address per window."),
    Setting("verify_rate_window", 600, "Window of the notice-ID rate limit, in seconds."),
)

_DEFAULTS = {s.name: s.default for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """Resolved configuration; build with :func:`load_settings`."""

    values: Mapping[str, Any] = field(default_factory=lambda: dict(_DEFAULTS))

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some values changed (validated like any other source)."""
        merged = dict(self.values)
        merged.update(_coerce_all(changes, "arguments"))
        return dataclasses.replace(self, values=merged)

    @property
    def data_path(self) -> Path:
        return Path(self.values["data_dir"]).expanduser()

    @property
    def db_url(self) -> str:
        url = str(self.values["database_url"])
        return url or f"sqlite:///{(self.data_path / 'iotnotice.db').resolve()}"

    @property
    def flows_path(self) -> Path:
        return self.data_path / "flows"

    @property
    def outbox_path(self) -> Path:
        return self.data_path / "outbox"

    @property
    def scope_countries(self) -> tuple[str, ...]:
        raw = str(self.values["country_scope"])
        return tuple(c.strip().upper() for c in raw.split(",") if c.strip())


def _coerce(name: str, value: Any, origin: str) -> Any:
    if name not in _DEFAULTS:
        raise ConfigError(f"{origin}: unknown setting {name!r}")
    default = _DEFAULTS[name]
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.strip().lower() in {"1", "true", "yes", "on"}
        return bool(value)
    if isinstance(default, int):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{origin}: setting {name!r} needs an integer, got {value!r}"
            ) from None
    return str(value)


def _coerce_all(values: Mapping[str, Any], origin: str) -> dict[str, Any]:
    return {k: _coerce(k, v, origin) for k, v in values.items()}


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    # Accept both flat keys and a [iotnotice] table.
    flat = dict(data.get("iotnotice", {}))
    flat.update({k: v for k, v in data.items() if not isinstance(v, dict)})
    return _coerce_all(flat, str(path))


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Defaults, then the TOML file (given, or ./iotnotice.toml), then the environment."""
    env = os.environ if environ is None else environ
    values = dict(_DEFAULTS)
    path = config_file or (Path(env["IOTNOTICE_CONFIG"]) if "IOTNOTICE_CONFIG" in env else None)
    if path is None and Path("iotnotice.toml").is_file():
        path = Path("iotnotice.toml")
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"{path}: configuration file not found")
        values.update(_read_toml(path))
    for name in _DEFAULTS:
        key = f"IOTNOTICE_{name.upper()}"
        if key in env:
            values[name] = _coerce(name, env[key], f"environment {key}")
    values.update(_coerce_all({k: v for k, v in overrides.items() if v is not None}, "arguments"))
    return Settings(values=values)
