"""Report formats: Shadowserver CSV columns and names, X-ARF schema validity, e-mail."""

from __future__ import annotations

import copy
import csv
import io
import re
from datetime import UTC, date, datetime
from email import message_from_bytes, policy

from iotnotice.db.models import Case, Isp
from iotnotice.notify import shadowserver, xarf
from iotnotice.notify.email import build_message
from iotnotice.notify.files import sha256_hex
from iotnotice.settings import load_settings

# Copied from Shadowserver's report_schema reports.json (event4_honeypot_darknet "fields").
EXPECTED_COLUMNS = [
    "timestamp",
    "protocol",
    "src_ip",
    "src_port",
    "src_asn",
    "src_geo",
    "src_region",
    "src_city",
    "src_hostname",
    "src_naics",
    "src_sector",
    "device_vendor",
    "device_type",
    "device_model",
    "severity",
    "dst_ip",
    "dst_port",
    "dst_asn",
    "dst_geo",
    "dst_region",
    "dst_city",
    "dst_hostname",
    "dst_naics",
    "dst_sector",
    "public_source",
    "infection",
    "family",
    "tag",
    "application",
    "version",
    "event_id",
    "count",
]
# IntelMQ's Shadowserver parser accepts a file only if its name matches this.
INTELMQ_FILENAME = re.compile(r"^(?:\d{4}-\d{2}-\d{2}-)?(\w+)(-\w+)*\.csv$")
SETTINGS = load_settings(environ={})


def _case(**kw: object) -> Case:
    values: dict[str, object] = {
        "notice_id": "7K3M-Q9ZD-A1TR-2",
        "ip": "198.51.100.7",
        "asn": 64500,
        "country": "JP",
        "family": "mirai",
        "confidence": 0.98,
        "packets": 321,
        "ports": "2323/tcp,23/tcp",
        "first_seen": datetime(2026, 3, 1, 1, 2, 3, tzinfo=UTC),
        "last_seen": datetime(2026, 3, 2, 4, 5, 6, tzinfo=UTC),
        "evidence": {"src_port": 51234, "sensor_prefix": "203.0.113.0/24"},
        "status": "new",
    }
    values.update(kw)
    return Case(**values)


def test_csv_header_is_exactly_shadowservers() -> None:
    """The CSV header is the event4_honeypot_darknet column list, in order, nothing else."""
    assert list(shadowserver.columns()) == EXPECTED_COLUMNS
    text = shadowserver.render_csv([_case()]).decode()
    assert next(csv.reader(io.StringIO(text))) == EXPECTED_COLUMNS


def test_csv_row_values() -> None:
    """A case becomes one fully quoted row with what we know and empty cells elsewhere."""
    text = shadowserver.render_csv([_case(), _case(ip="198.51.100.8", asn=None)]).decode()
    assert text.splitlines()[1].startswith('"2026-03-02 04:05:06","tcp","198.51.100.7"')
    rows = list(csv.DictReader(io.StringIO(text), dialect="unix"))
    assert len(rows) == 2
    first = rows[0]
    assert (first["src_port"], first["src_asn"], first["src_geo"]) == ("51234", "64500", "JP")
    assert (first["dst_port"], first["infection"], first["count"]) == ("2323", "mirai", "321")
    assert first["event_id"] == "7K3M-Q9ZD-A1TR-2" and first["severity"] == "high"
    assert first["dst_ip"] == "" and first["src_city"] == ""
    assert rows[1]["src_asn"] == ""


def test_csv_file_name_is_shadowserver_style() -> None:
    """File names follow YYYY-MM-DD-event4_honeypot_darknet-<isp>.csv and IntelMQ's pattern."""
    name = shadowserver.csv_filename(date(2026, 3, 2), "Beta.ne.jp (東日本)")
    assert name.startswith("2026-03-02-event4_honeypot_darknet-")
    match = INTELMQ_FILENAME.match(name)
    assert match is not None and match.group(1) == "event4_honeypot_darknet"
    assert shadowserver.csv_filename(date(2026, 3, 2), "alpha-net") == (
        "2026-03-02-event4_honeypot_darknet-alpha-net.csv"
    )


def test_xarf_report_is_valid() -> None:
    """A case's X-ARF document validates against the official v4 schema."""
    doc = xarf.report(_case(), SETTINGS, "2026-03-02")
    assert xarf.errors(doc) == []
    assert (doc["category"], doc["type"], doc["source_identifier"]) == (
        "infrastructure",
        "botnet",
        "198.51.100.7",
    )
    assert doc["malware_family"] == "mirai" and doc["source_port"] == 51234
    assert doc["report_id"] == xarf.report(_case(), SETTINGS, "2026-03-02")["report_id"]


