"""History for investigators: read-side queries over the archive, permission-checked and audited.

Every function takes an `Archive` (a ClickHouse server connection, or chdb in tests) and the `Caller`
asking, and returns plain JSON-able values, so the board's HTTP API (dashboard_ws) and `paodan history`
share them:

- `timeline`  — an employee's messages, contact changes, orders, HR events and alerts in one ordered view
- `search`    — keyword search over archived chats, normalised exactly as the live matcher normalises
- `alert_stats` — alert counts and outcomes by rule / team / day (/ severity / employee)
- `context`   — the conversation around one message (an alert's evidence)
- `messages`  — messages by id, with content (audited) or metadata only

Permissions (chat content is personal data; the same policy as the board, dashboard_ws.auth):
- `compliance` and `admin` see every employee, message content included;
- a `supervisor` sees their own team's employees only, and their messages as metadata only (who, when,
  to whom, type and `length`, no text): triage by a team lead needs the pattern, compliance reads the
  words. Anything about another team's employee is refused, statistics are restricted to the team, and
  keyword search (which reads content) is refused. An employee's team is the latest `employee` record in
  `hr_events`, else the team on their latest alert.

Every call that returns message content first writes a `view_content` row to `alert_actions` (who, which
employee, what query, which message ids); if that audit write fails, no content is returned.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable

import orjson

from detectors.content.labels import mask_title
from detectors.textnorm import match_view, normalize
from sinks.clickhouse.connection import Archive
from sinks.clickhouse.rows import action_row, day
from sinks.clickhouse.schema import ALERT_ACTIONS

ROLES_SEEING_ALL = ("compliance", "admin")
EXTERNAL_PREFIXES = ("wo", "wm", "wb")  # WeCom external contacts (wo/wm) and robots (wb)
DAY_MS = 86_400_000
MAX_AUDITED_IDS = 500


class PermissionDenied(PermissionError):
    """The caller may not see this; str() is safe to show them."""


class BadQuery(ValueError):
    """The request cannot be answered as asked (empty search, unknown grouping…); str() says why."""


@dataclass(frozen=True)
class Caller:
    """Who is asking: `actor` is recorded in the audit trail, `role`/`team` decide what they see."""

    actor: str
    role: str
    team: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES_SEEING_ALL + ("supervisor",):
            raise PermissionDenied(f"unknown role {self.role!r}")
        if self.role == "supervisor" and not self.team:
            raise PermissionDenied("a supervisor needs a team")

    @property
    def sees_all(self) -> bool:
        return self.role in ROLES_SEEING_ALL

    @property
    def reads_content(self) -> bool:
        return self.role in ROLES_SEEING_ALL

    @classmethod
    def from_claims(cls, claims: Any) -> "Caller":
        """From board token claims (dashboard_ws.auth.Claims: role, team, actor)."""
        return cls(actor=claims.actor, role=claims.role, team=claims.team or "")


def is_internal(user_id: str) -> bool:
    return bool(user_id) and not user_id.startswith(EXTERNAL_PREFIXES)


def _window(since_ms: int | None, until_ms: int | None, default_days: int = 30) -> tuple[int, int]:
    until = until_ms if until_ms is not None else int(time.time() * 1000)
    since = since_ms if since_ms is not None else until - default_days * DAY_MS
    if since > until:
        raise BadQuery("the start of the period is after its end")
    return since, until


def _dates(since: int, until: int) -> dict[str, Any]:
    """Time bounds as parameters: ms for the row filter, dates for partition and primary-key pruning."""
    return {"t0": since, "t1": until, "d0": day(since), "d1": day(until)}


# --- who may see whom -----------------------------------------------------------------------------

def employee_teams(archive: Archive, employee_ids: Iterable[str]) -> dict[str, str]:
    """Each employee's current team: the latest HR `employee` record, else their latest alert's team."""
    ids = tuple(sorted({e for e in employee_ids if e}))
    if not ids:
        return {}
    db = archive.database
    teams = dict(archive.execute(f"SELECT employee_id, argMax(team, ts) FROM {db}.hr_events WHERE type = "
                                 "'employee' AND employee_id IN %(ids)s GROUP BY employee_id", {"ids": ids}))
    missing = tuple(e for e in ids if not teams.get(e))
    if missing:
        teams.update(archive.execute(f"SELECT employee_id, argMax(team, ts) FROM {db}.alerts WHERE "
                                     "employee_id IN %(ids)s GROUP BY employee_id", {"ids": missing}))
    return {e: t for e, t in teams.items() if t}


def check_employee(archive: Archive, caller: Caller, employee_id: str) -> None:
    if caller.sees_all:
        return
    if employee_teams(archive, [employee_id]).get(employee_id) != caller.team:
        raise PermissionDenied(f"{employee_id} is not in team {caller.team}")


def audit_view(archive: Archive, caller: Caller, what: str, employees: Iterable[str], msgids: list[str],
               detail: dict[str, Any], alert_id: str = "") -> None:
    """One `view_content` row per employee whose chat content is about to be shown."""
    now = int(time.time() * 1000)
    detail = {"what": what, **detail, "messages": len(msgids), "msgids": msgids[:MAX_AUDITED_IDS]}
    teams = employee_teams(archive, employees)
    rows = [action_row({"action_id": secrets.token_hex(16), "alert_id": alert_id, "employee_id": e,
                        "team": teams.get(e, ""), "action": "view_content", "actor": caller.actor,
                        "actor_role": caller.role, "ts": now, "detail": detail})
            for e in sorted(set(employees)) or [""]]
    archive.insert(ALERT_ACTIONS, rows)


# --- messages -------------------------------------------------------------------------------------

MESSAGE_FIELDS = "msgid, msgtime, action, sender, tolist, roomid, msgtype, content"


def _message(row: tuple) -> dict[str, Any]:
    msgid, msgtime, action, sender, tolist, roomid, msgtype, content = row
    return {"msgid": msgid, "ts": int(msgtime), "action": action, "sender": sender, "tolist": list(tolist),
            "roomid": roomid, "msgtype": msgtype, "content": content}


def _parties(msg: dict[str, Any]) -> list[str]:
    return [p for p in [msg["sender"], *msg["tolist"]] if is_internal(p)]


def metadata_only(msg: dict[str, Any]) -> dict[str, Any]:
    """A message without its text: the text's `length` instead."""
    return {**{k: v for k, v in msg.items() if k != "content"}, "length": len(msg["content"])}


