"""`paodan rules calibrate FILE…|--since 30d [--out FILE]` — what the rules would do on this company.

Records (replay files, or the ClickHouse archive read back as `paodan rules backtest` reads it) go
through `streams.replay.Replay`, the same detectors the worker runs, under the given rules file. Per
rule the report says how many employees it would flag (medium or above), how many alerts a day it
would raise, and, beside it, the company's own norms seen in the records: daily orders and order
amounts per employee (peer medians), the commission rate colleagues claim per store and SKU, orders
per customer and day. From those distributions it suggests thresholds under which an ordinary day of
this company does not fire (the own-baseline ratios above what nearly every employee-day shows).
`--out` writes the rules file with those suggestions applied; it is validated like `rules validate`
before it is written. Progress goes to stderr.

The company's own channels are listed as the detectors' channel learner sees them at the end of the
records (`channels_found`): the targets many colleagues across teams send, proposed as the company's,
and those the rules file has confirmed or rejected.
"""

from __future__ import annotations

import math
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Iterable, Iterator
from zoneinfo import ZoneInfo

import orjson

from formats.topics import HR, MSGAUDIT, ORDERS
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI builds its parsers without loading the detectors
    from config.rules import Rules

PROGRESS_EVERY = 200_000
FLAGGING = ("medium", "high", "critical")
DAY_MS = 86_400_000