def test_xarf_evidence_hides_sensor_addresses() -> None:
    """Evidence strings that are addresses (the sensor's prefix) are not put in the report."""
    payload = xarf.render(xarf.report(_case(), SETTINGS, "2026-03-02"))
    import base64
    import json

    doc = json.loads(payload)
    evidence = base64.b64decode(doc["evidence"][0]["payload"]).decode()
    assert "203.0.113" not in evidence and "51234" in evidence


def test_xarf_schema_check_rejects_bad_documents() -> None:
    """The schema check is real: a missing required field or a wrong value is reported."""
    good = xarf.report(_case(), SETTINGS, "2026-03-02")
    broken = copy.deepcopy(good)
    del broken["compromise_evidence"]
    assert any("compromise_evidence" in e for e in xarf.errors(broken))
    for field, value in [
        ("type", "bot"),
        ("report_id", "123"),
        ("timestamp", "yesterday"),
        ("confidence", 1.5),
        ("tags", ["Mirai"]),
    ]:
        bad = copy.deepcopy(good)
        bad[field] = value
        assert xarf.errors(bad), field
    bad = copy.deepcopy(good)
    bad["reporter"]["contact"] = "nobody"
    assert xarf.errors(bad)


def test_email_in_isp_language_with_csv_attached() -> None:
    """A Japanese ISP gets a Japanese e-mail, the CSV attached byte for byte."""
    isp = Isp(
        name="beta",
        display_name="Beta",
        display_name_ja="ベータ通信",
        language="ja",
        contacts=["soc@beta.example", "noc@beta.example"],
    )
    csv_bytes = shadowserver.render_csv([_case()])
    now = datetime(2026, 3, 2, 6, tzinfo=UTC)
    msg = build_message(
        SETTINGS, isp, [_case()], "2026-03-02", "r.csv", csv_bytes, sha256_hex(csv_bytes), now
    )
    parsed = message_from_bytes(msg.as_bytes(), policy=policy.default)
    assert "感染" in str(parsed["Subject"])
    assert str(parsed["To"]) == "soc@beta.example, noc@beta.example"
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "ベータ通信" in text and "7K3M-Q9ZD-A1TR-2" in text and "198.51.100.7" in text
    (attachment,) = list(parsed.iter_attachments())
    assert attachment.get_filename() == "r.csv"
    assert attachment.get_content().encode() == csv_bytes
    again = build_message(
        SETTINGS, isp, [_case()], "2026-03-02", "r.csv", csv_bytes, sha256_hex(csv_bytes), now
    )
    assert again["Message-ID"] == msg["Message-ID"]


def test_email_english() -> None:
    """An English-language ISP gets an English e-mail."""
    isp = Isp(name="alpha", display_name="Alpha Net", language="en", contacts=["a@alpha.example"])
    csv_bytes = shadowserver.render_csv([_case()])
    msg = build_message(
        SETTINGS,
        isp,
        [_case()],
        "2026-03-02",
        "r.csv",
        csv_bytes,
        "00",
        datetime(2026, 3, 2, tzinfo=UTC),
    )
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    assert "Dear Alpha Net abuse team" in body.get_content()
    assert str(msg["Subject"]).startswith("[iotnotice demo CERT] Infected IoT devices")


def test_the_source_port_of_detection_evidence_reaches_every_format() -> None:
    """Detection keeps the source port in its header sample (evidence["sample"]); the CSV,
    X-ARF and JSON reports carry it (they read only a top-level src_port before)."""
    from iotnotice.notify import jsonreport

    sample = {"dst_port": 23, "src_port": 38133, "protocol": 6, "ttl": 51, "tcp_flags": 2}
    case = _case(evidence={"rule": "mirai-fingerprint", "sample": sample})
    text = shadowserver.render_csv([case]).decode()
    assert next(csv.DictReader(io.StringIO(text), dialect="unix"))["src_port"] == "38133"
    assert jsonreport.case_record(case)["src_port"] == 38133
    assert xarf.report(case, SETTINGS, "2026-03-02")["source_port"] == 38133
    # no port anywhere, or nonsense: left out, never invented
    for evidence in ({"rule": "x"}, {"sample": {"src_port": 0}}, {"sample": {"src_port": True}}):
        assert shadowserver.row(_case(evidence=evidence))["src_port"] == ""