def messages(archive: Archive, caller: Caller, msgids: list[str], *, content: bool = True,
             alert_id: str = "") -> list[dict[str, Any]]:
    """Archived messages by id (an alert's evidence), oldest first. With `content=False` each message
    carries its text's `length` instead of the text, and nothing is audited (a metadata-only view);
    otherwise the view is audited before anything is returned."""
    ids = tuple(dict.fromkeys(msgids))[:MAX_AUDITED_IDS]
    if not ids:
        return []
    rows = archive.execute(f"SELECT {MESSAGE_FIELDS} FROM {archive.database}.messages WHERE msgid IN %(ids)s "
                           "ORDER BY msgtime LIMIT 1 BY msgid", {"ids": ids})
    found = [_message(r) for r in rows]
    if not caller.sees_all:
        teams = employee_teams(archive, {p for m in found for p in _parties(m)})
        found = [m for m in found if caller.team in {teams.get(p) for p in _parties(m)}]
    if not content or not caller.reads_content:
        return [metadata_only(m) for m in found]
    if found:
        audit_view(archive, caller, "messages", {p for m in found for p in _parties(m)},
                   [m["msgid"] for m in found], {}, alert_id=alert_id)
    return found


# --- timeline -------------------------------------------------------------------------------------

def _timeline_queries(db: str) -> dict[str, str]:
    """kind → query of (ts, id, summary, data-json) for one employee, newest first, deduplicated by id."""
    return {
        "message": f"SELECT {MESSAGE_FIELDS} FROM {db}.messages WHERE msg_date BETWEEN %(d0)s AND %(d1)s "
                   "AND msgtime BETWEEN %(t0)s AND %(t1)s AND (sender = %(e)s OR has(tolist, %(e)s)) "
                   "ORDER BY msgtime DESC LIMIT 1 BY msgid LIMIT %(n)s",
        "contact": f"SELECT ts, change_type, external_user_id, state, source, fail_reason FROM "
                   f"{db}.contact_events WHERE employee_id = %(e)s AND ts BETWEEN %(t0)s AND %(t1)s ORDER BY ts "
                   "DESC LIMIT 1 BY create_time, change_type, external_user_id, corpid LIMIT %(n)s",
        "order": f"SELECT ts, order_id, event, amount, currency, customer_id, store_id FROM "
                 f"{db}.orders WHERE employee_id = %(e)s AND ts BETWEEN %(t0)s AND %(t1)s ORDER BY ts DESC "
                 "LIMIT 1 BY order_id, event, ts LIMIT %(n)s",
        "hr": f"SELECT ts, type, team, status, customer_id, reason, detail FROM {db}.hr_events WHERE "
              "employee_id = %(e)s AND ts BETWEEN %(t0)s AND %(t1)s ORDER BY ts DESC LIMIT 1 BY ts, type, "
              "record_key LIMIT %(n)s",
        "alert": f"SELECT ts, alert_id, rule, severity, score, title, status, assignee, resolution FROM "
                 f"{db}.alerts FINAL WHERE employee_id = %(e)s AND ts BETWEEN %(t0)s AND %(t1)s ORDER BY ts "
                 "DESC LIMIT %(n)s",
    }


