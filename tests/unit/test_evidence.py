"""Evidence case files (sinks/evidence.py) over an archive written by the archive consumer's own code
(chdb): request by compliance, approval by another admin, export by the requester only, and an offline
check that fails on any changed byte."""

from __future__ import annotations

import io
import time
import zipfile

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sinks import evidence
from sinks.chain import Chainer
from sinks.clickhouse import EmbeddedArchive
from sinks.clickhouse.schema import migrate
from sinks.history import Caller, PermissionDenied
from streams.archive import Batch, write_batch
from tests.unit.test_archive_chain import _sign

NOW = int(time.time() * 1000) - 3_600_000
COMPLIANCE, ADMIN = Caller("wang", "compliance"), Caller("li", "admin")


@pytest.fixture()
def archive():
    with EmbeddedArchive.scratch() as a:
        migrate(a)
        chats = [("wecom.msgaudit", b"zs", orjson.dumps({
            "msgid": f"e{i}", "action": "send", "from": "zs" if i % 2 else "wmC1", "tolist": ["wmC1" if i % 2 else "zs"],
            "roomid": "", "msgtime": NOW + i * 1000, "msgtype": "text", "text": {"content": f"加我微信 {i}"},
            "corpid": "ww1", "seq": i})) for i in range(6)]
        alert = {"alert_id": "al1", "rule": "chat.diversion_phrase", "severity": "high", "score": 80.0,
                 "employee_id": "zs", "team": "t1", "branch": "", "ts": NOW + 5000,
                 "window": {"start": NOW, "end": NOW + 5000}, "title": "引导加私人微信", "explanation": "…",
                 "evidence": [{"topic": "wecom.msgaudit", "id": "e1"}], "rules_version": "v", "detected_at": NOW,
                 "revision": 1}
        write_batch(a, Batch.of([*chats, ("paodan.alerts", b"zs", orjson.dumps(alert))]), Chainer())
        yield a


def _rezip(body: bytes, name: str, change) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(body))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for item in src.namelist():
            data = src.read(item)
            z.writestr(item, change(data) if item == name else data)
    return out.getvalue()


def test_request_approve_export_and_verify(archive):
    key = Ed25519PrivateKey.generate()
    cps = _sign(archive, key)
    with pytest.raises(PermissionDenied):
        evidence.request(archive, ADMIN, "dispute", alert_id="al1")
    rid = evidence.request(archive, COMPLIANCE, "客户投诉跑单", alert_id="al1")
    with pytest.raises(evidence.EvidenceError, match="not approved"):
        evidence.export(archive, COMPLIANCE, rid, key, cps)
    with pytest.raises(PermissionDenied):
        evidence.approve(archive, COMPLIANCE, rid)
    with pytest.raises(PermissionDenied, match="own request"):
        evidence.approve(archive, Caller("wang", "admin"), rid)
    assert evidence.approve(archive, ADMIN, rid)["approved_by"] == "li"
    with pytest.raises(PermissionDenied, match="requester"):
        evidence.export(archive, ADMIN, rid, key, cps)
    body = evidence.export(archive, COMPLIANCE, rid, key, cps)
    assert evidence.verify(body, key.public_key()) == []
    z = zipfile.ZipFile(io.BytesIO(body))
    data, proofs = orjson.loads(z.read("data.json")), orjson.loads(z.read("proofs.json"))
    assert sorted(data["raw"]) == [f"e{i}" for i in range(6)] and len(proofs) == 6
    assert [a["alert_id"] for a in data["alerts"]] == ["al1"] and "引导加私人微信" in z.read("report.html").decode()
    # Every step is in the audit trail.
    steps = archive.execute(f"SELECT action, actor FROM {archive.database}.alert_actions WHERE action LIKE "
                            "'evidence_%' ORDER BY ts")
    assert [s[0] for s in steps] == ["evidence_request", "evidence_approve", "evidence_export"]

    # One changed byte anywhere fails.
    edited = _rezip(body, "data.json", lambda b: b.replace("加我微信 3".encode(), "加我微博 3".encode()))
    assert evidence.verify(edited, key.public_key()) == ["data.json: SHA-256 differs from the manifest"]
    report = _rezip(body, "report.html", lambda b: b[:-1] + b"!")
    assert evidence.verify(report, key.public_key()) == ["report.html: SHA-256 differs from the manifest"]
    # Re-hashing the edited file into the manifest breaks its signature instead.
    def rehash(m: bytes) -> bytes:
        import hashlib
        manifest = orjson.loads(m)
        manifest["files"]["data.json"] = hashlib.sha256(zipfile.ZipFile(io.BytesIO(edited)).read("data.json")).hexdigest()
        return orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
    forged = _rezip(edited, "manifest.json", rehash)
    assert evidence.verify(forged, key.public_key()) == ["manifest.json: signature does not verify"]
    assert evidence.verify(forged, Ed25519PrivateKey.generate().public_key()) != []


