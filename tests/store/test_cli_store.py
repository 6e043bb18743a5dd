"""`iotnotice sensor` and `iotnotice ingest` as a user runs them."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from pcapbuild import ethernet, ipv4, pcap_bytes, tcp, write

from iotnotice.cli import _register, cli


def run(data: Path, *args: str) -> tuple[int, str, str]:
    _register()
    res = CliRunner().invoke(cli, ["--data-dir", str(data), *args])
    return res.exit_code, res.stdout, res.stderr


def test_sensor_add_and_list(tmp_path: Path) -> None:
    """Sensors are added with prefixes and listed; a bad prefix is one line and exit 1."""
    data = tmp_path / "d"
    code, out, _ = run(
        data, "sensor", "add", "demo", "--prefix", "203.0.113.0/24", "--since", "2024-01-01"
    )
    assert code == 0 and "203.0.113.0/24" in out
    code, _, err = run(data, "sensor", "add", "x", "--prefix", "203.0.113.9/24")
    assert code == 1 and "did you mean 203.0.113.0/24" in err and "Traceback" not in err
    code, out, _ = run(data, "sensor", "list")
    assert code == 0 and "demo" in out and "2024-01-01" in out and "│ x " not in out


def test_ingest_lines_and_exit_status(tmp_path: Path) -> None:
    """One line per file; skipped on re-run; damaged or unreadable files make the exit status 1."""
    data = tmp_path / "d"
    pkt = ethernet(ipv4("192.0.2.1", "203.0.113.1", tcp(dport=23)))
    good = write(tmp_path / "good.pcap", pcap_bytes([(1_717_200_000 + i, pkt) for i in range(50)]))
    run(data, "sensor", "add", "demo", "--prefix", "203.0.113.0/24")
    code, out, err = run(data, "ingest", str(good), "--sensor", "demo")
    assert code == 0 and "ingested" in out and "50 packets" in out, err
    code, out, _ = run(data, "ingest", str(good), "--sensor", "demo")
    assert code == 0 and "skipped" in out
    cut = write(tmp_path / "cut.pcap", good.read_bytes()[:-10])
    code, out, err = run(
        data, "ingest", str(cut), str(tmp_path / "nope.pcap"), str(good), "--sensor", "demo"
    )
    assert code == 1
    assert "damaged" in err and "cut.pcap at byte" in err
    assert "nope.pcap: no such file" in err
    assert "skipped" in out
    assert "Traceback" not in err + out


def test_ingest_unknown_sensor(tmp_path: Path) -> None:
    """An unknown sensor is one clear line and exit 1."""
    code, _, err = run(tmp_path / "d", "ingest", str(tmp_path / "x.pcap"), "--sensor", "ghost")
    assert code == 1
    assert "unknown sensor 'ghost'" in err
    assert len(err.strip().splitlines()) == 1
