"""Evidence case files: a compliance officer requests one (an alert, or an employee over a period, with a
reason), an admin other than the requester approves it, the requester exports it as a zip that anyone can
check offline. Every step is a row of the audit trail (`alert_actions`: evidence_request, evidence_approve,
evidence_export), so the requests themselves need no table of their own. Each step's record also goes to
`paodan.alert_actions` (`publish`, before the row is written; the CLI produces it to Kafka): the archive
consumer archives it there like a triage action, which links it into the hash chain (sinks/chain.py), so
a changed or deleted evidence step is found by `paodan archive verify`. The row written at once lets the
next step see it before the archive has caught up; both are the same row, stored once.

The zip holds `report.html` (zh-CN, readable), `data.json` (the alert and its triage, the employee's
timeline of chats, contact changes, orders and HR events over the period, each chat record's bytes as
archived, and for images and voice what was read from them), `media/<md5>` (each image or voice file,
where the exporter can read the media store), `proofs.json` (for each chat record, the hash-chain block holding it and the chain's signed
checkpoints, sinks/chain.py) and `manifest.json` (SHA-256 of every other file, the request, the public
key) with `manifest.sig` (Ed25519 over manifest.json). `verify` recomputes all of it: any changed byte
fails.
"""

from __future__ import annotations

import hashlib
import html
import io
import secrets
import time
import zipfile
from typing import Any, Callable

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from detectors.content.media import media_of
from formats.topics import ALERT_ACTIONS as ACTIONS_TOPIC
from sinks.chain import block_hash, body_hash
from sinks.chain_checkpoints import chain_name, cp_chain, public_pem, signature_ok
from sinks.clickhouse.rows import action_row
from sinks.clickhouse.schema import ALERT_ACTIONS
from sinks.clickhouse.writer import read_actions
from sinks.history import Caller, PermissionDenied, timeline

CONTEXT_MS = 3_600_000  # the conversation around an alert: an hour either side of its window
FILES = ("report.html", "data.json", "proofs.json")


class EvidenceError(ValueError):
    """A step that cannot be taken (unknown request, not approved, wrong person); str() says why."""


Publish = Callable[[dict[str, Any]], None]


def kafka_publisher(kafka: str, topic: str = ACTIONS_TOPIC) -> Publish:
    """Produce an audit record to the alert actions topic and wait for the broker, keyed like triage
    actions (the employee), so the archive consumer chains it with them."""
    import asyncio

    from aiokafka import AIOKafkaProducer

    def publish(record: dict[str, Any]) -> None:
        async def send() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", enable_idempotence=True)
            await producer.start()
            try:
                key = str(record.get("employee_id") or record.get("alert_id") or "_system").encode()
                await producer.send_and_wait(topic, orjson.dumps(record), key=key)
            finally:
                await producer.stop()

        asyncio.run(send())

    return publish


def _audit(archive, caller: Caller, action: str, request_id: str, detail: dict[str, Any], alert_id: str = "",
           employee_id: str = "", publish: Publish | None = None) -> None:
    """Audit a step: to the chained stream first (a step that cannot be chained is not taken), then
    the row."""
    record = {"action_id": secrets.token_hex(16), "alert_id": alert_id, "employee_id": employee_id,
              "action": action, "actor": caller.actor, "actor_role": caller.role, "ts": int(time.time() * 1000),
              "detail": {"request": request_id, **detail}}
    if publish is not None:
        publish(record)
    archive.insert(ALERT_ACTIONS, [action_row(record)])


STEPS = ("evidence_request", "evidence_approve", "evidence_export")


def _steps(archive, request_id: str) -> list[dict[str, Any]]:
    rows = archive.execute(f"SELECT action, actor, actor_role, ts, detail FROM {archive.database}.alert_actions FINAL "
                           "WHERE action IN %(a)s AND position(detail, %(r)s) > 0 ORDER BY ts",
                           {"a": STEPS, "r": orjson.dumps({"request": request_id}).decode()[1:-1]})
    return [{"action": a, "actor": actor, "role": role, "ts": int(ts), "detail": orjson.loads(detail or "{}")}
            for a, actor, role, ts, detail in rows]


