"""`paodan history timeline|search|stats|context` and `paodan rules backtest` (registered in paodan/cli.py).

History commands act for the holder of a board access token (`--token` or PAODAN_TOKEN; `paodan token
issue` makes one), with the same permissions as the board: a supervisor token sees its own team only.
Every command that prints chat content is audited in ClickHouse `alert_actions` as `view_content`.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from datetime import datetime, timezone

import orjson
from clickhouse_driver.errors import Error as ClickHouseError

# What a ClickHouse that is down or refuses a query raises (clickhouse-driver errors, sockets).
UNREACHABLE = (OSError, ClickHouseError)
_UNITS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


def parse_when(text: str | None, now_ms: int | None = None) -> int | None:
    """`30d`, `12h`, `90m`, `2w` (that long ago), `2026-11-01` or `2026-11-01T08:00` (UTC) → epoch ms."""
    if text is None:
        return None
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    match = re.fullmatch(r"(\d+)([mhdw])", text.strip())
    if match:
        return now_ms - int(match.group(1)) * _UNITS[match.group(2)]
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a duration like 30d / 12h / 90m / 2w or a date "
                                         "like 2026-11-01") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


def _when(text: str) -> str:
    parse_when(text)  # validate at parse time, convert at run time
    return text


def _stamp(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _archive(settings):
    from sinks.clickhouse import ClickHouseArchive

    # The driver logs each failed connection with a traceback; the command says it once, plainly.
    logging.getLogger("clickhouse_driver").setLevel(logging.CRITICAL)
    return ClickHouseArchive(settings.clickhouse)


def _unreachable(command: str, url: str, exc: Exception) -> int:
    print(f"{command}: the archive failed ({type(exc).__name__}: {exc}); is ClickHouse up at "
          f"{url.split('@')[-1]}? `paodan stack status` tells, `paodan stack up` starts it, PAODAN_CLICKHOUSE "
          "points elsewhere", file=sys.stderr)
    return 1


def _caller(settings, args):
    from dashboard_ws.auth import AuthError, verify
    from sinks.history import Caller

    token = args.token or os.environ.get("PAODAN_TOKEN")
    if not token:
        sys.exit("paodan history: a board access token is needed (chat content is personal data): pass "
                 "--token or set PAODAN_TOKEN; `paodan token issue --role compliance` makes one")
    try:
        return Caller.from_claims(verify(settings.secret, token))
    except AuthError as exc:
        sys.exit(f"paodan history: {exc}; issue a new token with `paodan token issue`")


def _print_message(m: dict, prefix: str = "") -> None:
    to = ",".join(m["tolist"])
    room = f" [{m['roomid']}]" if m["roomid"] else ""
    if "content" not in m:  # metadata only (a supervisor): no text
        text = f"<{m['msgtype']}, {m['length']} characters>"
    else:
        text = m["content"] or f"<{m['msgtype']}>"
    print(f"{prefix}{_stamp(m['ts'])}  {m['sender']} → {to}{room}: {text}")


def _print_timeline(items: list[dict]) -> None:
    for item in items:
        d = item["data"]
        if item["kind"] == "message":
            _print_message(d, "message  ")
            continue
        if item["kind"] == "alert":
            text = f"{d['rule']} {d['severity']} {d['score']:.0f} {d['title']} [{d['status']}]"
        elif item["kind"] == "order":
            text = f"{d['order_id']} {d['event']} {d['amount']} {d['currency']} customer {d['customer_id'] or '—'}"
        elif item["kind"] == "contact":
            text = f"{d['change_type']} {d['external_user_id']}"
        else:
            text = " ".join(f"{k}={v}" for k, v in d.items() if v not in ("", None))
        print(f"{item['kind']:<8} {_stamp(item['ts'])}  {text}")


def cmd_history(args) -> int:
    from config.settings import load
    from sinks import history

    settings = load()
    caller = _caller(settings, args)
    if args.action == "renormalise":
        return _renormalise(settings, caller, parse_when(args.since))
    archive = _archive(settings)
    since, until = parse_when(getattr(args, "since", None)), parse_when(getattr(args, "until", None))
    try:
        if args.action == "timeline":
            result = history.timeline(archive, caller, args.employee, since, until, args.limit,
                                      args.kinds.split(",") if args.kinds else history.TIMELINE_KINDS)
            printer = _print_timeline
        elif args.action == "search":
            result = history.search(archive, caller, " ".join(args.words), since, until, args.employee, args.limit)

            def printer(r):
                for hit in r["hits"]:
                    _print_message(hit)
                print(f"({len(r['hits'])} messages matching {' + '.join(r['terms'])})", file=sys.stderr)
        elif args.action == "stats":
            result = history.alert_stats(archive, caller, since, until, args.by.split(","))

            def printer(rows):
                for row in rows:
                    print("  ".join(f"{k}={v}" for k, v in row.items()))
        else:
            result = history.context(archive, caller, args.msgid, args.before, args.after)

            def printer(r):
                for m in r["before"]:
                    _print_message(m, "   ")
                _print_message(r["message"], ">> ")
                for m in r["after"]:
                    _print_message(m, "   ")
    except history.PermissionDenied as exc:
        print(f"paodan history {args.action}: not allowed: {exc}", file=sys.stderr)
        return 3
    except UNREACHABLE as exc:
        return _unreachable(f"paodan history {args.action}", settings.clickhouse, exc)
    except history.BadQuery as exc:
        print(f"paodan history {args.action}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        printer(result)
    return 0


def _renormalise(settings, caller, since_ms: int | None) -> int:
    """Re-derive archived `content_norm` with the current normaliser (sinks/clickhouse/renormalise.py);
    an admin's job, as it rewrites archived rows (their text and ids stay as they were)."""
    from sinks.clickhouse.renormalise import renormalise

    if caller.role != "admin":
        print("paodan history renormalise: not allowed: an admin token is needed", file=sys.stderr)
        return 3

    def progress(day: str, changed: int, seen: int) -> None:
        print(f"{day}: {changed:,} of {seen:,} messages re-normalised", file=sys.stderr)

    try:
        changed = renormalise(_archive(settings), since_ms, progress=progress)
    except UNREACHABLE as exc:
        return _unreachable("paodan history renormalise", settings.clickhouse, exc)
    print(f"{changed:,} messages now carry the current normaliser's form of their text")
    return 0


