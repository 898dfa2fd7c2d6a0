"""Case files on the board: the same request → approval → export steps as `paodan evidence` (sinks/evidence.py).

- `evidence_request` (alert_id; detail: reason) — compliance asks for the case file of an alert; the reply
  carries the request id;
- `evidence_approve` (detail: request_id) — an admin other than the requester approves it;
- `evidence_requests` — the recent requests and where each stands (compliance and admins);
- `GET /api/evidence/{request_id}.zip` — the requester downloads the approved case file (dashboard_ws.api).

Every step is audited and chained exactly as from the command line: each goes to `paodan.alert_actions`
first (a step that cannot be chained is not taken) and then to the archive. The export signs with the
deployment's chain key (config.chain), so the board must run where that key is readable. Images and voice
files are left out here (reading them is the media reader's, in streams/, which the board does not import):
`paodan evidence export` on a host with the media store puts them in.
"""

from __future__ import annotations

import asyncio
from typing import Any

from dashboard_ws.audit import Audit
from dashboard_ws.auth import Claims
from dashboard_ws.lifecycle import ActionError
from sinks import evidence
from sinks.history import Caller, PermissionDenied

SEES_REQUESTS = ("compliance", "admin")


def caller(claims: Claims) -> Caller:
    return Caller(actor=claims.actor, role=claims.role, team=claims.team or "")


class BoardEvidence:
    def __init__(self, audit: Audit, kafka: str):
        self.audit = audit
        self.kafka = kafka
        self.publish = evidence.kafka_publisher(kafka)

    async def _step(self, fn, *args):
        try:
            return await self.audit.query(fn, *args)
        except PermissionDenied as exc:
            raise ActionError("forbidden", f"无权执行 / not allowed: {exc}") from None
        except evidence.EvidenceError as exc:
            raise ActionError("bad_request", str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - Kafka or the archive away: the step is not taken
            raise ActionError("unavailable", f"证据包步骤未执行，请稍后再试 / the step was not taken; try again "
                              f"shortly ({type(exc).__name__})") from None

    async def request(self, claims: Claims, alert_id: str, reason: str) -> dict[str, Any]:
        if not alert_id:
            raise ActionError("bad_request", "需要告警 / an alert_id is needed")
        rid = await self._step(lambda archive: evidence.request(archive, caller(claims), reason, alert_id=alert_id,
                                                                publish=self.publish))
        return await self._step(evidence.state, rid)

    async def approve(self, claims: Claims, request_id: str) -> dict[str, Any]:
        return await self._step(evidence.approve, caller(claims), request_id, self.publish)

    async def listing(self, claims: Claims) -> list[dict[str, Any]]:
        if claims.role not in SEES_REQUESTS:
            raise ActionError("forbidden", "仅合规与管理员可见 / compliance and admins only")
        return await self._step(evidence.recent)

    async def export(self, claims: Claims, request_id: str) -> bytes:
        """The case file's bytes for its requester (the caller turns ActionError into an HTTP status)."""
        from config.chain import load_chain
        from sinks.chain_checkpoints import load_private_key, read_file, read_topic

        chain = load_chain()

        def run(archive) -> bytes:
            checkpoints = read_file(chain.checkpoint_file)
            try:
                checkpoints += asyncio.run(read_topic(self.kafka, chain.checkpoint_topic))
            except Exception:  # noqa: BLE001 - the file's checkpoints still prove what they can
                pass
            return evidence.export(archive, caller(claims), request_id, load_private_key(chain, create=False),
                                   checkpoints, self.publish)

        return await self._step(run)


def handlers(board: BoardEvidence) -> dict[str, Any]:
    async def request(claims: Claims, msg: dict[str, Any]) -> dict[str, Any]:
        detail = msg.get("detail") or {}
        return {"result": {"case_file": await board.request(claims, str(msg.get("alert_id") or ""),
                                                            str(detail.get("reason") or ""))}}

    async def approve(claims: Claims, msg: dict[str, Any]) -> dict[str, Any]:
        return {"result": {"case_file": await board.approve(claims, str((msg.get("detail") or {}).get("request_id")
                                                                         or ""))}}

    async def listing(claims: Claims, _msg: dict[str, Any]) -> dict[str, Any]:
        return {"case_files": await board.listing(claims)}

    return {"evidence_request": request, "evidence_approve": approve, "evidence_requests": listing}