def request(archive, caller: Caller, reason: str, alert_id: str = "", employee_id: str = "",
            from_ms: int | None = None, to_ms: int | None = None, publish: Publish | None = None) -> str:
    if caller.role != "compliance":
        raise PermissionDenied("only compliance requests case files")
    if not reason.strip():
        raise EvidenceError("a case file needs a reason")
    if alert_id:
        rows = archive.execute(f"SELECT employee_id, window_start, window_end FROM {archive.database}.alerts FINAL "
                               "WHERE alert_id = %(a)s", {"a": alert_id})
        if not rows:
            raise EvidenceError(f"no alert {alert_id}")
        employee_id, start, end = rows[0]
        from_ms, to_ms = int(start) - CONTEXT_MS, int(end) + CONTEXT_MS
    elif not employee_id or from_ms is None or to_ms is None or from_ms > to_ms:
        raise EvidenceError("name an alert, or an employee with a period (--from before --to)")
    request_id = secrets.token_hex(8)
    _audit(archive, caller, "evidence_request", request_id,
           {"reason": reason, "scope": {"alert": alert_id, "employee": employee_id, "from": from_ms, "to": to_ms}},
           alert_id, employee_id, publish)
    return request_id


def state(archive, request_id: str) -> dict[str, Any]:
    """The request and who approved and exported it, from the audit trail."""
    steps = [s for s in _steps(archive, request_id) if s["detail"].get("request") == request_id]
    req = next((s for s in steps if s["action"] == "evidence_request"), None)
    if req is None:
        raise EvidenceError(f"no case-file request {request_id}")
    approvals = [s for s in steps if s["action"] == "evidence_approve" and s["actor"] != req["actor"]
                 and s["role"] == "admin"]
    return {"request_id": request_id, "requester": req["actor"], "reason": req["detail"]["reason"],
            "scope": req["detail"]["scope"], "requested_at": req["ts"],
            "approved_by": approvals[0]["actor"] if approvals else "",
            "exports": [s["ts"] for s in steps if s["action"] == "evidence_export"]}


def recent(archive, limit: int = 50) -> list[dict[str, Any]]:
    """The latest case-file requests, newest first, each as `state()` tells it."""
    rows = archive.execute(f"SELECT detail FROM {archive.database}.alert_actions FINAL WHERE action = 'evidence_request' "
                           "ORDER BY ts DESC LIMIT %(n)s", {"n": limit})
    ids = [orjson.loads(d or "{}").get("request") for (d,) in rows]
    return [state(archive, rid) for rid in ids if rid]


def approve(archive, caller: Caller, request_id: str, publish: Publish | None = None) -> dict[str, Any]:
    st = state(archive, request_id)
    if caller.role != "admin":
        raise PermissionDenied("only an admin approves case files")
    if caller.actor == st["requester"]:
        raise PermissionDenied("the requester cannot approve their own request")
    _audit(archive, caller, "evidence_approve", request_id, {}, st["scope"]["alert"], st["scope"]["employee"],
           publish)
    return state(archive, request_id)


