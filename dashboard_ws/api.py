"""The board's HTTP API (GET only; token as `Authorization: Bearer …` or `?token=`).

`GET /api/evidence/{request_id}.zip` — an approved case file, for its requester (dashboard_ws.evidence):
403 for anyone else or before an admin approved it, with the reason.

`GET /api/alerts/{alert_id}/evidence` — what lies behind an alert, for the detail panel:
- `messages`: the alert's evidence messages (matched spans in `highlights`, `hit: true`) and, for roles
  that may read content, the surrounding conversation of the first one;
- `timeline`: the employee's contact changes, orders, HR events and alerts from a day before the alert's
  window to a day after (no message content);
- `content`: whether message text is included. Supervisors get a metadata-only view (who, when, to whom,
  type and length): triage by a team lead needs the pattern, compliance reads the words.

Answers come from the archive through `sinks.history` (the same permission-checked, audited queries as
`paodan history`): every response that carries message content was first recorded as a `view_content`
row in `alert_actions`, and if that audit write fails no content is returned. An alert the caller may
not see is a 404, like one that does not exist.
"""

from __future__ import annotations

import asyncio
import logging
import re
from http import HTTPStatus
from typing import Any

import orjson
from websockets.datastructures import Headers
from websockets.http11 import Response

from config.settings import Settings
from dashboard_ws.auth import Claims
from dashboard_ws.lifecycle import ActionError
from formats.topics import MSGAUDIT
from sinks.privacy import mask_title
from sinks import history
from sinks.clickhouse.connection import ClickHouseArchive
from sinks.redis_live import LiveAlerts

log = logging.getLogger("paodan.board.api")
EVIDENCE = re.compile(r"^/api/alerts/([A-Za-z0-9_.:-]{1,128})/evidence$")
CASE_FILE = re.compile(r"^/api/evidence/([0-9a-f]{16})\.zip$")
DAY_MS = 86_400_000
MAX_EVIDENCE = 50
CONTEXT = 5


def json_response(status: HTTPStatus, body: Any) -> Response:
    headers = Headers([("Content-Type", "application/json; charset=utf-8"), ("Cache-Control", "no-store"),
                       ("X-Content-Type-Options", "nosniff")])
    return Response(status.value, status.phrase, headers, orjson.dumps(body))


def _summary(item: dict[str, Any], content: bool) -> str:
    """One line per timeline item; an alert's title without chat details for viewers who may not read them."""
    d = item["data"]
    if item["kind"] == "order":
        return f"{d['order_id']} {d['event']} {d['amount']} {d['currency']}"
    if item["kind"] == "contact":
        return f"{d['change_type']} {d['external_user_id']}"
    if item["kind"] == "hr":
        return " ".join(str(v) for v in (d.get("type"), d.get("team"), d.get("status"), d.get("reason")) if v)
    title = d["title"] if content else mask_title(d["title"])
    return f"{d['severity']} {d['rule']} {title} ({d['status'] or 'new'})"


class Api:
    def __init__(self, settings: Settings, live: LiveAlerts, case_files=None):
        self.settings = settings
        self.live = live
        self.case_files = case_files  # dashboard_ws.evidence.BoardEvidence
        self._archive: ClickHouseArchive | None = None
        self._lock = asyncio.Lock()  # one clickhouse-driver connection, used by one thread at a time

    async def handle(self, claims: Claims, path: str, query: dict[str, list[str]]) -> Response:
        case = CASE_FILE.match(path)
        if case and self.case_files is not None:
            return await self._case_file(claims, case.group(1))
        match = EVIDENCE.match(path)
        if not match:
            return json_response(HTTPStatus.NOT_FOUND, {"error": "not found"})
        alert, _, _ = await self.live.alert(match.group(1))
        if alert is None or not claims.can_see(alert):
            return json_response(HTTPStatus.NOT_FOUND, {"error": "no such alert"})
        try:
            async with self._lock:
                body = await asyncio.to_thread(self._evidence, claims, alert)
        except history.PermissionDenied as exc:
            return json_response(HTTPStatus.FORBIDDEN, {"error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - archive away: say so, the live board goes on
            log.warning("evidence for %s failed (%s: %s)", alert["alert_id"], type(exc).__name__, exc)
            self._archive = None
            return json_response(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "the archive is unavailable; retry shortly"})
        return json_response(HTTPStatus.OK, body)

    async def _case_file(self, claims: Claims, request_id: str) -> Response:
        try:
            body = await self.case_files.export(claims, request_id)
        except ActionError as exc:
            status = {"forbidden": HTTPStatus.FORBIDDEN, "bad_request": HTTPStatus.CONFLICT}.get(
                exc.code, HTTPStatus.SERVICE_UNAVAILABLE)
            return json_response(status, {"error": str(exc)})
        headers = Headers([("Content-Type", "application/zip"), ("Cache-Control", "no-store"),
                           ("Content-Disposition", f'attachment; filename="case-{request_id}.zip"'),
                           ("X-Content-Type-Options", "nosniff")])
        return Response(HTTPStatus.OK.value, HTTPStatus.OK.phrase, headers, body)

    def _evidence(self, claims: Claims, alert: dict[str, Any]) -> dict[str, Any]:
        if self._archive is None:
            self._archive = ClickHouseArchive.from_settings(self.settings)
        # A manager of several teams asks as a supervisor of this alert's team (can_see checked it).
        team = claims.team if claims.sees_all else alert.get("team") or claims.team
        archive, caller = self._archive, history.Caller(actor=claims.actor, role=claims.role, team=team or "")
        content = claims.can_read_content
        spans: dict[str, list[dict[str, int]]] = {}
        for h in alert.get("highlights", ()):
            # Only spans in the message's text line up with the archived content; spans inside other
            # parts (a mixed item, a 名片) have offsets of their own.
            if h.get("part", "text") != "text" or h.get("start", -1) < 0:
                continue
            spans.setdefault(h.get("msgid") or h.get("id"), []).append({"start": h["start"], "end": h["end"]})
        ids = [e["id"] for e in alert.get("evidence", ()) if e.get("topic") == MSGAUDIT][:MAX_EVIDENCE]
        found = {m["msgid"]: m for m in history.messages(archive, caller, ids, content=content,
                                                         alert_id=alert["alert_id"])}
        if content and ids and ids[0] in found:
            around = history.context(archive, caller, ids[0], before=CONTEXT, after=CONTEXT,
                                     alert_id=alert["alert_id"])
            for m in around["before"] + around["after"]:
                found.setdefault(m["msgid"], m)
        messages = []
        for m in sorted(found.values(), key=lambda m: (m["ts"], m["msgid"])):
            hit = m["msgid"] in ids
            messages.append({**m, "msgtime": m["ts"], "hit": hit,
                             "highlights": spans.get(m["msgid"], []) if content else []})
        window = alert.get("window") or {"start": alert["ts"], "end": alert["ts"]}
        try:
            items = history.timeline(archive, caller, alert["employee_id"], since_ms=window["start"] - DAY_MS,
                                     until_ms=window["end"] + DAY_MS, limit=100,
                                     kinds=("contact", "order", "hr", "alert"))
        except history.PermissionDenied:
            items = []  # the archive does not (yet) place the employee in the caller's team
        # Evidence the archive has not stored yet (the sink flushes about once a second): the page
        # asks again rather than showing an alert without its messages.
        pending = [i for i in ids if i not in found]
        return {"alert_id": alert["alert_id"], "content": content, "messages": messages, "pending": pending,
                "timeline": [{"ts": i["ts"], "kind": i["kind"], "summary": _summary(i, content)} for i in items]}
