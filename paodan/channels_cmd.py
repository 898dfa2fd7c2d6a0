"""`paodan rules channels [FILE…] [--confirm T | --reject T | --write]` (registered in paodan/rules_cmd.py).

Reads replay-format files (CONTRACT.md §8) and counts every contact or channel target the employees
send — phone numbers, WeChat ids, hosts, mini-programs, 名片 — by distinct employees and teams per
local day (detectors/channels.py). Lists the targets proposed as the company's own (sent by a share of
the active senders across two or more teams) and those already decided in the rules file, with counts,
first day seen and example message ids. The worker and `paodan replay` make the same proposals while
detecting (streams/channel_feed.py, with the same aggregate), but keep them in their state: this
command is how they reach the rules file and an admin's decision.

- `--write` records the proposals in the rules file (`chat.content.proposed_channels`): from then on
  they are info, never a flag, until an admin decides.
- `--confirm T` moves T to `own_channels` (the company's own), `--reject T` to `rejected_channels`
  (it flags again even when widely sent).

Every change is checked by loading the rules file again (an invalid result is undone), appended to
`channels-audit.jsonl` beside the rules file (who, when, what) and takes effect as any rules edit:
a worker reading the file picks it up, `paodan rules publish FILE` sends it to every worker.
"""

from __future__ import annotations

import getpass
import json
import socket
import sys
import time
from pathlib import Path

import orjson

from detectors import channels
from formats.topics import HR, MSGAUDIT

KEYS = {channels.CONFIRMED: "own_channels", channels.PROPOSED: "proposed_channels",
        channels.REJECTED: "rejected_channels"}
LOCAL_OFFSET_MS = 8 * 3_600_000  # days are counted in China time unless the directory says otherwise
STATUS_ZH = {channels.PROPOSED: "待确认 proposed", channels.CONFIRMED: "已确认 confirmed",
             channels.REJECTED: "已驳回 rejected"}


def decisions(rules) -> dict[str, str]:
    limits = rules.rule("chat.content")
    return {**{t: channels.CONFIRMED for t in limits.own_channels},
            **{t: channels.REJECTED for t in limits.rejected_channels}}


def aggregate(paths: list[str], rules, err=sys.stderr) -> dict:
    """The channel aggregate over replay files: one row per employee and local day they sent on."""
    from detectors.content.pipeline import analyse
    from formats.records import RecordError, decode_msgaudit, loads_object
    from streams.processing import decode_behaviour

    directory: dict[str, dict] = {}
    days: dict[tuple[str, int], list] = {}  # (employee, day) -> [team, targets, example]
    for path in paths:
        with open(path, "rb") as fh:
            for n, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    env = loads_object(raw)
                    topic, key, value = env.get("topic"), env.get("key"), env.get("value")
                    if topic == HR:
                        emp, _, upsert = decode_behaviour(topic, key, value)
                        if upsert is not None:
                            directory[emp] = upsert
                        continue
                    if topic != MSGAUDIT:
                        continue
                    record, msg = decode_msgaudit(key, value)
                except RecordError as exc:
                    err.write(f"{path}:{n}: {exc}\n")
                    continue
                if msg is None or not msg.outbound or msg.action != "send":
                    continue
                entry = directory.get(msg.employee_id, {})
                day = (msg.msgtime + LOCAL_OFFSET_MS) // channels.DAY_MS
                row = days.setdefault((msg.employee_id, day), [entry.get("team", ""), set(), ""])
                found = channels.targets(analyse(msg, record, rules, entry))
                if found:
                    row[1].update(found)
                    row[2] = row[2] or msg.msgid
    agg: dict = {}
    for (emp, day), (team, sent, example) in sorted(days.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        channels.add_day(agg, channels.day_row(emp, team, day, sent, example))
    return agg


def _day(d: int | None) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(d * 86_400)) if d is not None else "—"


def rows(standing: dict[str, dict]) -> list[str]:
    """One line per target of `channels.evaluate`'s standing: proposed first, most senders first."""
    return [f"  {STATUS_ZH[s['status']]:<18} {t:<40} 员工 {s['employees']:>4} employees  团队 "
            f"{s['teams']:>3} teams  首次 first {_day(s['first'])}  例 e.g. {', '.join(s['examples']) or '—'}"
            for t, s in sorted(standing.items(), key=lambda kv: (kv[1]["status"], -kv[1]["employees"], kv[0]))]