def _proofs(archive, msgids: list[str], checkpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each chat record's block (whole: its hash recomputes from it) and its chain's signed checkpoints."""
    out, db = [], archive.database
    by_chain: dict[str, list[dict[str, Any]]] = {}
    for cp in checkpoints:
        try:
            by_chain.setdefault(cp_chain(cp), []).append(cp)
        except (KeyError, TypeError, ValueError):
            continue
    for msgid in msgids:
        rows = archive.execute(
            f"SELECT writer, source, corp, part, seq, first_offset, last_offset, record_ids, lower(hex(digests)), "
            f"prev, hash FROM {db}.archive_chain FINAL WHERE source = 'messages' AND position(record_ids, %(m)s) > 0 "
            "ORDER BY archived_at DESC LIMIT 1", {"m": orjson.dumps(msgid).decode()})
        if not rows:
            continue
        w, s, c, p, seq, first, last, ids, digests, prev, h = rows[0]
        name = chain_name((s, c, int(p)), w)
        position = orjson.loads(ids)[-1].index(msgid)  # ids column by column; msgid is the last
        later = sorted((cp for cp in by_chain.get(name, []) if int(cp["seq"]) >= int(seq)), key=lambda cp: cp["seq"])
        out.append({"msgid": msgid, "position": position,
                    "block": {"writer": w, "source": s, "corp": c, "part": int(p), "seq": int(seq),
                              "first_offset": int(first), "last_offset": int(last), "record_ids": ids,
                              "digests": digests, "prev": prev, "hash": h},
                    "checkpoints": [cp for cp in later if int(cp["seq"]) == int(seq)] + later[-1:]})
    return out


def _report(st: dict[str, Any], data: dict[str, Any]) -> str:
    e = html.escape
    rows = []
    for item in data["timeline"]:
        d = item["data"]
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(item["ts"] / 1000))
        if item["kind"] == "message":
            text = f"{e(d['sender'])} → {e(','.join(d['tolist']))}：{e(d.get('content') or '<' + d['msgtype'] + '>')}"
            said = data.get("media", {}).get(item["id"])
            if said:
                text += f"<br>〔{e(said['kind'])} {e(said['md5sum'])}〕{e(said['text'] or '（未读出文字 / nothing read）')}"
        else:
            text = e(" ".join(f"{k}={v}" for k, v in d.items() if v not in ("", None)))
        rows.append(f"<tr><td>{when}</td><td>{e(item['kind'])}</td><td>{text}</td></tr>")
    alerts = "".join(f"<li>{e(a['rule'])} {e(a['severity'])}：{e(a['title'])}（{e(a['status'])}）</li>"
                     for a in data["alerts"])
    return (f"<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>证据包 {e(st['request_id'])}</title>"
            f"<h1>证据包 / Case file {e(st['request_id'])}</h1>"
            f"<p>员工 / Employee：{e(st['scope']['employee'])}；申请人 / Requested by：{e(st['requester'])}；"
            f"批准人 / Approved by：{e(st['approved_by'])}；事由 / Reason：{e(st['reason'])}</p>"
            f"<h2>告警 / Alerts</h2><ul>{alerts}</ul>"
            f"<h2>时间线 / Timeline（UTC）</h2><table border=\"1\">{''.join(rows)}</table>"
            "<p>每条聊天记录的原文摘要与哈希链证明见 proofs.json；用 <code>paodan evidence verify</code> 校验。 / "
            "Each chat record's digest and hash-chain proof are in proofs.json; check with "
            "<code>paodan evidence verify</code>.</p></html>")


# What a case file holds of an image or voice record: (the file's bytes or None, what it says) — given by
# the caller that can read the media store (streams.media.case_file_media), None where there is none.
ReadMedia = Callable[[dict[str, Any]], tuple[bytes | None, str]]


def _media(raws: dict[str, str], read: ReadMedia | None) -> tuple[dict[str, dict[str, Any]], dict[str, bytes]]:
    """Per chat record that is an image or voice: its kind, md5, the words read from it and its file in
    the zip (`media/<md5>`); the files."""
    found: dict[str, dict[str, Any]] = {}
    files: dict[str, bytes] = {}
    if read is None:
        return found, files
    for msgid, raw in raws.items():
        record = orjson.loads(raw) if raw else {}
        kind, md5 = media_of(record) or ("", "")
        if not kind:
            continue
        data, text = read(record)
        name = f"media/{md5}" if data is not None and md5 else None
        if name:
            files[name] = data
        found[msgid] = {"kind": kind, "md5sum": md5, "text": text, "file": name}
    return found, files


def export(archive, caller: Caller, request_id: str, signer, checkpoints: list[dict[str, Any]],
           publish: Publish | None = None, media: ReadMedia | None = None) -> bytes:
    """The case file's zip bytes (audited). With `media`, each image and voice record's file and the
    words read from it (QR codes, OCR text, a transcript) go in too, covered by the manifest."""
    st = state(archive, request_id)
    if caller.actor != st["requester"]:
        raise PermissionDenied("only the requester exports the case file")
    if not st["approved_by"]:
        raise EvidenceError("the request is not approved yet (an admin other than the requester approves it)")
    scope = st["scope"]
    items = timeline(archive, caller, scope["employee"], scope["from"], scope["to"], limit=5000)
    msgids = [i["id"] for i in items if i["kind"] == "message"]
    raws = dict(archive.execute(f"SELECT msgid, raw FROM {archive.database}.messages FINAL WHERE msgid IN %(m)s",
                                {"m": tuple(msgids)})) if msgids else {}
    alert_ids = sorted({i["id"] for i in items if i["kind"] == "alert"} | ({scope["alert"]} - {""}))
    triage = read_actions(archive, alert_ids)
    read, media_files = _media(raws, media)
    data = {"request": st, "timeline": items, "alerts": [i["data"] for i in items if i["kind"] == "alert"],
            "triage": triage, "raw": {m: raws.get(m, "") for m in msgids}, "media": read}
    files = {"report.html": _report(st, data).encode(), "data.json": orjson.dumps(data, option=orjson.OPT_INDENT_2),
             "proofs.json": orjson.dumps(_proofs(archive, msgids, checkpoints), option=orjson.OPT_INDENT_2),
             **media_files}
    manifest = orjson.dumps({"request": st, "created_at": int(time.time() * 1000), "exported_by": caller.actor,
                             "files": {n: hashlib.sha256(b).hexdigest() for n, b in files.items()},
                             "public_key": public_pem(signer.public_key()).decode()}, option=orjson.OPT_INDENT_2)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in files.items():
            z.writestr(name, body)
        z.writestr("manifest.json", manifest)
        z.writestr("manifest.sig", signer.sign(manifest).hex())
    body = out.getvalue()
    _audit(archive, caller, "evidence_export", request_id, {"sha256": hashlib.sha256(body).hexdigest(),
                                                            "messages": len(msgids)},
           scope["alert"], scope["employee"], publish)
    return body


def verify(zip_bytes: bytes, public_key=None) -> list[str]:
    """What is wrong with a case file (empty: it verifies). Without `public_key`, the one it carries
    (compare its fingerprint with the deployment's)."""
    try:
        z = zipfile.ZipFile(io.BytesIO(zip_bytes))
        manifest_bytes = z.read("manifest.json")
        manifest = orjson.loads(manifest_bytes)
        sig = bytes.fromhex(z.read("manifest.sig").decode())
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        return [f"not a case file: {exc}"]
    problems = []
    key = public_key or serialization.load_pem_public_key(manifest["public_key"].encode())
    try:
        key.verify(sig, manifest_bytes)
    except InvalidSignature:
        problems.append("manifest.json: signature does not verify")
    listed = manifest.get("files") or {}
    for name in sorted(set(FILES) | set(listed)):  # the three, and every media file the manifest names
        try:
            body = z.read(name)
        except KeyError:
            problems.append(f"{name}: missing")
            continue
        if hashlib.sha256(body).hexdigest() != listed.get(name):
            problems.append(f"{name}: SHA-256 differs from the manifest")
    for name in sorted(set(z.namelist()) - set(listed) - {"manifest.json", "manifest.sig"}):
        problems.append(f"{name}: not in the manifest")
    if problems:
        return problems
    data, proofs = orjson.loads(z.read("data.json")), orjson.loads(z.read("proofs.json"))
    for proof in proofs:
        b = proof["block"]
        body = body_hash(b["record_ids"], bytes.fromhex(b["digests"]))
        if block_hash((b["source"], b["corp"], b["part"]), b["seq"], b["first_offset"], b["last_offset"],
                      bytes.fromhex(b["prev"]), body, b["writer"]).hex() != b["hash"]:
            problems.append(f"{proof['msgid']}: its chain block does not recompute")
        raw = data["raw"].get(proof["msgid"], "")
        digest = b["digests"][64 * proof["position"]:64 * proof["position"] + 64]
        if hashlib.sha256(raw.encode()).hexdigest() != digest:
            problems.append(f"{proof['msgid']}: the record's bytes are not the chained ones")
        for cp in proof["checkpoints"]:
            if not signature_ok(cp, key):
                problems.append(f"{proof['msgid']}: a checkpoint's signature does not verify")
            elif int(cp["seq"]) == b["seq"] and cp["hash"] != b["hash"]:
                problems.append(f"{proof['msgid']}: its block differs from the signed checkpoint")
    return problems
