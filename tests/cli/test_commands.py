"""The command line as a user meets it: help everywhere, one-line errors, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from iotnotice.cli import _register, cli

BIN = Path(sys.executable).with_name("iotnotice")


def run(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IOTNOTICE_DATA_DIR": str(data)}
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, env=env, timeout=300)


def _all_commands() -> list[list[str]]:
    _register()
    out: list[list[str]] = []

    def walk(cmd: click.Command, path: list[str]) -> None:
        out.append(path)
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])

    walk(cli, [])
    return out


def test_every_command_has_help() -> None:
    """`--help` works for every command and sub-command and says what it does."""
    from click.testing import CliRunner

    runner = CliRunner()
    paths = _all_commands()
    names = {p[0] for p in paths if p}
    for required in (
        "simulate",
        "sensor",
        "ingest",
        "detect",
        "hosts",
        "notify",
        "stats",
        "serve",
        "demo",
        "check",
    ):
        assert required in names, required
    for path in paths:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


@pytest.mark.parametrize(
    "make_args, expect",
    [
        (lambda d: ["ingest", str(d / "missing.pcap")], "missing.pcap"),
        (lambda d: ["ingest", str(d / "notes.txt")], "notes.txt"),
        (lambda d: ["ingest", "--sensor", "nosuch", str(d / "notes.txt")], "nosuch"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, make_args: object, expect: str) -> None:
    """A missing file, a file that is not a capture, an unknown sensor: one line, exit 1."""
    (tmp_path / "notes.txt").write_text("this is not a capture file\n" * 20)
    args = make_args(tmp_path)  # type: ignore[operator]
    proc = run(*args, data=tmp_path / "data")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert expect in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 1


def test_bad_config_is_one_line(tmp_path: Path) -> None:
    """A broken configuration file stops every command with one line naming the file."""
    cfg = tmp_path / "broken.toml"
    cfg.write_text("flow_interval = [\n")
    proc = run("--config", str(cfg), "sensor", "list", data=tmp_path / "data")
    assert proc.returncode != 0
    assert "broken.toml" in proc.stderr and "Traceback" not in proc.stderr


def test_simulate_ingest_detect_hosts(tmp_path: Path) -> None:
    """The documented commands in sequence; `hosts --format csv` has the promised columns."""
    data = tmp_path / "data"
    pcap, truth = tmp_path / "s.pcap", tmp_path / "t.csv"
    assert (
        run(
            "simulate", str(pcap), "--truth", str(truth), "--packets", "50000", data=data
        ).returncode
        == 0
    )
    assert run("sensor", "add", "tokyo", "--prefix", "203.0.113.0/24", data=data).returncode == 0
    listed = run("sensor", "list", data=data)
    assert "tokyo" in listed.stdout and "203.0.113.0/24" in listed.stdout
    ing = run("ingest", str(pcap), "--sensor", "tokyo", data=data)
    assert ing.returncode == 0, ing.stderr
    again = run("ingest", str(pcap), "--sensor", "tokyo", data=data)
    assert again.returncode == 0 and "skipped" in again.stdout.lower()
    assert run("detect", data=data).returncode == 0
    out = run("hosts", "--class", "infected", "--format", "csv", data=data)
    assert out.returncode == 0, out.stderr
    header = out.stdout.splitlines()[0].split(",")
    for col in (
        "ip",
        "classification",
        "family",
        "confidence",
        "first_seen",
        "last_seen",
        "packets",
        "ports",
        "asn",
        "as_name",
        "country",
        "isp",
    ):
        assert col in header
    assert len(out.stdout.splitlines()) > 1
    stats = run("stats", "--format", "json", data=data)
    assert stats.returncode == 0, stats.stderr
    assert run("notify", "--dry-run", data=data).returncode == 0
    assert run("check", data=data).returncode == 0


def test_lazy_command_map_names_every_command() -> None:
    """The part -> commands map the lazy group loads from matches each part's module exactly."""
    import importlib

    from iotnotice.cli.commands import PART_COMMANDS

    for part, names in PART_COMMANDS.items():
        module = importlib.import_module(f"iotnotice.cli.{part}")
        assert tuple(c.name for c in module.commands) == names, part


def test_running_a_command_imports_only_its_part() -> None:
    """`iotnotice sensor --help` loads the store commands, not the web app or the detector."""
    code = (
        "import sys; from iotnotice.cli import cli; "
        "cli(['sensor', '--help'], standalone_mode=False); "
        "print(sorted(m for m in sys.modules if m.startswith('iotnotice.cli.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = out.stdout.strip().splitlines()[-1]
    assert "iotnotice.cli.store" in loaded
    assert "iotnotice.cli.web" not in loaded and "iotnotice.cli.detect" not in loaded
