"""A client of WeCom's server API (qyapi): the access token, retries, and WeCom's errors in plain words.

Every call goes to `WecomApp.api` with the documented path, query and JSON body. The access token from
`/cgi-bin/gettoken` is cached until shortly before its `expires_in` and fetched again when WeCom says
it is invalid or expired (40014, 42001) — once per call, so a bad secret cannot loop. Frequency limits
(45009) and "system busy" (-1) are retried with exponential backoff and jitter; other errors raise
WecomError at once. The secret travels only in the gettoken query and is never logged: log lines name
the path, never the URL.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

import aiohttp

from config.wecom_app import WecomApp

log = logging.getLogger("paodan.wecom")

TOKEN_ERRORS = (40014, 42001)  # invalid / expired access_token: fetch a new one
RETRY_ERRORS = (45009, -1)  # frequency limit, system busy: wait and retry
TOKEN_MARGIN_S = 300  # renew this long before WeCom's expiry, so a call never races it

# WeCom's global error codes our calls can meet, in words a manager understands (zh-CN, English).
PLAIN = {
    -2: ("无法连接企业微信或其回答无法识别", "WeCom could not be reached or its answer was not understood"),
    -1: ("企业微信系统繁忙，请稍后再试", "WeCom is busy; try again shortly"),
    40001: ("应用 Secret 不正确，请管理员检查配置", "the app secret is wrong; ask an admin to check the settings"),
    40003: ("成员不存在或不在应用可见范围", "no such member, or the member is outside the app's visible range"),
    40013: ("企业 ID 不正确，请管理员检查配置", "the corp id is wrong; ask an admin to check the settings"),
    40014: ("访问令牌无效", "the access token is invalid"),
    40029: ("登录码无效或已使用，请重新从企业微信打开", "the sign-in code is invalid or used; open the board from WeCom again"),
    40058: ("请求参数不合法", "a request parameter is not valid"),
    40096: ("客户不存在或不是该成员的客户", "no such customer, or not this member's customer"),
    40097: ("该成员尚未离职，请用在职继承", "the member has not resigned; use the on-job transfer"),
    40098: ("接替成员尚未实名认证", "the taking-over member has not verified their identity"),
    40099: ("接替成员的客户数已达上限", "the taking-over member has reached their customer limit"),
    40100: ("客户已在转接流程中", "the customer is already being transferred"),
    40129: ("客户正在转接中", "the customer is being transferred"),
    41001: ("缺少访问令牌", "the access token is missing"),
    42001: ("访问令牌已过期", "the access token has expired"),
    44004: ("消息内容为空", "the message text is empty"),
    45009: ("调用企业微信太频繁，已达频率上限，请稍后再试", "WeCom's rate limit was reached; try again later"),
    48002: ("应用没有该接口的权限，请管理员在后台授权", "the app may not call this API; an admin must grant it in the console"),
    50001: ("跳转域名不是应用的可信域名", "the redirect domain is not the app's trusted domain"),
    60011: ("应用没有权限操作该成员或客户（不在可见范围）", "the app has no privilege over this member or customer (outside its visible range)"),
    60020: ("服务器 IP 不在应用的企业可信 IP 列表", "this server's IP is not in the app's trusted IPs"),
    84061: ("该客户在 90 天内已被转接两次", "this customer was already transferred twice in 90 days"),
}


class WecomError(RuntimeError):
    """WeCom answered with a non-zero errcode (or not at all: -2); `plain` says it in words for people."""

    def __init__(self, errcode: int, errmsg: str, path: str = ""):
        self.errcode, self.errmsg, self.path = errcode, errmsg, path
        super().__init__(f"{path}: errcode {errcode} ({errmsg})")

    @property
    def plain(self) -> str:
        zh, en = PLAIN.get(self.errcode, ("企业微信返回错误", "WeCom returned an error"))
        return f"{zh} / {en}（错误码 errcode {self.errcode}）"


class WecomApi:
    def __init__(self, app: WecomApp, *, attempts: int = 4, backoff_s: float = 0.5,
                 timeout_s: float = 10.0, clock=time.monotonic):
        self.app = app
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.clock = clock
        self._token: str | None = None
        self._token_until = 0.0
        self._token_lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def _send(self, method: str, path: str, query: dict[str, str], body: dict | None) -> dict[str, Any]:
        try:
            async with self._http().request(method, self.app.api + path, params=query, json=body) as resp:
                if resp.status != 200:
                    raise WecomError(-2, f"HTTP {resp.status}", path)
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            raise WecomError(-2, f"{type(exc).__name__}: unreachable or not JSON", path) from None
        if not isinstance(data, dict):
            raise WecomError(-2, "answer is not a JSON object", path)
        return data

    async def token(self, *, renew: bool = False) -> str:
        """The cached access token, fetched from /cgi-bin/gettoken when missing, near expiry or `renew`."""
        async with self._token_lock:
            if renew or self._token is None or self.clock() >= self._token_until:
                data = await self._retrying("GET", "/cgi-bin/gettoken",
                                            {"corpid": self.app.corpid, "corpsecret": self.app.secret}, None)
                self._token = str(data["access_token"])
                ttl = int(data.get("expires_in") or 7200)
                self._token_until = self.clock() + max(ttl - TOKEN_MARGIN_S, ttl // 2)
            return self._token

    async def _retrying(self, method: str, path: str, query: dict[str, str], body: dict | None) -> dict[str, Any]:
        for attempt in range(self.attempts):
            data = await self._send(method, path, query, body)
            code = int(data.get("errcode") or 0)
            if code == 0:
                return data
            if code in RETRY_ERRORS and attempt + 1 < self.attempts:
                delay = self.backoff_s * 2 ** attempt * (0.5 + random.random())
                log.warning("%s: errcode %s, retrying in %.2fs", path, code, delay)
                await asyncio.sleep(delay)
                continue
            raise WecomError(code, str(data.get("errmsg") or ""), path)
        raise AssertionError("unreachable")

    async def call(self, method: str, path: str, query: dict[str, str] | None = None,
                   body: dict | None = None) -> dict[str, Any]:
        """One API call with the access token; WecomError unless errcode is 0."""
        token = await self.token()
        for renewed in (False, True):
            try:
                return await self._retrying(method, path, {"access_token": token, **(query or {})}, body)
            except WecomError as exc:
                if exc.errcode not in TOKEN_ERRORS or renewed:
                    raise
                log.info("%s: access token %s, fetching a new one", path,
                         "expired" if exc.errcode == 42001 else "invalid")
                token = await self.token(renew=True)
        raise AssertionError("unreachable")

    # --- the calls Paodan makes (paths and fields as WeCom documents them) ----------------------

    async def user_from_code(self, code: str) -> dict[str, Any]:
        """`/cgi-bin/auth/getuserinfo`: `userid` for a member, `openid` (no userid) for anyone else."""
        return await self.call("GET", "/cgi-bin/auth/getuserinfo", {"code": code})

    async def message_customers(self, sender: str, external_userids: list[str], text: str) -> dict[str, Any]:
        """`add_msg_template` for a single chat sent by `sender`: answers `msgid` and `fail_list`."""
        return await self.call("POST", "/cgi-bin/externalcontact/add_msg_template", body={
            "chat_type": "single", "external_userid": external_userids, "sender": sender,
            "text": {"content": text}})

    async def transfer_customers(self, handover: str, takeover: str, external_userids: list[str], *,
                                 resigned: bool, message: str = "") -> dict[str, Any]:
        """On-job (`transfer_customer`) or resigned (`resigned/transfer_customer`) hand-over, ≤100 a call;
        `customer` lists each customer's errcode (0: the 24-hour takeover has begun)."""
        body: dict[str, Any] = {"handover_userid": handover, "takeover_userid": takeover,
                                "external_userid": external_userids}
        if message and not resigned:
            body["transfer_success_msg"] = message  # only the on-job call tells the customer
        path = "/cgi-bin/externalcontact/" + ("resigned/transfer_customer" if resigned else "transfer_customer")
        return await self.call("POST", path, body=body)

    async def transfer_result(self, handover: str, takeover: str, *, resigned: bool) -> list[dict[str, Any]]:
        """Every customer's takeover status (1 done, 2 waiting, 3 refused, 4 taker at limit, 5 no record)."""
        path = "/cgi-bin/externalcontact/" + ("resigned/transfer_result" if resigned else "transfer_result")
        customers: list[dict[str, Any]] = []
        cursor = ""
        while True:
            body = {"handover_userid": handover, "takeover_userid": takeover}
            if cursor:
                body["cursor"] = cursor
            data = await self.call("POST", path, body=body)
            customers += data.get("customer") or []
            cursor = data.get("next_cursor") or ""
            if not cursor:
                return customers

    async def customers_of(self, userid: str, *, resigned: bool) -> list[str]:
        """A member's customers: `externalcontact/list` for an on-job member; for one who has left, their
        entries in `get_unassigned_list` (customers still waiting to be handed over)."""
        if not resigned:
            data = await self.call("GET", "/cgi-bin/externalcontact/list", {"userid": userid})
            return list(data.get("external_userid") or [])
        found: list[str] = []
        cursor = ""
        while True:
            body: dict[str, Any] = {"page_size": 1000}
            if cursor:
                body["cursor"] = cursor
            data = await self.call("POST", "/cgi-bin/externalcontact/get_unassigned_list", body=body)
            found += [i["external_userid"] for i in data.get("info") or [] if i.get("handover_userid") == userid]
            cursor = data.get("next_cursor") or ""
            if data.get("is_last", True) or not cursor:
                return list(dict.fromkeys(found))

    async def send_text_card(self, touser: list[str], title: str, description: str, url: str) -> dict[str, Any]:
        """`/cgi-bin/message/send` as the app: a text card linking to `url`."""
        return await self.call("POST", "/cgi-bin/message/send", body={
            "touser": "|".join(touser), "msgtype": "textcard", "agentid": int(self.app.agentid),
            "textcard": {"title": title, "description": description, "url": url, "btntxt": "详情"}})

    async def add_intercept_rule(self, name: str, words: list[str], userids: list[str]) -> str:
        """`add_intercept_rule`: warn and block (intercept_type 1) the words, phone numbers, e-mail
        addresses and red packets (semantics 1, 2, 3) in the members' customer chats; the rule id."""
        data = await self.call("POST", "/cgi-bin/externalcontact/add_intercept_rule", body={
            "rule_name": name[:20], "word_list": words, "semantics_list": [1, 2, 3], "intercept_type": 1,
            "applicable_range": {"user_list": userids}})
        return str(data["rule_id"])

    async def update_intercept_rule(self, rule_id: str, *, words: list[str] | None = None, add_users: list[str] = (),
                                    remove_users: list[str] = ()) -> None:
        """`update_intercept_rule`: new words for the rule, members added to or removed from it."""
        body: dict[str, Any] = {"rule_id": rule_id}
        if words is not None:
            body["word_list"] = list(words)
        if add_users:
            body["add_applicable_range"] = {"user_list": list(add_users)}
        if remove_users:
            body["remove_applicable_range"] = {"user_list": list(remove_users)}
        await self.call("POST", "/cgi-bin/externalcontact/update_intercept_rule", body=body)

    async def del_intercept_rule(self, rule_id: str) -> None:
        await self.call("POST", "/cgi-bin/externalcontact/del_intercept_rule", body={"rule_id": rule_id})
