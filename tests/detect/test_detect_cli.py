"""`iotnotice detect`, `hosts`, `explain` and `evaluate` from the command line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner, Result
from flowstore import DARKNET, flow, syns, write_store

from iotnotice.cli import _register, cli

ROWS = (
    syns("126.1.1.1", 5, mirai_cnt=1, tcp_synlen=20, ttl=52)
    + syns("8.8.4.4", 120, ports=[443], tcp_synlen=28, ttl=120)
    + [flow(src_ip="1.2.3.4", dst_ip=DARKNET + 3, tcp_flags=18, packet_cnt=5)]
)


def _run(tmp_path: Path, *args: str) -> Result:
    _register()
    return CliRunner().invoke(
        cli, ["--data-dir", str(tmp_path / "data"), *args], env={"COLUMNS": "250"}
    )


def test_detect_hosts_explain(tmp_path: Path) -> None:
    """detect prints the class table; hosts lists CSV/JSON; explain prints the evidence."""
    write_store(tmp_path / "data" / "flows", ROWS)
    result = _run(tmp_path, "detect")
    assert result.exit_code == 0, result.output
    assert "infected" in result.output and "3 sources" in result.output
    out = _run(tmp_path, "hosts", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out.output)))
    assert [r["ip"] for r in rows if r["classification"] == "infected"] == ["126.1.1.1"]
    assert rows[0]["isp"] == "softbank" and "mirai-fingerprint" in rows[0]["evidence"]
    target = tmp_path / "hosts.json"
    assert (
        _run(
            tmp_path, "hosts", "--class", "scanner", "--format", "json", "--output", str(target)
        ).exit_code
        == 0
    )
    assert [h["ip"] for h in json.loads(target.read_text())] == ["8.8.4.4"]
    table = _run(tmp_path, "hosts", "--class", "backscatter")
    assert "1.2.3.4" in table.output and "126.1.1.1" not in table.output
    explained = json.loads(_run(tmp_path, "explain", "126.1.1.1").output)
    assert explained["evidence"]["counts"]["mirai_cnt"] == 5
    assert explained["evidence"]["sample"]["dst_port"] == 23
    assert explained["first_seen"].endswith("+00:00")


def test_explain_unknown_and_bad_ip(tmp_path: Path) -> None:
    """explain gives one-line errors for an unseen host and for text that is not an address."""
    unseen = _run(tmp_path, "explain", "192.0.2.1")
    assert unseen.exit_code == 1 and "not among the detected hosts" in unseen.output
    bad = _run(tmp_path, "explain", "nonsense")
    assert bad.exit_code == 1 and "not an IP address" in bad.output


def test_detect_on_empty_store(tmp_path: Path) -> None:
    """With no flows at all detect succeeds and reports zero sources."""
    result = _run(tmp_path, "detect")
    assert result.exit_code == 0, result.output
    assert "0 sources" in result.output


def test_evaluate(tmp_path: Path) -> None:
    """evaluate prints precision and recall per class against a truth CSV."""
    write_store(tmp_path / "data" / "flows", ROWS)
    assert _run(tmp_path, "detect").exit_code == 0
    truth = tmp_path / "truth.csv"
    truth.write_text(
        "ip,label,family,packets\n126.1.1.1,infected,mirai,5\n8.8.4.4,infected,iot-unknown,120\n"
        "1.2.3.4,backscatter,os,5\n"
    )
    out = _run(tmp_path, "evaluate", "--truth", str(truth)).output
    line = next(x for x in out.splitlines() if " infected " in x)
    assert "1.0000" in line and "0.5000" in line  # precision 1, recall 1/2
    missing = _run(tmp_path, "evaluate", "--truth", str(tmp_path / "none.csv"))
    assert missing.exit_code == 1 and "truth file not found" in missing.output
