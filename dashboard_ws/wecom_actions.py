"""Actions through WeCom's API, shared by the board (websocket actions) and `paodan act`.

- `wecom_message` — message customers officially (`add_msg_template`, single chat) about an alert, sent
  by the manager or another employee, never by the employee the alert is about. Unless named, the
  customers are those in the alert's archived evidence, else the employee's (`externalcontact/list`). WeCom puts it in the
  sender's 群发助手 to confirm; `fail_list` names customers it could not reach.
- `wecom_notify` — tell the responsible manager (`message/send`, a text card linking to the alert).
- `wecom_transfer` — hand customers over: on-job `transfer_customer`, or `resigned/transfer_customer`
  when the directory says the employee has left; ≤100 customers a call; WeCom completes the takeover
  after 24 hours unless the customer refuses. `wecom_transfer_status` follows it (`transfer_result`).

Every action needs a reason and an explicit confirmation, passes a permission check (the actor's role
and teams, the directory), has an idempotency key (the same key never reaches WeCom twice: a repeat
answers the first result), is audited in `alert_actions` before WeCom is called (`status=requested`;
no audit row, no call) and again with the outcome, and reports WeCom's errors in plain zh-CN/English.
Frequency limits (45009) are retried with backoff by ingest.wecom_api.

Redis: `paodan:wecom_act:<key>` — `pending` while the call runs, then the result (7 days).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any, Mapping

import orjson
import redis.asyncio as aioredis

from dashboard_ws import directory
from dashboard_ws.audit import Audit
from dashboard_ws.auth import Claims
from dashboard_ws.handover import mark_started
from dashboard_ws.lifecycle import ActionError, authorize
from formats.topics import MSGAUDIT
from sinks.privacy import mask_title
from ingest.wecom_api import WecomApi, WecomError
from sinks.redis_live import LiveAlerts

KEY_PREFIX = "paodan:wecom_act:"
RESULT_TTL_S = 7 * 86_400
PENDING_TTL_S = 600
MAX_TEXT_BYTES = 4000
MAX_CUSTOMERS = 10_000
TRANSFER_BATCH = 100
TRANSFER_STATUS = {1: ("接替完毕", "taken over"), 2: ("等待接替", "waiting for takeover"),
                   3: ("客户拒绝", "the customer refused"), 4: ("接替成员客户数已达上限", "the taker is at their limit"),
                   5: ("无接替记录", "no transfer on record")}
EXTERNAL_PREFIXES = ("wo", "wm")


def status_words(status: Any) -> str:
    """A `transfer_result` status in words, zh-CN / English."""
    return " / ".join(TRANSFER_STATUS.get(status, ("未知", "unknown")))


def idempotency_key(action: str, *parts: Any) -> str:
    """A key derived from what the action does, for callers that bring none (the CLI)."""
    return action + ":" + hashlib.sha256(orjson.dumps(parts)).hexdigest()[:32]


def _need(detail: Mapping[str, Any]) -> str:
    """Reason and confirmation, which every WeCom action requires."""
    reason = detail.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ActionError("bad_request", "请填写原因 / a reason is required")
    if detail.get("confirm") is not True:
        raise ActionError("confirm_required", "请确认此操作（confirm） / confirm the action first")
    return reason.strip()[:500]


def _ids(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and 0 < len(v) <= 64 for v in value):
        raise ActionError("bad_request", f"{what} 须为 id 列表 / {what} must be a list of ids")
    return list(dict.fromkeys(value))


def supervises(claims: Claims, people: Mapping[str, Mapping[str, Any]], userid: str) -> bool:
    """Whether `claims` may act for or on `userid`: everyone for compliance/admin, their teams' members
    (and themselves) for a supervisor."""
    return claims.sees_all or userid == claims.sub or claims.sees_team((people.get(userid) or {}).get("team"))


def check_message(claims: Claims, alert: dict[str, Any] | None, people: Mapping[str, Mapping[str, Any]],
                  detail: Mapping[str, Any]) -> dict[str, Any]:
    """The cleaned request of a `wecom_message`, or ActionError (pure)."""
    authorize(claims, "wecom_message", alert)
    assert alert is not None
    reason = _need(detail)
    sender = detail.get("sender") or claims.sub
    text = detail.get("text")
    if not isinstance(sender, str) or not sender:
        raise ActionError("bad_request", "请指定发送人 / name the sender")
    if sender == alert.get("employee_id"):
        raise ActionError("forbidden", "不能由被预警的员工发送 / the employee the alert is about cannot be the sender")
    sender_entry = people.get(sender)
    if sender_entry is None or sender_entry.get("status") == "resigned":
        raise ActionError("bad_request", f"发送人 {sender} 不在通讯录或已离职 / sender {sender} is not an active member")
    if not supervises(claims, people, sender):
        raise ActionError("forbidden", f"你不能以 {sender} 的名义发送 / you may not send as {sender}")
    if not isinstance(text, str) or not text.strip():
        raise ActionError("bad_request", "请填写消息内容 / the message text is required")
    if len(text.encode()) > MAX_TEXT_BYTES:
        raise ActionError("bad_request", f"消息超过 {MAX_TEXT_BYTES} 字节 / the message is longer than {MAX_TEXT_BYTES} bytes")
    customers = _ids(detail.get("customers"), "customers")
    if not customers:
        raise ActionError("bad_request", "请指定客户 / name the customers")
    if len(customers) > MAX_CUSTOMERS:
        raise ActionError("bad_request", f"一次最多 {MAX_CUSTOMERS} 位客户 / at most {MAX_CUSTOMERS} customers")
    return {"sender": sender, "text": text.strip(), "customers": customers, "reason": reason}


def check_transfer(claims: Claims, people: Mapping[str, Mapping[str, Any]], detail: Mapping[str, Any]
                   ) -> dict[str, Any]:
    """The cleaned request of a `wecom_transfer`, or ActionError (pure). `resigned` from the directory."""
    reason = _need(detail)
    handover, takeover = detail.get("from"), detail.get("to")
    if not isinstance(handover, str) or not handover or not isinstance(takeover, str) or not takeover:
        raise ActionError("bad_request", "请指定原跟进人和接替人 / name who hands over (from) and who takes over (to)")
    if handover == takeover:
        raise ActionError("bad_request", "接替人不能是原跟进人 / the taker must be someone else")
    if handover == claims.sub:
        raise ActionError("forbidden", "不能转接自己的客户 / you cannot hand over your own customers")
    for who in (handover, takeover):
        if who not in people:
            raise ActionError("bad_request", f"{who} 不在通讯录 / {who} is not in the directory")
        if not supervises(claims, people, who):
            raise ActionError("forbidden", f"{who} 不在你管理的团队 / {who} is not in a team you supervise")
    if people[takeover].get("status") == "resigned":
        raise ActionError("bad_request", f"接替人 {takeover} 已离职 / the taker {takeover} has left")
    customers = _ids(detail.get("customers"), "customers")
    message = detail.get("message") or ""
    if not isinstance(message, str) or len(message) > 200:
        raise ActionError("bad_request", "转接提示最多 200 字 / the hand-over message is at most 200 characters")
    return {"from": handover, "to": takeover, "customers": customers, "reason": reason, "message": message,
            "resigned": people[handover].get("status") == "resigned"}


def customers_in(messages: list[tuple[str, list[str]]]) -> list[str]:
    """The external contacts (customers) among the senders and recipients of messages."""
    found: dict[str, None] = {}
    for sender, tolist in messages:
        for party in (sender, *tolist):
            if party.startswith(EXTERNAL_PREFIXES):
                found[party] = None
    return list(found)


def _evidence_customers(archive, msgids: list[str]) -> list[str]:
    if not msgids:
        return []
    rows = archive.execute(f"SELECT sender, tolist FROM {archive.database}.messages WHERE msgid IN %(ids)s "
                           "ORDER BY msgtime, msgid",
                           {"ids": tuple(msgids)})
    return customers_in([(r[0], list(r[1])) for r in rows])


def check_notify(claims: Claims, alert: dict[str, Any] | None, people: Mapping[str, Mapping[str, Any]],
                 detail: Mapping[str, Any]) -> dict[str, Any]:
    """The cleaned request of a `wecom_notify`, or ActionError (pure). Default recipient: the manager of
    the employee the alert is about; anyone else must be in a team the actor supervises."""
    authorize(claims, "wecom_notify", alert)
    assert alert is not None
    reason = _need(detail)
    manager = (people.get(alert.get("employee_id", "")) or {}).get("manager_id") or ""
    to = detail.get("to") or manager
    if not isinstance(to, str) or not to:
        raise ActionError("bad_request", "通讯录中没有该员工的主管，请指定接收人 / the directory names no manager; "
                          "name the recipient")
    if to == alert.get("employee_id"):
        raise ActionError("forbidden", "不能通知被预警的员工本人 / the employee the alert is about cannot be notified")
    if to not in people or people[to].get("status") == "resigned":
        raise ActionError("bad_request", f"{to} 不在通讯录或已离职 / {to} is not an active member")
    if to != manager and not supervises(claims, people, to):
        raise ActionError("forbidden", f"{to} 不在你管理的团队 / {to} is not in a team you supervise")
    return {"to": to, "reason": reason}


def text_card(alert: dict[str, Any], reason: str, board_url: str) -> dict[str, str]:
    """A text card about an alert: no chat content (a card can be forwarded), a link to it on the board."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime((alert.get("ts") or 0) / 1000))
    title = f"跑单预警：{mask_title(alert.get('title') or alert.get('rule', ''))}"
    description = (f'<div class="gray">{when}</div><div class="highlight">{alert.get("severity", "")} · '
                   f'{alert.get("employee_id", "")} · {alert.get("team", "")}</div><div>{reason}</div>')
    return {"title": title.encode()[:128].decode(errors="ignore"),
            "description": description.encode()[:512].decode(errors="ignore"),
            "url": f"{board_url.rstrip('/')}/#alert={alert.get('alert_id', '')}"}