def test_a_record_not_the_chained_one_fails_even_in_a_resigned_file(archive):
    """Whoever re-signs an edited case file still cannot make a chat record match its chain block."""
    import hashlib

    key = Ed25519PrivateKey.generate()
    rid = evidence.request(archive, COMPLIANCE, "dispute", employee_id="zs", from_ms=NOW - 1000, to_ms=NOW + 10_000)
    evidence.approve(archive, ADMIN, rid)
    body = evidence.export(archive, COMPLIANCE, rid, key, _sign(archive, key))
    z = zipfile.ZipFile(io.BytesIO(body))
    data = orjson.loads(z.read("data.json"))
    data["raw"]["e3"] = data["raw"]["e3"].replace("加我微信", "加我微博")
    files = {n: z.read(n) for n in evidence.FILES}
    files["data.json"] = orjson.dumps(data)
    manifest = orjson.loads(z.read("manifest.json"))
    manifest["files"] = {n: hashlib.sha256(b).hexdigest() for n, b in files.items()}
    manifest_bytes = orjson.dumps(manifest)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as w:
        for n, b in files.items():
            w.writestr(n, b)
        w.writestr("manifest.json", manifest_bytes)
        w.writestr("manifest.sig", key.sign(manifest_bytes).hex())
    assert evidence.verify(out.getvalue(), key.public_key()) == ["e3: the record's bytes are not the chained ones"]


def test_every_step_is_chained_and_a_changed_step_is_found(archive):
    """Each step's audit record goes to the chained stream before its row is written; archived from
    there by the archive consumer's own code, the steps are links of the chain, and an edited step
    (here: who approved) no longer verifies."""
    from streams.archive_verify import read_blocks
    from streams.archive_verify import verify as verify_archive

    published: list[dict] = []
    rid = evidence.request(archive, COMPLIANCE, "客户投诉跑单", alert_id="al1", publish=published.append)
    evidence.approve(archive, ADMIN, rid, publish=published.append)
    key = Ed25519PrivateKey.generate()
    evidence.export(archive, COMPLIANCE, rid, key, _sign(archive, key), publish=published.append)
    assert [p["action"] for p in published] == ["evidence_request", "evidence_approve", "evidence_export"]
    # As the archive consumer reads them from paodan.alert_actions, after the alert's records.
    write_batch(archive, Batch.of([("paodan.alert_actions", b"zs", orjson.dumps(p)) for p in published]), Chainer())
    report = verify_archive(archive, _sign(archive, key), key.public_key())
    assert report.ok, [f.line() for f in report.findings]
    chained = {rid for b in read_blocks(archive) if b.source == "alert_actions" for rid, _, _ in b.records()}
    assert {orjson.loads(rid)[2] for rid in chained} == {p["action_id"] for p in published}
    assert archive.execute(f"SELECT count() FROM {archive.database}.alert_actions FINAL WHERE action LIKE "
                           "'evidence_%'") == [(3,)]  # the row written at once and the archived one are one
    db = archive.database
    archive.execute(f"ALTER TABLE {db}.alert_actions UPDATE actor = 'zhao' WHERE action = 'evidence_approve' "
                    "SETTINGS mutations_sync = 1")
    report = verify_archive(archive, _sign(archive, key), key.public_key())
    [finding] = report.findings
    assert finding.record.startswith("alert_actions ") and published[1]["action_id"] in finding.record


