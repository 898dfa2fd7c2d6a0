"""`paodan act …` — on-call staff act through WeCom's API from the command line, as the board does.

The actor is the holder of `PAODAN_TOKEN` (a `paodan token issue --user U` token, checked and not
revoked): its role and team decide what they may do, its user is the actor in the audit trail, and a
token without a user cannot act. WeCom comes from config.wecom_app (PAODAN_WECOM_*). Every command
shows what it will do and asks for confirmation (`--yes` skips the question), needs `--reason`, and
goes through dashboard_ws.wecom_actions (permission check, idempotency key, audit rows, retries on
45009, WeCom's errors in words).

- `paodan act message --alert ID --sender U --text … [--customer C…] --reason …`
- `paodan act transfer --from U --to U2 [--customer C…] [--message …] [--alert ID] --reason …`
- `paodan act transfer-status --from U --to U2`; `paodan act transfer-status --follow` (settles every
  hand-over begun here: a completed one becomes an `assignment` on `hr.events`, dashboard_ws.transfers)
- `paodan act notify --alert ID [--to U] --reason …` (default recipient: the employee's manager)
- `paodan act intercept --employee U --days N [--word W…] --reason …`; `paodan act intercept --sweep` (ends
  rules whose time is up and, with PAODAN_INTERCEPT_AUTO_LEVEL, applies adaptive protection)
Exit status: 0 done, 1 refused or failed (the reason on stderr), 2 not confirmed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

import orjson


def add_parser(sub, settings_loader) -> None:
    s = sub.add_parser("act", help="act through WeCom: message customers, hand customers over")
    asub = s.add_subparsers(dest="act", required=True)

    def common(p: argparse.ArgumentParser, reason: bool = True) -> None:
        if reason:
            p.add_argument("--reason", default="", help="why (required; kept in the audit trail)")
            p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
            p.add_argument("--key", help="idempotency key (default: derived from what the command does)")
        p.add_argument("--json", action="store_true", help="print the result as JSON")
        p.set_defaults(func=lambda args: run(args, settings_loader))

    p = asub.add_parser("message", help="message an alert's customers officially (add_msg_template)")
    p.add_argument("--alert", required=True, help="the alert id")
    p.add_argument("--sender", required=True, help="who sends it (the manager or another employee, never the suspect)")
    p.add_argument("--text", required=True)
    p.add_argument("--customer", action="append", default=[], help="a customer's external_userid (default: the "
                   "customers in the alert's evidence); repeatable")
    common(p)
    p = asub.add_parser("transfer", help="hand customers over (on-job or after resignation)")
    p.add_argument("--from", dest="handover", required=True)
    p.add_argument("--to", dest="takeover", required=True)
    p.add_argument("--customer", action="append", default=[], help="repeatable (default: all their customers)")
    p.add_argument("--message", default="", help="what the customer is told (on-job only, ≤200 characters)")
    p.add_argument("--alert", default="", help="the alert that prompted it (for the audit trail)")
    common(p)
    p = asub.add_parser("notify", help="tell the responsible manager (a WeCom text card linking to the alert)")
    p.add_argument("--alert", required=True)
    p.add_argument("--to", default="", help="the recipient (default: the manager of the employee the alert is about)")
    common(p)
    p = asub.add_parser("intercept", help="put a high-risk employee under a WeCom intercept rule for N days")
    p.add_argument("--employee", default="")
    p.add_argument("--days", type=int, default=0)
    p.add_argument("--word", action="append", default=[], help="a word to block (default: the lexicon's phrases)")
    p.add_argument("--sweep", action="store_true", help="only end the rules whose time is up, then exit")
    common(p)
    p = asub.add_parser("transfer-status", help="follow a hand-over (transfer_result)")
    p.add_argument("--from", dest="handover", default="")
    p.add_argument("--to", dest="takeover", default="")
    p.add_argument("--follow", action="store_true", help="settle every hand-over begun from the board or here: "
                   "completed ones become assignments on hr.events (one round, as the board does)")
    common(p, reason=False)


def _claims(settings):
    from dashboard_ws import auth, tokens

    token = os.environ.get("PAODAN_TOKEN", "")
    claims = auth.verify(settings.secret, token)
    if any(row["jti"] == claims.jti and row["revoked"] for row in tokens.listing(settings.redis)):
        raise auth.AuthError("token revoked")
    if not claims.sub:
        raise auth.AuthError("the token names no user (issue it with --user): actions need an accountable actor")
    return claims


def _summary(args) -> str:
    if args.act == "message":
        who = ", ".join(args.customer) or "告警证据中的客户 / the customers in the alert's evidence"
        return (f"以 {args.sender} 的名义向 {who} 发送官方消息 / send an official message as {args.sender} to {who}:\n"
                f"  {args.text}")
    if args.act == "notify":
        who = args.to or "该员工的主管 / the employee's manager"
        return f"把预警 {args.alert} 通知 {who} / tell {who} about alert {args.alert}"
    if args.act == "intercept":
        return (f"对 {args.employee} 启用企业微信聊天拦截 {args.days} 天 / put {args.employee} under a WeCom "
                f"intercept rule for {args.days} days")
    who = ", ".join(args.customer) or "全部客户 / all customers"
    return f"把 {args.handover} 的客户（{who}）转给 {args.takeover} / hand {args.handover}'s customers ({who}) to {args.takeover}"


def _confirm(args) -> bool:
    if getattr(args, "yes", False) or args.act == "transfer-status" or getattr(args, "sweep", False):
        return True
    print(_summary(args))
    print(f"原因 / reason: {args.reason}")
    if not sys.stdin.isatty():
        print("需要确认：请加 --yes / confirmation needed: add --yes", file=sys.stderr)
        return False
    return input("确认执行？/ go ahead? [y/N] ").strip().lower() in ("y", "yes", "是")


async def _act(args, settings, claims) -> dict[str, Any]:
    from config.wecom_app import load_wecom_app
    from dashboard_ws.audit import Audit
    from dashboard_ws.lifecycle import ActionError
    from dashboard_ws.wecom_actions import WecomActions
    from ingest.wecom_api import WecomApi
    from sinks.redis_live import LiveAlerts

    app = load_wecom_app()
    if not app.api_enabled:
        raise SystemExit("PAODAN_WECOM_CORPID, PAODAN_WECOM_AGENTID and PAODAN_WECOM_SECRET are needed to act "
                         "through WeCom")
    live, api = LiveAlerts(settings.redis), WecomApi(app)
    actions = WecomActions(live, api, Audit(settings), board_url=app.board_url)
    try:
        if args.act == "intercept":
            from dashboard_ws import intercepts

            guard = intercepts.Intercepts(actions, intercepts.default_words(settings))
            if args.sweep:
                ended = await guard.sweep()
                put = await guard.protect(app.auto_intercept_level, app.auto_intercept_days)
                return {"ended": ended, "protected": put}
            detail = {"reason": args.reason, "confirm": True, "employee": args.employee, "days": args.days,
                      "words": args.word, **({"key": args.key} if args.key else {})}
            return await guard.put(claims, detail)
        if args.act == "notify":
            return await actions.notify(claims, args.alert, {"reason": args.reason, "confirm": True, "to": args.to,
                                                             **({"key": args.key} if args.key else {})})
        if args.act == "transfer-status" and args.follow:
            from dashboard_ws.transfers import TransferFollower

            return {"settled": await TransferFollower(actions).follow()}
        if args.act == "transfer-status":
            if not (args.handover and args.takeover):
                raise ActionError("bad_request", "需要 --from 和 --to（或 --follow）/ --from and --to are needed "
                                  "(or --follow)")
            return await actions.transfer_status(claims, {"from": args.handover, "to": args.takeover})
        detail: dict[str, Any] = {"reason": args.reason, "confirm": True}
        if args.key:
            detail["key"] = args.key
        if args.customer:
            detail["customers"] = args.customer
        if args.act == "message":
            return await actions.message(claims, args.alert, {**detail, "sender": args.sender, "text": args.text})
        return await actions.transfer(claims, args.alert, {**detail, "from": args.handover, "to": args.takeover,
                                                           "message": args.message})
    finally:
        await api.close()
        await live.close()


def _print(args, result: dict[str, Any]) -> None:
    if args.json:
        print(orjson.dumps(result).decode())
        return
    if result.get("repeated"):
        print("（同一操作已执行过，以下为当时的结果 / already done with this key; the earlier result:）")
    if args.act == "notify":
        print(f"已通知 {result['to']} / {result['to']} notified: {result['url']}")
        return
    if args.act == "intercept":
        started = result.get("protected", [result] if "rule_id" in result else [])
        for entry in result.get("ended", []) + started:
            until = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry["until"] / 1000))
            verb = "至 / until " + until if entry in started else "已结束 / ended"
            print(f"{entry['employee']}: 拦截规则 {entry['rule_id']} {verb}")
        return
    if "settled" in result:
        for c in result["settled"]:
            print(f"  {c['customer']}: {c['from']} → {c['to']} {c['result']}")
        if not result["settled"]:
            print("没有新结果的交接 / no hand-over settled since the last round")
        return
    if args.act == "message":
        print(f"已提交 msgid={result['msgid']}，送达 {len(result['sent_to'])} 位客户 / submitted to "
              f"{len(result['sent_to'])} customers")
        for c in result["failed"]:
            print(f"  未能发送 / not sent: {c}")
        print(result["note"])
    else:
        for c in result["customers"]:
            print(f"  {c['customer']}: {c['result']}")


def run(args, settings_loader) -> int:
    from dashboard_ws.auth import AuthError
    from dashboard_ws.lifecycle import ActionError

    settings = settings_loader()
    try:
        claims = _claims(settings)
    except AuthError as exc:
        print(f"PAODAN_TOKEN 无效 / PAODAN_TOKEN refused: {exc}", file=sys.stderr)
        return 1
    if not _confirm(args):
        return 2
    try:
        result = asyncio.run(_act(args, settings, claims))
    except ActionError as exc:
        print(f"未执行 / not done: {exc}", file=sys.stderr)
        return 1
    _print(args, result)
    return 0