def _set_list(text: str, key: str, values: list[str]) -> str:
    """`text` with `chat.content.<key>` set to `values` (comments and the rest of the file kept)."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, ln in enumerate(lines) if ln.rstrip() == "  chat.content:"), None)
    if start is None:
        raise ValueError("the rules file has no `  chat.content:` section to record channels in")
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].strip() and not lines[i].startswith("    ")), len(lines))
    new = f"    {key}: {json.dumps(sorted(values), ensure_ascii=False)}\n"
    for i in range(start + 1, end):
        if lines[i].lstrip().startswith(f"{key}:"):
            if values:
                lines[i] = new
            else:
                del lines[i]
            return "".join(lines)
    if values:
        at = end
        while at > start + 1 and not lines[at - 1].strip():
            at -= 1  # before the blank lines that end the section
        lines.insert(at, new)
    return "".join(lines)


def change(rules_path: Path, status: dict[str, str], by: str, action: str) -> int:
    """Write the decisions `{target: proposed|confirmed|rejected}` into the rules file, checked and audited."""
    from config.rules import load_rules
    from config.yamlfile import ConfigError

    rules = load_rules(rules_path)
    limits = rules.rule("chat.content")
    current = {**{t: channels.PROPOSED for t in limits.proposed_channels}, **decisions(rules)}
    current.update(status)
    before = rules_path.read_text(encoding="utf-8")
    text = before
    try:
        for st, key in KEYS.items():
            text = _set_list(text, key, [t for t, s in current.items() if s == st])
    except ValueError as exc:
        print(f"paodan rules channels: {rules_path}: {exc}", file=sys.stderr)
        return 1
    rules_path.write_text(text, encoding="utf-8")
    try:
        load_rules(rules_path)
    except ConfigError as exc:
        rules_path.write_text(before, encoding="utf-8")
        print(f"paodan rules channels: not written, the result would be invalid: {exc}", file=sys.stderr)
        return 1
    with open(rules_path.parent / "channels-audit.jsonl", "a", encoding="utf-8") as fh:
        for t, st in sorted(status.items()):
            fh.write(json.dumps({"ts": int(time.time() * 1000), "by": by, "action": action, "target": t,
                                 "status": st, "rules": str(rules_path)}, ensure_ascii=False) + "\n")
    for t, st in sorted(status.items()):
        print(f"{t}: {STATUS_ZH[st]}（已写入 {rules_path}；`paodan rules publish` 发布给所有 worker）")
    return 0


def _normal(t: str) -> str:
    kind, _, value = t.partition(":")
    return f"{kind}:{value.strip().lower()}"


def cmd_channels(args, load_rules) -> int:
    rules = load_rules(args.rules)
    by = args.by or f"{getpass.getuser()}@{socket.gethostname()}"
    if args.confirm or args.reject:
        status = {_normal(t): channels.CONFIRMED for t in args.confirm or ()}
        status.update({_normal(t): channels.REJECTED for t in args.reject or ()})
        return change(Path(rules.path), status, by, "confirm/reject")
    limits = rules.rule("chat.content")
    agg = aggregate(args.files, rules) if args.files else {}
    standing = channels.evaluate(agg, decisions(rules))
    for t in limits.proposed_channels:
        standing.setdefault(t, {"status": channels.PROPOSED, "employees": 0, "teams": 0, "first": None,
                                "examples": []})
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(standing, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    else:
        active, _ = channels.counts(agg)
        print(f"公司自有渠道 company channels — 活跃发送人 {active} active senders; 提议门槛 "
              f"{channels.needed(active)} 人且 ≥{channels.MIN_TEAMS} 个团队 (threshold)")
        if not standing:
            print("  （无 none）")
        for line in rows(standing):
            print(line)
    if args.write:
        new = {t: channels.PROPOSED for t, s in standing.items()
               if s["status"] == channels.PROPOSED and t not in limits.proposed_channels}
        if new:
            return change(Path(rules.path), new, by, "propose")
    return 0


def add_parser(rsub, load_rules) -> None:
    c = rsub.add_parser("channels", help="the company's own channels: proposed, confirmed, rejected",
                        description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    c.add_argument("files", nargs="*", help="replay-format files to count channels in")
    c.add_argument("--rules", help="rules file (default: config/rules.yaml or PAODAN_RULES)")
    c.add_argument("--confirm", action="append", metavar="KIND:VALUE", help="confirm as the company's own")
    c.add_argument("--reject", action="append", metavar="KIND:VALUE", help="reject: flags again")
    c.add_argument("--write", action="store_true", help="record the proposals in the rules file")
    c.add_argument("--by", help="who decides (default: $USER@host)")
    c.add_argument("--json", action="store_true", help="print as JSON")
    c.set_defaults(func=lambda args: cmd_channels(args, load_rules))