def _q(values: list[float], q: float) -> float | None:
    """The q-quantile (nearest rank) of `values`, or None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class Norms:
    """The company's figures seen in the order records (statistics only: no alert comes from here)."""

    tz: dict[str, str] = field(default_factory=dict)
    day_orders: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    amounts: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    per_customer_day: Counter = field(default_factory=Counter)
    rates: dict[tuple[str, str], dict[str, list[float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    first_ts: int | None = None
    last_ts: int | None = None

    def _day(self, employee: str, ts: int) -> int:
        tz = ZoneInfo(self.tz.get(employee) or "Asia/Shanghai")
        return datetime.fromtimestamp(ts / 1000, tz).toordinal()

    def see(self, raw: bytes) -> None:
        try:
            env = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return  # Replay reports the bad line
        value = env.get("value") if isinstance(env, dict) else None
        if not isinstance(value, dict):
            return
        topic = env.get("topic")
        ts = value.get("ts") if topic != MSGAUDIT else value.get("msgtime")
        if isinstance(ts, int) and topic != HR:  # the directory's records may predate the period
            self.first_ts = ts if self.first_ts is None else min(self.first_ts, ts)
            self.last_ts = ts if self.last_ts is None else max(self.last_ts, ts)
        if topic == HR and value.get("type") == "employee" and value.get("employee_id"):
            self.tz[value["employee_id"]] = value.get("timezone") or "Asia/Shanghai"
        elif topic == ORDERS:
            self._order(value)

    def _order(self, v: dict) -> None:
        employee, ts = v.get("employee_id"), v.get("ts")
        if not isinstance(employee, str) or not isinstance(ts, int):
            return
        try:
            amount = float(v.get("amount") or 0)
        except (TypeError, ValueError):
            return
        day = self._day(employee, ts)
        if v.get("event") == "created":
            self.day_orders[employee][day] += 1
            if amount > 0:
                self.amounts[employee].append(amount)
        elif v.get("event") == "paid":
            if v.get("customer_id"):
                self.per_customer_day[(employee, v["customer_id"], day)] += 1
            try:
                commission = float(v["commission"]) if v.get("commission") not in (None, "") else None
            except (TypeError, ValueError):
                commission = None
            if commission is not None and amount > 0:
                for item in v.get("items") or [{}]:
                    sku = str(item.get("sku", "")) if isinstance(item, dict) else ""
                    self.rates[(str(v.get("store_id", "")), sku)][employee].append(commission / amount)

    # --- what the figures say --------------------------------------------------------------------

    def days(self) -> float:
        if self.first_ts is None or self.last_ts is None:
            return 0.0
        return max(1.0, (self.last_ts - self.first_ts) / DAY_MS)

    def spike_ratios(self, min_days: int = 5) -> list[float]:
        """Each employee-day's orders / the employee's mean over their earlier active days."""
        out = []
        for days in self.day_orders.values():
            seen: list[int] = []
            for d in sorted(days):
                if len(seen) >= min_days:
                    out.append(days[d] / max(statistics.mean(seen), 1.0))
                seen.append(days[d])
        return out

    def big_ratios(self) -> list[float]:
        """Each order's amount / the employee's median order amount."""
        out = []
        for amounts in self.amounts.values():
            if len(amounts) >= 5:
                typical = statistics.median(amounts)
                out += [a / typical for a in amounts if typical > 0]
        return out

    def summary(self) -> dict[str, Any]:
        per_day = [statistics.mean(d.values()) for d in self.day_orders.values() if d]
        typical = [statistics.median(a) for a in self.amounts.values() if a]
        rate_rows = []
        for (store, sku), by_e in sorted(self.rates.items(), key=lambda kv: -len(kv[1]))[:20]:
            medians = [statistics.median(r) for r in by_e.values()]
            rate_rows.append({"store": store, "sku": sku, "employees": len(by_e),
                              "median_rate": round(statistics.median(medians), 4),
                              "max_employee_rate": round(max(medians), 4)})
        split = list(self.per_customer_day.values())
        return {
            "employees_with_orders": len(self.day_orders),
            "orders_per_active_day_median": round(statistics.median(per_day), 2) if per_day else None,
            "order_amount_median": round(statistics.median(typical), 2) if typical else None,
            "spike_ratio_p99": _round(_q(self.spike_ratios(), 0.99)),
            "big_order_ratio_p99": _round(_q(self.big_ratios(), 0.99)),
            "paid_orders_per_customer_day_p999": _q(split, 0.999),
            "commission_rates": rate_rows,
        }


def _round(x: float | None) -> float | None:
    return round(x, 2) if x is not None else None


def suggestions(norms: dict[str, Any], rules: "Rules") -> dict[tuple[str, str], float | int]:
    """(section, key) → suggested value: never tighter than the file's, above an ordinary day here."""
    orders, commission = rules.rule("orders"), rules.rule("commission")
    out: dict[tuple[str, str], float | int] = {}
    if norms["spike_ratio_p99"] is not None:
        out[("orders", "spike_ratio")] = round(max(orders.spike_ratio, 1.1 * norms["spike_ratio_p99"]), 1)
    if norms["big_order_ratio_p99"] is not None:
        out[("orders", "big_order_ratio")] = round(max(orders.big_order_ratio, 1.1 * norms["big_order_ratio_p99"]), 1)
    if norms["paid_orders_per_customer_day_p999"] is not None:
        out[("commission", "split_min_orders")] = int(max(commission.split_min_orders,
                                                          norms["paid_orders_per_customer_day_p999"] + 1))
    return out


def channels_found(replay, rules: "Rules") -> dict[str, dict]:
    """The company's own channels as the replay's channel learner (streams/channel_feed.py) sees them
    at the end of the records: target → standing, as `paodan rules channels` lists them (proposed, and
    those the rules file has confirmed or rejected)."""
    from detectors import channels
    from paodan.channels_cmd import decisions
    from streams.channel_feed import standing
    from streams.driver import TEAM

    return standing(replay.store.get(TEAM, channels.KEY, None), replay.chat_state, replay.directory,
                    decisions(rules))


def calibrate(records: Iterable[tuple[str, bytes]], rules: "Rules", progress: IO[str] | None = sys.stderr
              ) -> dict[str, Any]:
    from streams.backtest import _Alerts
    from streams.replay import Replay

    began = time.monotonic()
    alerts = _Alerts()
    replay = Replay(rules, alerts, progress or sys.stderr)
    norms = Norms()
    for where, raw in records:
        norms.see(raw)
        replay.line(where, raw)
        if progress is not None and replay.records % PROGRESS_EVERY == 0 and replay.records:
            progress.write(f"[calibrate] … {replay.records:,} 条记录 records, {len(alerts.by_id):,} 条告警 alerts, "
                           f"{time.monotonic() - began:.1f}s\n")
            progress.flush()
    days = norms.days()
    employees = set(norms.tz) | set(norms.day_orders)
    per_rule: dict[str, dict[str, Any]] = {}
    for alert in alerts.by_id.values():
        row = per_rule.setdefault(alert["rule"], {"alerts": 0, "flagging_alerts": 0, "employees": set(),
                                                  "severity": Counter()})
        row["alerts"] += 1
        row["severity"][alert.get("severity", "")] += 1
        if alert.get("severity") in FLAGGING:
            row["flagging_alerts"] += 1
            row["employees"].add(alert["employee_id"])
    norm = norms.summary()
    return {
        "rules_version": rules.version, "records": replay.records, "bad_records": replay.bad,
        "days": round(days, 1), "employees": len(employees), "seconds": round(time.monotonic() - began, 2),
        "rules": {rule: {"alerts": r["alerts"], "employees_flagged": len(r["employees"]),
                         "share_flagged": round(len(r["employees"]) / len(employees), 3) if employees else None,
                         "flagging_alerts_per_day": round(r["flagging_alerts"] / days, 2) if days else None,
                         "severity": dict(r["severity"])}
                  for rule, r in sorted(per_rule.items())},
        "norms": norm,
        "suggested": {f"{s}.{k}": v for (s, k), v in suggestions(norm, rules).items()},
        "channels": channels_found(replay, rules),
    }


# --- the rules file with the suggestions --------------------------------------------------------------

def rewrite(text: str, source: Path, target: Path, values: dict[str, Any], version: str) -> str:
    """`text` (the source rules file) with `section.key` values replaced inside `rules:`, the version
    marked as calibrated and the lexicon paths made to resolve from `target`'s directory."""
    out, section = [], None
    for line in text.splitlines(keepends=True):
        m = re.match(r"^  ([a-z_.]+):\s*(#.*)?$", line)
        if m:
            section = m.group(1)
        elif re.match(r"^\S", line):
            section = None
        km = re.match(r"^(    )([a-z_]+)(:\s*)([^#\n]*?)(\s*#.*)?(\n?)$", line)
        if km and section and f"{section}.{km.group(2)}" in values:
            new = values[f"{section}.{km.group(2)}"]
            comment = km.group(5) or ""
            line = f"{km.group(1)}{km.group(2)}{km.group(3)}{new}{comment}{km.group(6)}"
        elif re.match(r"^version:", line):
            line = f'version: "{version}"\n'
        elif re.match(r"^  - ", line) and section is None:
            rel = line[4:].strip().strip("'\"")
            absolute = (source.parent / rel).resolve()
            if target.parent.resolve() != source.parent.resolve():
                line = f"  - {absolute}\n"
        out.append(line)
    return "".join(out)


def write_rules(rules: "Rules", report: dict[str, Any], out: Path) -> str:
    """Write the calibrated rules file; return its version. Raise ConfigError if it would not load."""
    from config.rules import load_rules

    source = Path(rules.path)
    version = f"{rules.version}-calibrated"
    values = dict(report["suggested"])
    text = rewrite(source.read_text(encoding="utf-8"), source, out, values, version)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=out.parent, delete=False, encoding="utf-8") as tmp:
        tmp.write(text)
    tmp_path = Path(tmp.name)
    try:
        load_rules(tmp_path)  # what `rules validate` checks
        tmp_path.replace(out)
    finally:
        tmp_path.unlink(missing_ok=True)
    return version


def render(report: dict[str, Any]) -> str:
    lines_ = [f"规则 rules {report['rules_version']}：{report['records']:,} 条记录 records，{report['days']} 天 days，"
              f"{report['employees']} 名员工 employees",
              f"{'规则 rule':<34} {'标记员工 flagged':>16} {'占比 share':>10} {'告警/天 alerts/day':>18}"]
    for rule, r in report["rules"].items():
        share = f"{r['share_flagged']:.0%}" if r["share_flagged"] is not None else "—"
        lines_.append(f"{rule:<34} {r['employees_flagged']:>16} {share:>10} {r['flagging_alerts_per_day'] or 0:>18}")
    if not report["rules"]:
        lines_.append("（无告警 no alerts）")
    n = report["norms"]
    lines_ += ["", "本公司常态 the company's norms (peer medians):",
               f"  每名员工每活跃日订单中位数 orders per active day: {n['orders_per_active_day_median']}",
               f"  典型单笔金额中位数 typical order amount: {n['order_amount_median']}",
               f"  当日订单/个人均值 p99 day's orders / own mean: {n['spike_ratio_p99']}",
               f"  单笔/个人典型 p99 order / own typical: {n['big_order_ratio_p99']}",
               f"  同客户同日付款单数 p99.9 paid orders per customer-day: {n['paid_orders_per_customer_day_p999']}"]
    for row in n["commission_rates"][:10]:
        lines_.append(f"  佣金率 commission rate {row['store'] or '—'} / {row['sku'] or '—'}: 中位数 median "
                      f"{row['median_rate']:.2%}，最高员工 highest employee {row['max_employee_rate']:.2%}"
                      f"（{row['employees']} 人 employees）")
    lines_ += ["", "建议阈值 suggested thresholds:"]
    lines_ += [f"  {k}: {v}" for k, v in report["suggested"].items()] or ["  （数据不足 not enough data）"]
    from paodan.channels_cmd import rows

    lines_ += ["", f"公司自有渠道 the company's own channels: {len(report['channels'])}"]
    lines_ += rows(report["channels"]) or ["  （无 none）"]
    return "\n".join(lines_)


def _records(args, progress: IO[str]) -> Iterator[tuple[str, bytes]]:
    from streams.replay import lines

    if args.files:
        yield from lines(args.files)
        return
    from config.settings import load
    from paodan.history_cmd import parse_when
    from paodan.history_cmd import _archive
    from streams.backtest import archived_records

    settings = load()
    since = parse_when(args.since)
    until = int(time.time() * 1000)

    def on_day(d: str, n: int, days: int) -> None:
        progress.write(f"[calibrate] {d}（{n}/{days} 天 days）\n")
        progress.flush()

    yield from archived_records(_archive(settings), since, until, on_day)


def cmd_calibrate(args, rules: "Rules") -> int:
    from config.yamlfile import ConfigError

    if not args.files and not args.since:
        print("paodan rules calibrate: 需要回放文件或 --since（give replay files or --since 30d）", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        report = calibrate(_records(args, sys.stderr), rules, sys.stderr)
    except FileNotFoundError as exc:
        print(f"paodan rules calibrate: {exc.filename}: 文件不存在 no such file", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"paodan rules calibrate: 无法读取归档 cannot read the archive ({exc})", file=sys.stderr)
        return 3
    print(f"[calibrate] {report['records']:,} 条记录 records in {time.monotonic() - started:.1f}s", file=sys.stderr)
    if args.out:
        try:
            version = write_rules(rules, report, Path(args.out))
        except ConfigError as exc:
            print(f"paodan rules calibrate: 生成的规则文件无效 the calibrated file is invalid: {exc}", file=sys.stderr)
            return 1
        print(f"[calibrate] 已写入 wrote {args.out} (version {version})", file=sys.stderr)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(render(report))
    return 0


def add_parser(rsub, run) -> None:
    """`paodan rules calibrate`; `run(args)` is cli.py's handler (it loads --rules)."""
    c = rsub.add_parser("calibrate", help="本公司常态与建议阈值 what each rule would flag here, the norms, "
                                          "suggested thresholds")
    c.add_argument("files", nargs="*", metavar="FILE", help="replay-format files (else --since reads the archive)")
    c.add_argument("--since", help="read the ClickHouse archive from then: 30d, 2w or a date")
    c.add_argument("--rules", help="the rules file to calibrate (default: PAODAN_RULES_FILE)")
    c.add_argument("--out", help="write the rules file with the suggested thresholds (validated)")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(func=run)