def test_the_publisher_produces_to_the_alert_actions_topic_by_default(monkeypatch):
    import aiokafka

    from formats.topics import ALERT_ACTIONS

    sent = []

    class Producer:
        def __init__(self, **kwargs) -> None:
            pass

        async def start(self) -> None:
            pass

        async def stop(self) -> None:
            pass

        async def send_and_wait(self, topic, value, key=None) -> None:
            sent.append((topic, key))

    monkeypatch.setattr(aiokafka, "AIOKafkaProducer", Producer)
    evidence.kafka_publisher("127.0.0.1:1")({"employee_id": "zs", "action": "evidence_request"})
    assert sent == [(ALERT_ACTIONS, b"zs")]


def test_images_go_in_with_what_they_say_and_are_covered_by_the_manifest(tmp_path, monkeypatch):
    """An image in the period: its file from the media store and the words read from it (here a personal
    WeChat QR code, read by zxing-cpp as detection reads it) go into the case file."""
    pytest.importorskip("zxingcpp")
    import hashlib

    from config.rules import load_rules
    from config.settings import CONFIG_DIR
    from streams.media import case_file_media
    from tests.unit.test_media_qr import _qr_png

    png = _qr_png("https://u.wechat.com/EJ4kW2ggAbCdEfGh")
    md5 = hashlib.md5(png).hexdigest()
    (tmp_path / md5).write_bytes(png)
    monkeypatch.setenv("PAODAN_MEDIA", str(tmp_path))
    image = {"msgid": "img1", "action": "send", "from": "zs", "tolist": ["wmC1"], "roomid": "",
             "msgtime": NOW + 2500, "msgtype": "image",
             "image": {"md5sum": md5, "filesize": len(png), "sdkfileid": "f1"}, "corpid": "ww1", "seq": 9}
    key = Ed25519PrivateKey.generate()
    with EmbeddedArchive.scratch() as a:
        migrate(a)
        alert = {"alert_id": "al2", "rule": "chat.private_contact", "severity": "high", "score": 80.0,
                 "employee_id": "zs", "team": "t1", "branch": "", "ts": NOW + 2500,
                 "window": {"start": NOW, "end": NOW + 5000}, "title": "发送个人微信二维码", "explanation": "…",
                 "evidence": [{"topic": "wecom.msgaudit", "id": "img1"}], "rules_version": "v", "detected_at": NOW,
                 "revision": 1}
        write_batch(a, Batch.of([("wecom.msgaudit", b"zs", orjson.dumps(image)),
                                 ("paodan.alerts", b"zs", orjson.dumps(alert))]), Chainer())
        rid = evidence.request(a, COMPLIANCE, "二维码引流", alert_id="al2")
        evidence.approve(a, ADMIN, rid)
        media = case_file_media(load_rules(CONFIG_DIR / "rules.yaml").rule("media"))
        body = evidence.export(a, COMPLIANCE, rid, key, _sign(a, key), media=media)
    assert evidence.verify(body, key.public_key()) == []
    z = zipfile.ZipFile(io.BytesIO(body))
    assert z.read(f"media/{md5}") == png
    said = orjson.loads(z.read("data.json"))["media"]["img1"]
    assert said["kind"] == "image" and said["file"] == f"media/{md5}" and "个人微信" in said["text"]
    assert "u.wechat.com" in z.read("report.html").decode()
    swapped = _rezip(body, f"media/{md5}", lambda b: b[:-1] + b"\x00")
    assert evidence.verify(swapped, key.public_key()) == [f"media/{md5}: SHA-256 differs from the manifest"]
    added = io.BytesIO(body)
    with zipfile.ZipFile(added, "a") as extra:
        extra.writestr("media/planted", b"not from the archive")
    assert evidence.verify(added.getvalue(), key.public_key()) == ["media/planted: not in the manifest"]
