"""Follow the hand-overs begun on the board until WeCom settles them, and tell detection the new owner.

WeCom completes a transfer 24 hours after `transfer_customer` unless the customer refuses, and a change
made through the API raises no callback of its own; so `follow` asks `transfer_result` about every
hand-over begun from here (`paodan:handover:<leaver>`, written by dashboard_ws.wecom_actions) and, for
each customer:
- 1 (taken over): an `assignment` record on `hr.events` (CONTRACT.md §5: the taker is `employee_id`, the
  leaver `previous_owner_id`, reason `resignation` or `handover`) — the record a CRM would send, so that
  detectors/handover.py and the hand-over card know the new owner without waiting for one. It leaves
  through the action outbox (dashboard_ws.relay), so Kafka being away loses nothing;
- 3, 4, 5 (refused, the taker at their limit, no transfer on record): the customer waits on the card
  again, to be handed to someone else;
- 2 (waiting): asked again next round.
Every settled customer is audited (`wecom_transfer_result`, actor `paodan:transfer-follower`). The board
follows every `PAODAN_TRANSFER_FOLLOW_S` (config.wecom_app); `paodan act transfer-status --follow` does
one round.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from typing import Any

import orjson

from dashboard_ws.auth import Claims
from dashboard_ws.handover import STARTED_PREFIX
from dashboard_ws.wecom_actions import status_words
from formats.topics import HR
from ingest.wecom_api import WecomError
from sinks.redis_live import OUTBOX

log = logging.getLogger("paodan.board.transfers")
FOLLOWER = Claims(role="admin", team="", exp=0, jti="transfer-follower", sub="paodan:transfer-follower")
TAKEN_OVER, WAITING = 1, 2


def assignment(customer: str, leaver: str, taker: str, ts_ms: int, resigned: bool) -> dict[str, Any]:
    """The `hr.events` record of a completed takeover (pure)."""
    return {"type": "assignment", "ts": ts_ms, "employee_id": taker, "customer_id": customer,
            "previous_owner_id": leaver, "reason": "resignation" if resigned else "handover",
            "source": "wecom_transfer"}


class TransferFollower:
    def __init__(self, actions, clock=time.time):
        self.actions = actions  # dashboard_ws.wecom_actions.WecomActions: its API, Redis, audit, directory
        self.clock = clock

    async def _begun(self) -> dict[tuple[str, str], set[str]]:
        """(leaver, taker) → the customers whose hand-over began here."""
        begun: dict[tuple[str, str], set[str]] = defaultdict(set)
        async for key in self.actions.redis.scan_iter(match=STARTED_PREFIX + "*", count=500):
            leaver = key.decode()[len(STARTED_PREFIX):]
            for customer, raw in (await self.actions.redis.hgetall(key)).items():
                begun[(leaver, orjson.loads(raw)["to"])].add(customer.decode())
        return begun

    async def follow(self) -> list[dict[str, Any]]:
        """One round: every customer whose hand-over WeCom settled since the last round."""
        settled = []
        people = None
        for (leaver, taker), customers in (await self._begun()).items():
            if people is None:
                people = await self.actions._people()
            resigned = (people.get(leaver) or {}).get("status") == "resigned"
            try:
                rows = await self.actions.api.transfer_result(leaver, taker, resigned=resigned)
            except WecomError as exc:
                log.warning("transfer_result for %s → %s failed: %s", leaver, taker, exc.plain)
                continue
            for row in rows:
                customer, status = row.get("external_userid"), row.get("status")
                if customer not in customers or status == WAITING or status is None:
                    continue
                settled.append(await self._settle(leaver, taker, customer, int(status), resigned,
                                                  int(row.get("takeover_time") or 0) * 1000))
        return settled

    async def _settle(self, leaver: str, taker: str, customer: str, status: int, resigned: bool,
                      takeover_ms: int) -> dict[str, Any]:
        outcome = {"from": leaver, "to": taker, "customer": customer, "status": status,
                   "result": status_words(status)}
        redis = self.actions.redis
        if status == TAKEN_OVER:
            record = assignment(customer, leaver, taker, takeover_ms or int(self.clock() * 1000), resigned)
            await redis.xadd(OUTBOX, {"p": orjson.dumps(record), "t": HR})
        await self.actions.audit.write(action="wecom_transfer_result", actor=FOLLOWER.actor,
                                       actor_role=FOLLOWER.role, employee_id=leaver,
                                       status="done" if status == TAKEN_OVER else "failed", detail=outcome)
        await redis.hdel(STARTED_PREFIX + leaver, customer)
        return outcome

    async def follow_forever(self, every_s: float) -> None:
        while True:
            try:
                for outcome in await self.follow():
                    log.info("hand-over of %s from %s to %s: %s", outcome["customer"], outcome["from"],
                             outcome["to"], outcome["result"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis/WeCom/ClickHouse away: try at the next round
                log.warning("following hand-overs failed (%s: %s)", type(exc).__name__, exc)
            await asyncio.sleep(every_s)