def _timeline_item(kind: str, row: tuple) -> dict[str, Any]:
    if kind == "message":
        msg = _message(row)
        return {"ts": msg["ts"], "kind": kind, "id": msg["msgid"], "data": msg}
    if kind == "contact":
        ts, change, external, state, source, fail = row
        return {"ts": int(ts), "kind": kind, "id": f"{change}:{external}:{ts}",
                "data": {"change_type": change, "external_user_id": external, "state": state,
                         "source": source, "fail_reason": fail}}
    if kind == "order":
        ts, order_id, event, amount, currency, customer, store = row
        return {"ts": int(ts), "kind": kind, "id": f"{order_id}:{event}:{ts}",
                "data": {"order_id": order_id, "event": event, "amount": f"{Decimal(str(amount)):.2f}",
                         "currency": currency,
                         "customer_id": customer, "store_id": store}}
    if kind == "hr":
        ts, type_, team, status, customer, reason, detail = row
        return {"ts": int(ts), "kind": kind, "id": f"{type_}:{ts}",
                "data": {"type": type_, "team": team, "status": status, "customer_id": customer,
                         "reason": reason, **orjson.loads(detail or "{}")}}
    ts, alert_id, rule, severity, score, title, status, assignee, resolution = row
    return {"ts": int(ts), "kind": kind, "id": alert_id,
            "data": {"alert_id": alert_id, "rule": rule, "severity": severity, "score": float(score),
                     "title": title, "status": status, "assignee": assignee, "resolution": resolution}}


TIMELINE_KINDS = ("message", "contact", "order", "hr", "alert")


def _without_content(item: dict[str, Any]) -> dict[str, Any]:
    """A timeline item as a caller who may not read chat content sees it: a message's metadata, an
    alert's title without the details its message supplied (detectors.content.labels)."""
    if item["kind"] == "message":
        return {**item, "data": metadata_only(item["data"])}
    if item["kind"] == "alert":
        return {**item, "data": {**item["data"], "title": mask_title(item["data"]["title"])}}
    return item


def timeline(archive: Archive, caller: Caller, employee_id: str, since_ms: int | None = None,
             until_ms: int | None = None, limit: int = 500,
             kinds: Iterable[str] = TIMELINE_KINDS) -> list[dict[str, Any]]:
    """The employee's latest `limit` events of the period (default: the last 30 days), oldest first.

    Each item is {"ts", "kind", "id", "data"}; messages carry their content (audited) for callers who may
    read it, their metadata for others."""
    kinds = tuple(kinds)
    unknown = set(kinds) - set(TIMELINE_KINDS)
    if unknown:
        raise BadQuery(f"unknown kinds {sorted(unknown)}; choose from {', '.join(TIMELINE_KINDS)}")
    check_employee(archive, caller, employee_id)
    since, until = _window(since_ms, until_ms)
    params = {**_dates(since, until), "e": employee_id, "n": int(limit)}
    queries = _timeline_queries(archive.database)
    per_kind = [[_timeline_item(k, row) for row in archive.execute(queries[k], params)] for k in kinds]
    # Oldest first; at equal times the order of TIMELINE_KINDS, so evidence comes before its alert.
    rank = {k: i for i, k in enumerate(TIMELINE_KINDS)}
    items = sorted((i for kind in per_kind for i in kind), key=lambda i: (i["ts"], rank[i["kind"]]))[-limit:]
    msgids = [i["id"] for i in items if i["kind"] == "message"]
    if not caller.reads_content:
        return [_without_content(i) for i in items]
    if msgids:
        audit_view(archive, caller, "timeline", [employee_id], msgids,
                   {"employee_id": employee_id, "since": since, "until": until})
    return items


# --- keyword search -------------------------------------------------------------------------------

