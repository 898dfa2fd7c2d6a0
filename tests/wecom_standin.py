"""A stand-in for WeCom's server API and OAuth page, over real HTTP, for tests (WeCom cannot be reached here).

It implements the documented requests and answers of the calls Paodan makes — gettoken, auth/getuserinfo,
externalcontact/add_msg_template, (resigned/)transfer_customer, (resigned/)transfer_result, message/send,
externalcontact/list, externalcontact/get_unassigned_list, add/update/del_intercept_rule —
and WeCom's error codes: 40013/40001 bad corp id/secret, 41001 no token, 40014 invalid token, 42001 expired
token, 40029 invalid or reused code, 45009 frequency limit, 60011 no privilege, 40096/40097 bad customer or
member not resigned. Every request's shape is checked (method, path, query parameters, JSON body fields
and their types); a request that breaks the shape gets errcode 40058 and is kept in `violations`, so a test
can assert there were none. `requests` keeps every call as (method, path, query, body).

The OAuth page `/connect/oauth2/authorize` checks its query like WeCom's and redirects to `redirect_uri`
with a one-time `code` for `signed_in_as` (5 minutes, usable once), as WeCom does inside its app.

Runs in a thread with its own event loop, so sync code, subprocesses and async tests can all call it.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import urlencode, urlparse

from aiohttp import web

CODE_TTL_S = 300


MAX_INTERCEPT_RULES = 100  # a corp's sensitive-word rules (path 95097)


@dataclass
class Member:
    userid: str
    resigned: bool = False
    customers: set[str] = field(default_factory=set)
    dimission_time: int = 0  # when they left (s), as get_unassigned_list reports it


def _shape(body: Any, required: dict[str, type], optional: dict[str, type]) -> list[str]:
    """What is wrong with a JSON body against the documented fields (empty: nothing)."""
    if not isinstance(body, dict):
        return ["the body is not a JSON object"]
    problems = [f"missing {k}" for k in required if k not in body]
    for k, v in body.items():
        kind = required.get(k) or optional.get(k)
        if kind is None:
            problems.append(f"undocumented field {k}")
        elif not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
            problems.append(f"{k} must be {kind.__name__}")
    return problems


class WecomStandIn:
    def __init__(self, corpid: str = "ww1436e0e65a779aee", secret: str = "standin-secret-0123456789abcdef",
                 agentid: str = "1000002", trusted_domain: str = "127.0.0.1"):
        self.corpid, self.secret, self.agentid = corpid, secret, agentid
        self.trusted_domain = trusted_domain
        self.members: dict[str, Member] = {}
        self.tokens: dict[str, float] = {}  # access token → expiry (time.time)
        self.token_ttl_s = 7200
        self.codes: dict[str, tuple[str, float]] = {}  # code → (userid or "openid:…", expiry)
        self.signed_in_as = ""
        self.requests: list[tuple[str, str, dict[str, str], Any]] = []
        self.violations: list[str] = []
        self.failures: dict[str, list[int]] = {}  # path → errcodes to answer next, in order
        self.transfers: list[dict[str, Any]] = []  # per customer: handover, takeover, status, resigned
        self.messages: list[dict[str, Any]] = []
        self.no_privilege: set[str] = set()  # userids outside the app's visible range
        self.rules: dict[str, dict[str, Any]] = {}  # intercept rules by rule_id
        self.cursors: dict[str, int] = {}  # get_unassigned_list's next_cursor → where the next page starts
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- test controls --------------------------------------------------------------------------

    def member(self, userid: str, *customers: str, resigned: bool = False) -> Member:
        m = self.members.setdefault(userid, Member(userid))
        m.customers.update(customers)
        if resigned and not m.resigned:
            m.dimission_time = int(time.time())
        m.resigned = resigned or m.resigned
        return m

    def fail_next(self, path: str, *errcodes: int) -> None:
        self.failures.setdefault(path, []).extend(errcodes)

    def expire_tokens(self) -> None:
        """Every issued access token expires now (the next call with one gets 42001)."""
        for token in self.tokens:
            self.tokens[token] = 0

    def issue_code(self, userid: str) -> str:
        code = secrets.token_urlsafe(24)
        self.codes[code] = (userid, time.time() + CODE_TTL_S)
        return code

    def calls(self, path: str) -> list[tuple[str, str, dict[str, str], Any]]:
        return [r for r in self.requests if r[1] == path]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- server ---------------------------------------------------------------------------------

    def start(self) -> "WecomStandIn":
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="wecom-standin", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the WeCom stand-in did not start")
        return self

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)  # type: ignore[union-attr]
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)  # type: ignore[union-attr]

    ROUTES = {
        "/cgi-bin/gettoken": ("GET", "_gettoken"),
        "/cgi-bin/auth/getuserinfo": ("GET", "_getuserinfo"),
        "/cgi-bin/externalcontact/add_msg_template": ("POST", "_add_msg_template"),
        "/cgi-bin/externalcontact/transfer_customer": ("POST", "_transfer"),
        "/cgi-bin/externalcontact/resigned/transfer_customer": ("POST", "_transfer"),
        "/cgi-bin/externalcontact/transfer_result": ("POST", "_transfer_result"),
        "/cgi-bin/externalcontact/resigned/transfer_result": ("POST", "_transfer_result"),
        "/cgi-bin/message/send": ("POST", "_message_send"),
        "/cgi-bin/externalcontact/list": ("GET", "_contact_list"),
        "/cgi-bin/externalcontact/add_intercept_rule": ("POST", "_add_rule"),
        "/cgi-bin/externalcontact/update_intercept_rule": ("POST", "_update_rule"),
        "/cgi-bin/externalcontact/del_intercept_rule": ("POST", "_del_rule"),
        "/cgi-bin/externalcontact/get_unassigned_list": ("POST", "_unassigned"),
        "/connect/oauth2/authorize": ("GET", "_authorize"),
    }

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        query = dict(request.query)
        body: Any = None
        if request.method == "POST":
            raw = await request.read()
            try:
                body = await request.json() if raw else None
            except ValueError:
                body = raw.decode(errors="replace")
        self.requests.append((request.method, path, query, body))
        route = self.ROUTES.get(path)
        if route is None:
            self.violations.append(f"{request.method} {path}: no such API")
            return web.json_response({"errcode": 404, "errmsg": "invalid url"}, status=404)
        method, name = route
        if request.method != method:
            self.violations.append(f"{request.method} {path}: expected {method}")
            return web.json_response({"errcode": 40058, "errmsg": f"invalid method, expected {method}"})
        handler = getattr(self, name)
        if path in ("/cgi-bin/gettoken", "/connect/oauth2/authorize"):
            return await handler(path, query, body)
        token = query.get("access_token")
        if not token:
            self.violations.append(f"{path}: no access_token")
            return self._error(41001, "access_token missing")
        if token not in self.tokens:
            return self._error(40014, "invalid access_token")
        if self.tokens[token] < time.time():
            return self._error(42001, "access_token expired")
        queued = self.failures.get(path)
        if queued:
            code = queued.pop(0)
            return self._error(code, {45009: "api freq out of limit", 60011: "no privilege to access/modify "
                                      "contact/party/agent"}.get(code, "injected error"))
        return await handler(path, query, body)

    def _error(self, code: int, msg: str) -> web.Response:
        return web.json_response({"errcode": code, "errmsg": msg})

    def _bad(self, path: str, problems: list[str]) -> web.Response:
        self.violations.extend(f"{path}: {p}" for p in problems)
        return self._error(40058, "invalid parameter: " + "; ".join(problems))

    def _query_shape(self, path: str, query: dict[str, str], expected: set[str]) -> list[str]:
        return [f"{'missing' if k in expected else 'undocumented'} query parameter {k}"
                for k in sorted(expected ^ set(query))]

    async def _gettoken(self, path: str, query: dict[str, str], body: Any) -> web.Response:
        problems = self._query_shape(path, query, {"corpid", "corpsecret"})
        if problems:
            return self._bad(path, problems)
        if query["corpid"] != self.corpid:
            return self._error(40013, "invalid corpid")
        if query["corpsecret"] != self.secret:
            return self._error(40001, "invalid credential")
        token = secrets.token_urlsafe(32)
        self.tokens[token] = time.time() + self.token_ttl_s
        return web.json_response({"errcode": 0, "errmsg": "ok", "access_token": token,
                                  "expires_in": self.token_ttl_s})

    async def _authorize(self, path: str, query: dict[str, str], body: Any) -> web.StreamResponse:
        problems = self._query_shape(path, {k: v for k, v in query.items() if k != "agentid"},
                                     {"appid", "redirect_uri", "response_type", "scope", "state"})
        if query.get("response_type") != "code":
            problems.append("response_type must be code")
        if query.get("scope") != "snsapi_base":
            problems.append("scope must be snsapi_base (silent sign-in)")
        if query.get("agentid") != self.agentid:
            problems.append("agentid must be the app's AgentId")
        if problems:
            return self._bad(path, problems)
        if query["appid"] != self.corpid:
            return web.Response(status=200, text="参数错误 appid (errcode 40013)")
        target = urlparse(query["redirect_uri"])
        if target.hostname != self.trusted_domain:
            return web.Response(status=200, text="redirect_uri 需使用应用可信域名 (errcode 50001)")
        code = self.issue_code(self.signed_in_as)
        sep = "&" if target.query else "?"
        raise web.HTTPFound(query["redirect_uri"] + sep + urlencode({"code": code, "state": query["state"]}))

    async def _getuserinfo(self, path: str, query: dict[str, str], body: Any) -> web.Response:
        problems = self._query_shape(path, query, {"access_token", "code"})
        if problems:
            return self._bad(path, problems)
        entry = self.codes.pop(query["code"], None)  # a code works once
        if entry is None or entry[1] < time.time():
            return self._error(40029, "invalid code")
        who = entry[0]
        if who.startswith("openid:"):
            return web.json_response({"errcode": 0, "errmsg": "ok", "openid": who[len("openid:"):]})
        return web.json_response({"errcode": 0, "errmsg": "ok", "userid": who})

    def _member_error(self, userid: str) -> web.Response | None:
        if userid in self.no_privilege:
            return self._error(60011, "no privilege to access/modify contact/party/agent")
        if userid not in self.members:
            return self._error(40003, "invalid userid")
        return None

    async def _add_msg_template(self, path: str, query: dict[str, str], body: Any) -> web.Response:
        problems = self._query_shape(path, query, {"access_token"}) + _shape(
            body, {"text": dict}, {"chat_type": str, "external_userid": list, "sender": str,
                                   "allow_select": bool, "chat_id_list": list, "tag_filter": dict,
                                   "attachments": list})
        if not problems:
            if body.get("chat_type", "single") != "single":
                problems.append("chat_type must be single here")
            if body.get("chat_type", "single") == "single" and not body.get("sender"):
                problems.append("a single-chat message needs sender")
            if not all(isinstance(e, str) for e in body.get("external_userid", [])):
                problems.append("external_userid must be a list of strings")
            if len(body.get("external_userid", [])) > 10000:
                problems.append("at most 10000 external_userid")
            if set(body["text"]) - {"content"} or not isinstance(body["text"].get("content"), str):
                problems.append("text must be {content: string}")
            elif len(body["text"]["content"].encode()) > 4000:
                problems.append("text.content is longer than 4000 bytes")
        if problems:
            return self._bad(path, problems)
        if not body["text"]["content"].strip():
            return self._error(44004, "empty content")
        sender = body["sender"]
        refused = self._member_error(sender)
        if refused is not None:
            return refused
        mine = self.members[sender].customers
        fail = [e for e in body.get("external_userid", []) if e not in mine]
        msgid = "msg" + secrets.token_hex(8)
        self.messages.append({"msgid": msgid, "sender": sender, "to": [e for e in body["external_userid"]
                                                                       if e in mine], "text": body["text"]["content"]})
        return web.json_response({"errcode": 0, "errmsg": "ok", "fail_list": fail, "msgid": msgid})

    async def _transfer(self, path: str, query: dict[str, str], body: Any) -> web.Response:
        resigned = "/resigned/" in path
        optional = {} if resigned else {"transfer_success_msg": str}
        problems = self._query_shape(path, query, {"access_token"}) + _shape(
            body, {"handover_userid": str, "takeover_userid": str, "external_userid": list}, optional)
        if not problems:
            ids = body["external_userid"]
            if not ids or len(ids) > 100 or not all(isinstance(e, str) for e in ids):
                problems.append("external_userid must list 1–100 customer ids")
            if len(body.get("transfer_success_msg", "")) > 200:
                problems.append("transfer_success_msg is longer than 200 characters")
        if problems:
            return self._bad(path, problems)
        for userid in (body["handover_userid"], body["takeover_userid"]):
            refused = self._member_error(userid)
            if refused is not None:
                return refused
        handover = self.members[body["handover_userid"]]
        if resigned and not handover.resigned:
            return self._error(40097, "handover user has not resigned")
        results = []
        for ext in body["external_userid"]:
            busy = any(t["external_userid"] == ext and t["status"] == 2 for t in self.transfers)
            code = 40096 if ext not in handover.customers else 40129 if busy else 0
            if code == 0:
                self.transfers.append({"external_userid": ext, "handover": handover.userid,
                                       "takeover": body["takeover_userid"], "status": 2, "resigned": resigned,
                                       "takeover_time": 0})
            results.append({"external_userid": ext, "errcode": code})
        return web.json_response({"errcode": 0, "errmsg": "ok", "customer": results})

    def complete_transfers(self, status: int = 1, customers: Iterable[str] | None = None) -> None:
        """WeCom's 24-hour takeover, now: waiting transfers (of `customers`, default all) end with `status`
        (1 done, 3 refused…)."""
        for t in self.transfers:
            if t["status"] == 2 and (customers is None or t["external_userid"] in customers):
                t["status"], t["takeover_time"] = status, int(time.time()) if status == 1 else 0
                if status == 1:
                    self.members[t["handover"]].customers.discard(t["external_userid"])
                    self.member(t["takeover"], t["external_userid"])

    async def _transfer_result(self, path: str, query: dict[str, str], body: Any) -> web.Response:
        problems = self._query_shape(path, query, {"access_token"}) + _shape(
            body, {"handover_userid": str, "takeover_userid": str}, {"cursor": str})
        if problems:
            return self._bad(path, problems)
        resigned = "/resigned/" in path
        rows = [{"external_userid": t["external_userid"], "status": t["status"],
                 "takeover_time": t["takeover_time"]} for t in self.transfers
                if t["handover"] == body["handover_userid"] and t["takeover"] == body["takeover_userid"]
                and t["resigned"] == resigned]
        return web.json_response({"errcode": 0, "errmsg": "ok", "customer": rows, "next_cursor": ""})

    async def _message_send(self, path: str, query: dict[str, str], body: Any) -> web.Response:
        problems = self._query_shape(path, query, {"access_token"}) + _shape(
            body, {"msgtype": str, "agentid": int}, {"touser": str, "toparty": str, "totag": str,
                                                      "textcard": dict, "text": dict, "safe": int,
                                                      "enable_id_trans": int, "enable_duplicate_check": int,
                                                      "duplicate_check_interval": int})
        if not problems:
            if body["agentid"] != int(self.agentid):
                problems.append("agentid must be the app's AgentId")
            if body["msgtype"] == "textcard":
                card = body.get("textcard")
                if not isinstance(card, dict) or not {"title", "description", "url"} <= set(card) \
                        or set(card) - {"title", "description", "url", "btntxt"}:
                    problems.append("textcard needs title, description and url (btntxt optional)")
        if problems:
            return self._bad(path, problems)
        users = [u for u in body.get("touser", "").split("|") if u]
        invalid = [u for u in users if u not in self.members]
        self.messages.append({"touser": users, "card": body.get("textcard")})
        return web.json_response({"errcode": 0, "errmsg": "ok", "invaliduser": "|".join(invalid),
                                  "invalidparty": "", "invalidtag": "", "unlicenseduser": "",
                                  "msgid": "m" + secrets.token_hex(6), "response_code": ""})

    async def _contact_list(self, path: str, query: dict[str, str], body: Any) -> web.Response:
        problems = self._query_shape(path, query, {"access_token", "userid"})
        if problems:
            return self._bad(path, problems)
        refused = self._member_error(query["userid"])
        if refused is not None:
            return refused
        return web.json_response({"errcode": 0, "errmsg": "ok",
                                  "external_userid": sorted(self.members[query["userid"]].customers)})

    async def _unassigned(self, path: str, query: dict[str, str], body: Any) -> web.Response:
        """Path 92124: POST `{cursor, page_size}` (page_size default and at most 1000; the older `page_id`,
        pages from 0, still taken); `info[{handover_userid, external_userid, dimission_time}]`, `is_last`,
        `next_cursor` ("" when done, absent when paging by page_id)."""
        problems = self._query_shape(path, query, {"access_token"}) + _shape(
            body, {}, {"page_id": int, "cursor": str, "page_size": int})
        if not problems and not 1 <= body.get("page_size", 1000) <= 1000:
            problems.append("page_size must be 1–1000")
        if not problems and body.get("cursor") and "page_id" in body:
            problems.append("cursor and page_id are alternatives")
        if not problems and body.get("cursor") and body["cursor"] not in self.cursors:
            problems.append("cursor was not returned by a previous call")
        if problems:
            return self._bad(path, problems)
        waiting = {(t["handover"], t["external_userid"]) for t in self.transfers if t["status"] in (1, 2)}
        info = [{"handover_userid": m.userid, "external_userid": c, "dimission_time": m.dimission_time}
                for m in sorted(self.members.values(), key=lambda m: m.userid) if m.resigned
                for c in sorted(m.customers) if (m.userid, c) not in waiting]
        size = body.get("page_size", 1000)
        start = self.cursors.pop(body["cursor"]) if body.get("cursor") else body.get("page_id", 0) * size
        page, last = info[start:start + size], start + size >= len(info)
        answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok", "info": page, "is_last": last}
        if "page_id" not in body:
            cursor = "" if last else secrets.token_urlsafe(12)
            if cursor:
                self.cursors[cursor] = start + size
            answer["next_cursor"] = cursor
        return web.json_response(answer)

    def _range_problems(self, value: Any, what: str, required: bool = False) -> list[str]:
        problems = _shape(value, {}, {"user_list": list, "department_list": list})
        if not problems:
            users, departments = value.get("user_list", []), value.get("department_list", [])
            if len(users) > 1000 or len(departments) > 1000:
                problems.append("at most 1000 members and 1000 departments")
            if not all(isinstance(u, str) for u in users):
                problems.append("user_list must list userids (strings)")
            if not all(isinstance(d, int) and not isinstance(d, bool) for d in departments):
                problems.append("department_list must list department ids (integers)")
            if required and not users and not departments:
                problems.append("user_list and department_list cannot both be empty")
        return [f"{what}: {p}" for p in problems]

    async def _add_rule(self, path: str, query: dict[str, str], body: Any) -> web.Response:
        problems = self._query_shape(path, query, {"access_token"}) + _shape(
            body, {"rule_name": str, "word_list": list, "intercept_type": int, "applicable_range": dict},
            {"semantics_list": list})
        if not problems:
            if not 0 < len(body["rule_name"]) <= 20:
                problems.append("rule_name must be 1–20 characters")
            if len(body["word_list"]) > 300 or not all(isinstance(w, str) and 0 < len(w) <= 32
                                                         for w in body["word_list"]):
                problems.append("word_list: at most 300 words of at most 32 characters")
            if body["intercept_type"] not in (1, 2):
                problems.append("intercept_type must be 1 (warn and block) or 2 (warn only)")
            if not set(body.get("semantics_list", [])) <= {1, 2, 3}:
                problems.append("semantics_list takes 1 phone, 2 e-mail, 3 red packet")
            problems += self._range_problems(body["applicable_range"], "applicable_range", required=True)
        if problems:
            return self._bad(path, problems)
        if len(self.rules) >= MAX_INTERCEPT_RULES:
            return self._error(40058, f"at most {MAX_INTERCEPT_RULES} intercept rules per corp")
        if any(r["rule_name"] == body["rule_name"] for r in self.rules.values()):
            return self._error(40058, "rule_name already exists")
        for userid in body["applicable_range"].get("user_list", []):
            refused = self._member_error(userid)
            if refused is not None:
                return refused
        rule_id = "rule" + secrets.token_hex(6)
        self.rules[rule_id] = {**body, "users": set(body["applicable_range"].get("user_list", []))}
        return web.json_response({"errcode": 0, "errmsg": "ok", "rule_id": rule_id})

    async def _update_rule(self, path: str, query: dict[str, str], body: Any) -> web.Response:
        problems = self._query_shape(path, query, {"access_token"}) + _shape(
            body, {"rule_id": str}, {"rule_name": str, "word_list": list, "extra_rule": dict, "intercept_type": int,
                                     "add_applicable_range": dict, "remove_applicable_range": dict})
        for key in ("add_applicable_range", "remove_applicable_range"):
            if isinstance(body, dict) and key in body:
                problems += self._range_problems(body[key], key)
        if problems:
            return self._bad(path, problems)
        rule = self.rules.get(body["rule_id"])
        if rule is None:
            return self._error(40058, "invalid rule_id")
        if "word_list" in body:
            if not body["word_list"] or not all(isinstance(w, str) and w for w in body["word_list"]):
                return self._bad(path, ["word_list must be a non-empty list of words"])
            rule["word_list"] = body["word_list"]
        rule["users"] |= set(body.get("add_applicable_range", {}).get("user_list", []))
        rule["users"] -= set(body.get("remove_applicable_range", {}).get("user_list", []))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def _del_rule(self, path: str, query: dict[str, str], body: Any) -> web.Response:
        problems = self._query_shape(path, query, {"access_token"}) + _shape(body, {"rule_id": str}, {})
        if problems:
            return self._bad(path, problems)
        if self.rules.pop(body["rule_id"], None) is None:
            return self._error(40058, "invalid rule_id")
        return web.json_response({"errcode": 0, "errmsg": "ok"})