class WecomActions:
    def __init__(self, live: LiveAlerts, api: WecomApi, audit: Audit, board_url: str = ""):
        self.board_url = board_url
        self.live = live
        self.api = api
        self.audit = audit
        self.redis: aioredis.Redis = live.redis

    # --- idempotency ----------------------------------------------------------------------------

    async def _once(self, key: str, run) -> dict[str, Any]:
        if not isinstance(key, str) or not 8 <= len(key) <= 200:
            raise ActionError("bad_request", "idempotency key 须为 8–200 个字符 / the idempotency key must be 8–200 characters")
        slot = KEY_PREFIX + key
        if not await self.redis.set(slot, b"pending", nx=True, ex=PENDING_TTL_S):
            stored = await self.redis.get(slot)
            if stored == b"pending" or stored is None:
                raise ActionError("in_progress", "同一操作正在进行 / the same action is in progress")
            return {**orjson.loads(stored), "repeated": True}
        try:
            result = await run()
        except BaseException:
            await self.redis.delete(slot)  # not done: the same key may try again
            raise
        await self.redis.set(slot, orjson.dumps(result), ex=RESULT_TTL_S)
        return result

    async def _people(self) -> dict[str, dict[str, Any]]:
        try:
            return await self.audit.query(directory.load)
        except Exception as exc:  # noqa: BLE001
            raise ActionError("unavailable", "暂时无法读取通讯录，请稍后再试 / the directory cannot be read now; "
                              f"try again shortly ({type(exc).__name__})") from None

    async def _call(self, claims: Claims, action: str, alert: dict[str, Any] | None, request: dict[str, Any],
                    key: str, call) -> dict[str, Any]:
        """Audit `requested`, call WeCom, audit the outcome; the result or a plain-words ActionError."""
        alert = alert or {}
        where = {"alert_id": alert.get("alert_id", ""), "employee_id": alert.get("employee_id", request.get("from", "")),
                 "team": alert.get("team", "")}
        await self.audit.write(action=action, actor=claims.actor, actor_role=claims.role, status="requested",
                               detail={**request, "key": key}, **where)
        try:
            answer = await call()
        except WecomError as exc:
            await self.audit.write(action=action, actor=claims.actor, actor_role=claims.role, status="failed",
                                   detail={**request, "key": key, "errcode": exc.errcode, "errmsg": exc.errmsg}, **where)
            raise ActionError("wecom_error", exc.plain) from None
        await self.audit.write(action=action, actor=claims.actor, actor_role=claims.role, status="done",
                               detail={**request, "key": key, "answer": answer}, **where)
        return answer

    # --- actions --------------------------------------------------------------------------------

    async def message(self, claims: Claims, alert_id: str, detail: dict[str, Any]) -> dict[str, Any]:
        alert, _, _ = await self.live.alert(alert_id) if alert_id else (None, {}, "0")
        people = await self._people()
        if alert is not None and not detail.get("customers"):
            ids = [e["id"] for e in alert.get("evidence", ()) if e.get("topic") == MSGAUDIT]
            found = await self.audit.query(_evidence_customers, ids)
            if not found and alert.get("employee_id"):  # no archived evidence: the suspect's customers
                found = await self._customers_of(alert["employee_id"], resigned=False)
            detail = {**detail, "customers": found}
        request = check_message(claims, alert, people, detail)
        key = detail.get("key") or idempotency_key("wecom_message", alert_id, request["sender"], request["text"],
                                                    request["customers"])

        async def run() -> dict[str, Any]:
            answer = await self._call(claims, "wecom_message", alert, request, key, lambda: self.api.message_customers(
                request["sender"], request["customers"], request["text"]))
            failed = list(answer.get("fail_list") or [])
            return {"msgid": answer.get("msgid", ""), "sender": request["sender"],
                    "sent_to": [c for c in request["customers"] if c not in failed], "failed": failed,
                    "note": "已提交，发送人需在企业微信「群发助手」中确认发送 / submitted: the sender confirms it "
                            "in WeCom's 群发助手 (mass-message assistant)"}

        return await self._once(key, run)

    async def notify(self, claims: Claims, alert_id: str, detail: dict[str, Any]) -> dict[str, Any]:
        if not self.board_url:
            raise ActionError("unavailable", "未设置 PAODAN_BOARD_URL，卡片无法链接到看板 / PAODAN_BOARD_URL is not "
                              "set: the card could not link to the board")
        alert, _, _ = await self.live.alert(alert_id) if alert_id else (None, {}, "0")
        request = check_notify(claims, alert, await self._people(), detail)
        assert alert is not None
        card = text_card(alert, request["reason"], self.board_url)
        key = detail.get("key") or idempotency_key("wecom_notify", alert_id, request["to"])

        async def run() -> dict[str, Any]:
            answer = await self._call(claims, "wecom_notify", alert, {**request, "card": card}, key,
                                      lambda: self.api.send_text_card([request["to"]], **card))
            invalid = [u for u in (answer.get("invaliduser") or "").split("|") if u]
            if invalid:
                raise ActionError("wecom_error", f"{request['to']} 收不到应用消息（不在应用可见范围） / "
                                  f"{request['to']} cannot receive the app's messages (outside its visible range)")
            return {"to": request["to"], "msgid": answer.get("msgid", ""), "url": card["url"]}

        return await self._once(key, run)

    async def transfer(self, claims: Claims, alert_id: str, detail: dict[str, Any]) -> dict[str, Any]:
        alert = None
        if alert_id:
            alert, _, _ = await self.live.alert(alert_id)
            authorize(claims, "wecom_transfer", alert)
        request = check_transfer(claims, await self._people(), detail)
        if not request["customers"]:
            request["customers"] = await self._customers_of(request["from"], request["resigned"])
        if not request["customers"]:
            raise ActionError("bad_request", f"{request['from']} 没有可转接的客户 / {request['from']} has no "
                              "customers to hand over")
        key = detail.get("key") or idempotency_key("wecom_transfer", request["from"], request["to"],
                                                    request["customers"])

        async def run() -> dict[str, Any]:
            results: list[dict[str, Any]] = []
            for i in range(0, len(request["customers"]), TRANSFER_BATCH):
                batch = request["customers"][i:i + TRANSFER_BATCH]
                answer = await self._call(
                    claims, "wecom_transfer", alert, {**request, "customers": batch}, key,
                    lambda batch=batch: self.api.transfer_customers(request["from"], request["to"], batch,
                                                                    resigned=request["resigned"],
                                                                    message=request["message"]))
                for c in answer.get("customer") or []:
                    code = int(c.get("errcode") or 0)
                    results.append({"customer": c.get("external_userid"), "errcode": code,
                                    "result": "已开始转接，24 小时后自动接替 / started: taken over automatically after 24 h"
                                    if code == 0 else WecomError(code, "").plain})
            begun = [r["customer"] for r in results if r["errcode"] == 0]
            await mark_started(self.redis, request["from"], begun, request["to"], int(time.time() * 1000))
            return {"from": request["from"], "to": request["to"], "resigned": request["resigned"],
                    "customers": results, "started": len(begun)}

        return await self._once(key, run)

    async def _customers_of(self, userid: str, resigned: bool) -> list[str]:
        try:
            return await self.api.customers_of(userid, resigned=resigned)
        except WecomError as exc:
            raise ActionError("wecom_error", exc.plain) from None

    async def transfer_status(self, claims: Claims, detail: dict[str, Any]) -> dict[str, Any]:
        people = await self._people()
        handover, takeover = detail.get("from"), detail.get("to")
        for who in (handover, takeover):
            if not isinstance(who, str) or who not in people or not supervises(claims, people, who):
                raise ActionError("forbidden", f"{who} 不在你管理的团队 / {who} is not in a team you supervise")
        resigned = people[handover].get("status") == "resigned"
        try:
            rows = await self.api.transfer_result(handover, takeover, resigned=resigned)
        except WecomError as exc:
            raise ActionError("wecom_error", exc.plain) from None
        return {"from": handover, "to": takeover, "resigned": resigned,
                "customers": [{"customer": r.get("external_userid"), "status": r.get("status"),
                               "takeover_time": r.get("takeover_time") or 0,
                               "result": status_words(r.get("status"))}
                              for r in rows]}


def handlers(actions: WecomActions) -> dict[str, Any]:
    """Board websocket actions: `wecom_message` (alert_id; detail: sender, text, customers?, reason,
    confirm, key), `wecom_transfer` (detail: from, to, customers?, message?, reason, confirm, key),
    `wecom_transfer_status` (detail: from, to). Replies carry `result`."""

    async def message(claims: Claims, msg: dict[str, Any]) -> dict[str, Any]:
        return {"result": await actions.message(claims, str(msg.get("alert_id") or ""), msg.get("detail") or {})}

    async def transfer(claims: Claims, msg: dict[str, Any]) -> dict[str, Any]:
        return {"result": await actions.transfer(claims, str(msg.get("alert_id") or ""), msg.get("detail") or {})}

    async def status(claims: Claims, msg: dict[str, Any]) -> dict[str, Any]:
        return {"result": await actions.transfer_status(claims, msg.get("detail") or {})}

    async def notify(claims: Claims, msg: dict[str, Any]) -> dict[str, Any]:
        return {"result": await actions.notify(claims, str(msg.get("alert_id") or ""), msg.get("detail") or {})}

    return {"wecom_message": message, "wecom_transfer": transfer, "wecom_transfer_status": status,
            "wecom_notify": notify}