def search_terms(query: str) -> list[str]:
    """Whitespace-separated terms, each normalised like the live matcher (all must match)."""
    terms = [match_view(t) for t in query.split()]
    return [t for t in terms if t]


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _highlights(content: str, terms: list[str]) -> list[dict[str, Any]]:
    norm = normalize(content)
    spans = []
    for term in terms:
        at = norm.text.find(term)
        if at >= 0:
            start, end = norm.span(at, at + len(term))
            spans.append({"start": start, "end": end, "text": content[start:end]})
    return spans


def search(archive: Archive, caller: Caller, query: str, since_ms: int | None = None,
           until_ms: int | None = None, employee_id: str | None = None, limit: int = 100) -> dict[str, Any]:
    """Archived chat messages containing every term of `query`, newest first, with highlight spans —
    and images and voice whose read words contain them (`media_texts`; such a hit has `media: true` and
    the words read as its `content`).

    Matching runs on `content_norm` (the text as the live matcher sees it), so 「加 我 微-信」 is found by
    「加我微信」."""
    if not caller.reads_content:
        raise PermissionDenied("keyword search reads chat content: it is for compliance and admin")
    terms = search_terms(query)
    if not terms:
        raise BadQuery("the search has no words left after normalisation")
    since, until = _window(since_ms, until_ms)
    params: dict[str, Any] = {"n3": 3 * int(limit)}
    where = ["msg_date BETWEEN %(d0)s AND %(d1)s", "msgtime BETWEEN %(t0)s AND %(t1)s"]
    for i, term in enumerate(terms):
        params[f"q{i}"] = _like(term)
        where.append(f"content_norm LIKE %(q{i})s")
    if employee_id:
        params["e"] = employee_id
        where.append("(sender = %(e)s OR has(tolist, %(e)s))")
    # Two steps: the newest matching ids first (a top-N over two narrow columns, however many messages
    # match), then the full rows of just those. Three times the limit leaves room for copies of a
    # message not yet merged away. The ids are looked for newest first, in slices of the period that
    # grow fourfold (the last day, the 4 days before, …): a common word fills the page from the last
    # day or two instead of reading the month; a rare one reads the period once, in a few queries.
    db = archive.database
    found: dict[str, None] = {}
    hi, span = until, DAY_MS
    while hi >= since and len(found) < limit:
        lo = max(since, hi - span + 1)
        newest = archive.execute(f"SELECT msgid FROM {db}.messages WHERE {' AND '.join(where)} "
                                 "ORDER BY msgtime DESC LIMIT %(n3)s", {**params, **_dates(lo, hi)})
        found.update(dict.fromkeys(i for (i,) in newest))
        hi, span = lo - 1, span * 4
    ids = tuple(found)[:limit]
    rows = archive.execute(f"SELECT {MESSAGE_FIELDS} FROM {db}.messages WHERE msg_date BETWEEN %(d0)s AND "
                           "%(d1)s AND msgid IN %(ids)s ORDER BY msgtime DESC LIMIT 1 BY msgid",
                           {**params, **_dates(since, until), "ids": ids}) if ids else []
    hits = [{**m, "highlights": _highlights(m["content"], terms)} for m in map(_message, rows)]
    # What images and voice said (media_texts: QR codes, OCR text, transcripts), as words of their message.
    media_where = [w.replace("content_norm", "text_norm") for w in where]
    said = archive.execute(f"SELECT msgid, msgtime, sender, tolist, kind, text FROM {db}.media_texts FINAL "
                           f"WHERE {' AND '.join(media_where)} ORDER BY msgtime DESC LIMIT %(n)s",
                           {**params, **_dates(since, until), "n": int(limit)})
    hits += [{"msgid": m, "ts": int(t), "action": "send", "sender": who, "tolist": list(to), "roomid": "",
              "msgtype": kind, "content": text, "media": True, "highlights": _highlights(text, terms)}
             for m, t, who, to, kind, text in said]
    hits = sorted(hits, key=lambda h: -h["ts"])[:limit]
    if not hits:
        return {"query": query, "terms": terms, "hits": []}
    if hits:
        audit_view(archive, caller, "search", {p for h in hits for p in _parties(h)}, [h["msgid"] for h in hits],
                   {"query": query, "employee_id": employee_id or "", "since": since, "until": until})
    return {"query": query, "terms": terms, "hits": hits}


# --- context around a message ---------------------------------------------------------------------