def add_history_parser(sub) -> None:
    s = sub.add_parser("history", help="an employee's history, chat search and alert statistics from the archive")
    s.add_argument("--token", help="board access token (default: PAODAN_TOKEN)")
    s.add_argument("--json", action="store_true", help="print JSON instead of text")
    hsub = s.add_subparsers(dest="action", required=True)
    t = hsub.add_parser("timeline", help="messages, contact changes, orders, HR events and alerts, in order")
    t.add_argument("employee")
    t.add_argument("--kinds", help="comma-separated subset of message,contact,order,hr,alert")
    t.add_argument("--limit", type=int, default=500)
    q = hsub.add_parser("search", help="keyword search over archived chats (normalised like the live matcher)")
    q.add_argument("words", nargs="+", help="all must occur")
    q.add_argument("--employee", help="only this employee's conversations")
    q.add_argument("--limit", type=int, default=100)
    st = hsub.add_parser("stats", help="alert counts and outcomes by rule / team / day")
    st.add_argument("--by", default="rule,team,day", help="comma-separated: rule,team,day,severity,employee")
    c = hsub.add_parser("context", help="the conversation around one message (e.g. an alert's evidence)")
    c.add_argument("msgid")
    c.add_argument("--before", type=int, default=10)
    c.add_argument("--after", type=int, default=10)
    r = hsub.add_parser("renormalise", help="after a change to the live matcher's normaliser: re-derive the "
                        "archived messages' searchable text (admin)")
    r.add_argument("--since", type=_when, help="only messages sent since then (default: all)")
    for p in (t, q, st):
        p.add_argument("--since", type=_when, default="30d", help="30d, 12h, 2w or a date (default 30d)")
        p.add_argument("--until", type=_when, help="same forms (default: now)")
    s.set_defaults(func=cmd_history)


def cmd_backtest(args, rules) -> int:
    from config.settings import load
    from streams.backtest import backtest, render

    settings = load()
    archive = _archive(settings)
    since = parse_when(args.since)
    until = parse_when(args.until) if args.until else int(time.time() * 1000)
    print(f"[backtest] replaying {archive.database} from {_stamp(since)} to {_stamp(until)} UTC under "
          f"{rules.path} ({rules.version})", file=sys.stderr)
    try:
        report = backtest(archive, rules, since, until, progress=None if args.quiet else sys.stderr)
    except UNREACHABLE as exc:
        return _unreachable("paodan rules backtest", settings.clickhouse, exc)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(render(report))
    return 0


def add_backtest_parser(rsub, run) -> None:
    """`paodan rules backtest`; `run(args)` is cli.py's handler (it loads the rules file)."""
    b = rsub.add_parser("backtest", help="replay the archive through a rules file: alerts, whom, precision")
    b.add_argument("file", metavar="RULES_FILE")
    b.add_argument("--since", type=_when, default="30d", help="30d, 12h, 2w or a date (default 30d)")
    b.add_argument("--until", type=_when, help="same forms (default: now)")
    b.add_argument("--json", action="store_true", help="print the report as JSON")
    b.add_argument("--quiet", action="store_true", help="no per-day progress on stderr")
    b.set_defaults(func=run)
