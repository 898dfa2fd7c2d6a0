"""Case files from the board, on the real Kafka, Redis and ClickHouse: compliance requests one from an
alert over the websocket, the requester cannot approve it, a second admin does, and only the requester
downloads it — a zip that verifies offline, with each step in the audit trail."""

from __future__ import annotations

import aiohttp
import pytest

from config.chain import load_chain
from dashboard_ws.auth import issue
from sinks import evidence
from sinks.chain_checkpoints import load_private_key
from sinks.clickhouse import ClickHouseArchive, alert_state
from sinks.clickhouse.schema import ALERTS, migrate
from tests.browser.boardkit import BoardProcess, WsClient, make_alert
from tests.integration.wecomkit import audit_rows
from tests.live import unique

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def _download(board, token: str, request_id: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{board.url}/api/evidence/{request_id}.zip",
                            headers={"Authorization": f"Bearer {token}"}) as r:
            return r.status, await r.read()


async def test_a_case_file_is_requested_approved_and_downloaded_on_the_board(stack, settings, tmp_path):
    archive = ClickHouseArchive.from_settings(settings)
    migrate(archive)
    alert = make_alert(unique("取证组"), severity="high")
    archive.insert(ALERTS, [alert_state.to_row(alert_state.fold(None, [("alert", alert)]))])
    load_private_key(load_chain(), create=True)  # the deployment's chain key, as a worker makes it
    officer, admin, other = unique("wang"), unique("li"), unique("zhao")
    tokens = {who: issue(settings.secret, role, sub=who)
              for who, role in ((officer, "compliance"), (admin, "admin"), (other, "compliance"))}
    board = BoardProcess(tmp_path).start()
    try:
        async with WsClient(f"{board.ws}?token={tokens[officer]}") as ws:
            asked = await ws.act("evidence_request", alert["alert_id"], reason="劳动仲裁取证")
            assert asked["ok"], asked
            case = asked["result"]["case_file"]
            rid = case["request_id"]
            assert case["requester"] == officer and case["scope"]["alert"] == alert["alert_id"] and not case["approved_by"]
            own = await ws.act("evidence_approve", None, request_id=rid)
            assert not own["ok"] and own["error"] == "forbidden"
            status, body = await _download(board, tokens[officer], rid)
            assert status == 409 and b"not approved" in body
        async with WsClient(f"{board.ws}?token={tokens[admin]}") as ws:
            listed = await ws.act("evidence_requests")
            assert rid in [c["request_id"] for c in listed["case_files"]]
            approved = await ws.act("evidence_approve", None, request_id=rid)
            assert approved["ok"] and approved["result"]["case_file"]["approved_by"] == admin
        async with WsClient(f"{board.ws}?token={issue(settings.secret, 'supervisor', team='华东一组', sub='s1')}") as ws:
            refused = await ws.act("evidence_requests")
            assert not refused["ok"] and refused["error"] == "forbidden"
        status, _ = await _download(board, tokens[other], rid)
        assert status == 403  # only the requester exports
        status, body = await _download(board, tokens[officer], rid)
        assert status == 200 and evidence.verify(body) == []
    finally:
        board.stop()
    steps = [r["status"] for r in audit_rows(settings, "evidence_request", officer)]
    assert steps and [s["detail"]["request"] for s in audit_rows(settings, "evidence_export", officer)] == [rid]
    assert [s["detail"]["request"] for s in audit_rows(settings, "evidence_approve", admin)] == [rid]