def context(archive: Archive, caller: Caller, msgid: str, before: int = 10, after: int = 10,
            alert_id: str = "") -> dict[str, Any]:
    """The message `msgid` with up to `before`/`after` messages of the same conversation around it
    (the same group chat, or the same two people), within a day either side."""
    db = archive.database
    rows = archive.execute(f"SELECT {MESSAGE_FIELDS} FROM {db}.messages WHERE msgid = %(id)s LIMIT 1",
                           {"id": msgid})
    if not rows:
        raise BadQuery(f"no archived message {msgid}")
    msg = _message(rows[0])
    parties = _parties(msg)
    if not caller.sees_all:
        teams = employee_teams(archive, parties)
        if caller.team not in {teams.get(p) for p in parties}:
            raise PermissionDenied(f"message {msgid} is not from a conversation of team {caller.team}")
    if msg["roomid"]:
        same = "roomid = %(room)s"
    else:
        same = ("roomid = '' AND ((sender = %(a)s AND has(tolist, %(b)s)) OR "
                "(sender = %(b)s AND has(tolist, %(a)s)))")
    other = next((t for t in msg["tolist"] if t != msg["sender"]), "")
    params = {"room": msg["roomid"], "a": msg["sender"], "b": other, "id": msgid, "t": msg["ts"],
              "d0": day(max(0, msg["ts"] - DAY_MS)), "d1": day(msg["ts"] + DAY_MS), "n0": int(before),
              "n1": int(after)}
    base = (f"SELECT {MESSAGE_FIELDS} FROM {db}.messages WHERE msg_date BETWEEN %(d0)s AND %(d1)s AND "
            f"{same} AND msgid != %(id)s")
    earlier = archive.execute(f"{base} AND msgtime <= %(t)s ORDER BY msgtime DESC LIMIT 1 BY msgid "
                              "LIMIT %(n0)s", params)
    later = archive.execute(f"{base} AND msgtime > %(t)s ORDER BY msgtime LIMIT 1 BY msgid LIMIT %(n1)s",
                            params)
    result = {"message": msg, "before": [_message(r) for r in reversed(earlier)],
              "after": [_message(r) for r in later]}
    shown = [msg] + result["before"] + result["after"]
    if not caller.reads_content:
        return {k: metadata_only(v) if k == "message" else [metadata_only(m) for m in v] for k, v in result.items()}
    audit_view(archive, caller, "context", {p for m in shown for p in _parties(m)},
               [m["msgid"] for m in shown], {"msgid": msgid}, alert_id=alert_id)
    return result


# --- alert statistics -----------------------------------------------------------------------------

STAT_DIMENSIONS = {"rule": "rule", "team": "team", "day": "toString(toDate(toDateTime(intDiv(ts, 1000))))",
                   "severity": "severity", "employee": "employee_id"}


def alert_stats(archive: Archive, caller: Caller, since_ms: int | None = None, until_ms: int | None = None,
                by: Iterable[str] = ("rule", "team", "day")) -> list[dict[str, Any]]:
    """Alert counts per group: how many, how many resolved, and the resolutions given, with the
    precision investigators found (true positives among resolved alerts). No content, not audited."""
    by = tuple(by)
    unknown = [d for d in by if d not in STAT_DIMENSIONS]
    if unknown or not by:
        raise BadQuery(f"group by one or more of {', '.join(STAT_DIMENSIONS)}")
    since, until = _window(since_ms, until_ms)
    params: dict[str, Any] = {"t0": since, "t1": until}
    where = "ts BETWEEN %(t0)s AND %(t1)s"
    if not caller.sees_all:
        params["team"] = caller.team
        where += " AND team = %(team)s"
    dims = ", ".join(f"{STAT_DIMENSIONS[d]} AS {d}" for d in by)
    rows = archive.execute(
        f"SELECT {dims}, count() AS alerts, countIf(status = 'resolved') AS resolved, "
        "countIf(resolution = 'true_positive') AS tp, countIf(resolution = 'false_positive') AS fp, "
        "countIf(resolution = 'benign') AS benign, countIf(severity IN ('high', 'critical')) AS high, "
        f"max(score) AS max_score FROM {archive.database}.alerts FINAL WHERE {where} "
        f"GROUP BY {', '.join(by)} ORDER BY {', '.join(by)}", params)
    out = []
    for row in rows:
        group = dict(zip(by, row[: len(by)]))
        alerts, resolved, tp, fp, benign, high, max_score = row[len(by):]
        judged = tp + fp + benign
        out.append({**group, "alerts": int(alerts), "resolved": int(resolved), "true_positive": int(tp),
                    "false_positive": int(fp), "benign": int(benign), "high_or_critical": int(high),
                    "max_score": float(max_score), "precision": round(tp / judged, 4) if judged else None})
    return out
