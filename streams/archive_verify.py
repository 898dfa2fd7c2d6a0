"""`paodan archive verify`: recompute the archive's hash chains (sinks/chain.py), check every archived row
against the chain and every chain against its signed checkpoints (sinks/chain_checkpoints.py).

What is found, and how:
- a row changed in place (`ALTER … UPDATE`, or a newer version inserted over it): its raw bytes no
  longer have the chained digest, or its other columns are no longer what the archive's row builders
  make of those bytes;
- a row deleted: the chain names a record the table no longer holds (unless retention dropped its month);
- a block of the chain changed or deleted: its hash does not recompute, or the chain, followed from
  its first block by the hashes, stops short of later blocks;
- a chain rewritten from some block on, or cut short: it disagrees with, or ends before, a signed
  checkpoint kept outside ClickHouse; a checkpoint whose signature fails is itself a finding.
Rows not in any chain (archived before the chain existed, or written outside the archive consumer, such
as the audit rows of `view_content`) are counted, not judged.

Lives in streams/ because it rebuilds rows with the archive consumer's builders (formats.records).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable

import orjson

from sinks.chain import (GENESIS, SOURCES, alert_digest, alert_record_id, block_hash, body_hash, read_back)
from sinks.chain_checkpoints import chain_name, cp_chain, signature_ok
from sinks.clickhouse import alert_state
from sinks.clickhouse.rows import contact_row, hr_row, message_row, order_row
from sinks.clickhouse.schema import ALERTS, ARCHIVE_CHAIN
from formats.records import message_text

# Rows are read back from a little before --since: a row is stamped just before its batch's blocks.
SINCE_MARGIN_S = 3600
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

# What the archive consumer builds from a record's raw bytes (streams/archive.py), per table.
BUILDERS: dict[str, Callable[[dict[str, Any], bytes], tuple | None]] = {
    "messages": lambda rec, raw: message_row(rec, message_text(rec), 0, raw),
    "contact_events": lambda rec, raw: contact_row(rec, 0, raw),
    "orders": lambda rec, raw: order_row(rec, 0, raw),
    "hr_events": lambda rec, raw: hr_row(rec, 0, raw),
}


@dataclass(frozen=True)
class Block:
    writer: str
    source: str
    corp: str
    part: int
    seq: int
    first: int
    last: int
    record_ids: str
    digests: str  # hex
    prev: str
    hash: str
    archived_at: int

    @property
    def chain(self) -> str:
        return chain_name((self.source, self.corp, self.part), self.writer)

    def records(self) -> list[tuple[str, str, int | None]]:
        """(record id, digest hex, day or None) of each record, in chain order."""
        source = SOURCES.get(self.source)
        out = []
        for i, key in enumerate(zip(*orjson.loads(self.record_ids))):  # stored column by column
            key = list(key)
            day = source.day_of_key(key) if source is not None else None
            out.append((orjson.dumps(key).decode(), self.digests[64 * i:64 * i + 64], day))
        return out

    def recomputes(self) -> bool:
        body = body_hash(self.record_ids, bytes.fromhex(self.digests))
        key = (self.source, self.corp, self.part)
        return block_hash(key, self.seq, self.first, self.last, bytes.fromhex(self.prev), body,
                          self.writer).hex() == self.hash


@dataclass(frozen=True)
class Finding:
    """Something that no longer matches, at a place in a chain (archive order)."""

    archived_at: int
    chain: str
    seq: int
    record: str  # the table and the record's id, or the place in the chain
    what: str

    def line(self) -> str:
        return f"{self.record} (chain {self.chain} block {self.seq}): {self.what}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    blocks: int = 0
    records: int = 0
    chains: int = 0
    stale_blocks: int = 0  # left by a batch read twice, off the chain, holding only chained records
    rows_checked: dict[str, int] = field(default_factory=dict)
    unchained: dict[str, int] = field(default_factory=dict)
    expired: int = 0
    checkpoints: int = 0
    unsigned_chains: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def ordered(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: (f.archived_at, f.chain, f.seq))

    def first(self) -> Finding | None:
        ordered = self.ordered()
        return ordered[0] if ordered else None


def read_blocks(archive, since_s: int | None = None) -> list[Block]:
    where = "WHERE archived_at >= toDateTime(%(since)s)" if since_s is not None else ""
    rows = archive.execute(
        f"SELECT writer, source, corp, part, seq, first_offset, last_offset, record_ids, lower(hex(digests)), prev, hash, "
        f"toUInt32(archived_at) FROM {archive.database}.{ARCHIVE_CHAIN.name} FINAL {where} "
        "ORDER BY writer, source, corp, part, first_offset, last_offset",
        {"since": since_s} if since_s is not None else None)
    return [Block(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]), int(r[6]), r[7], r[8], r[9], r[10], int(r[11]))
            for r in rows]


def _walk(blocks: list[Block], from_start: bool) -> list[Block]:
    """The chain: from its first block, each next block the one whose prev is this one's hash (the
    latest written, where a batch read twice left two)."""
    by_prev: dict[str, list[Block]] = defaultdict(list)
    for b in blocks:
        by_prev[b.prev].append(b)
    cur = GENESIS.hex() if from_start else min(blocks, key=lambda b: (b.first, -b.archived_at)).prev
    path, last = [], -1
    while True:
        nexts = [b for b in by_prev.get(cur, []) if b.first > last]
        if not nexts:
            return path
        b = max(nexts, key=lambda b: (b.archived_at, b.last))
        path.append(b)
        cur, last = b.hash, b.last


def check_chains(blocks: list[Block], checkpoints: list[dict[str, Any]], public_key, report: Report,
                 from_start: bool) -> list[Block]:
    """Walk every chain; return the blocks on them (whose records the rows are checked against)."""
    by_chain: dict[str, list[Block]] = defaultdict(list)
    for b in blocks:
        by_chain[b.chain].append(b)
    signed = _signed(checkpoints, public_key, report)
    report.chains = len(by_chain)
    on_chain: list[Block] = []
    for name, its in by_chain.items():
        for b in its:
            if not b.recomputes():
                report.findings.append(Finding(b.archived_at, name, b.seq, f"{b.source} offsets {b.first}–{b.last}",
                                               "链块哈希不符（链块被修改）/ block hash does not recompute (block changed)"))
        path = _walk(its, from_start)
        on_chain += path
        end = path[-1].last if path else -1
        chained = {(rid, d) for b in path for rid, d, _ in b.records()}
        for b in its:
            if b in path:
                continue
            if b.last <= end:  # a batch read twice: must hold only what the chain holds
                report.stale_blocks += 1
                for rid, d, _ in b.records():
                    if (rid, d) not in chained:
                        report.findings.append(Finding(b.archived_at, name, b.seq, f"{b.source} {rid}",
                                                       "记录与先前入链的不同（链被重写）/ record differs from the one "
                                                       "chained before (chain rewritten)"))
            else:
                after = path[-1].seq if path else 0
                report.findings.append(Finding(b.archived_at, name, after + 1,
                                               f"{b.source} offsets {end + 1}–{b.first - 1}",
                                               f"链在第 {after} 块后断开（链块被删除）/ chain broken after block "
                                               f"{after}: blocks deleted"))
                break
        hashes = {b.hash for b in its}
        for cp in sorted(signed.pop(name, []), key=lambda c: int(c["seq"])):
            if cp["hash"] in hashes:
                continue
            seq, cp_last = int(cp["seq"]), int(cp.get("last_offset", -1))
            if not from_start and path and seq < path[0].seq:
                continue
            if cp_last > end:
                after = path[-1].seq if path else 0
                report.findings.append(Finding(int(cp.get("at", 0)) // 1000, name, after + 1,
                                               f"{cp['source']} offsets {end + 1}–{cp_last}",
                                               f"链止于第 {after} 块，签名检查点到第 {seq} 块（尾部被删除）/ chain ends "
                                               f"at block {after} but a signed checkpoint is at block {seq} (tail deleted)"))
                break
            at = next((b for b in path if b.seq == seq), None)
            report.findings.append(Finding(at.archived_at if at else 0, name, seq,
                                           f"{cp['source']} offsets {at.first}–{at.last}" if at else name,
                                           "链与签名检查点不符（链被重写）/ chain differs from its signed checkpoint "
                                           "(rewritten)"))
            break
        if name not in _names(checkpoints):
            report.unsigned_chains.append(name)
    for name, cps in signed.items():  # chains the checkpoints know and the archive does not
        if from_start:
            cp = max(cps, key=lambda c: int(c["seq"]))
            report.findings.append(Finding(int(cp.get("at", 0)) // 1000, name, 1, f"{cp['source']} chain {name}",
                                           "整条链已被删除 / the whole chain was deleted"))
    report.blocks = len(on_chain)
    report.records = sum(len(b.records()) for b in on_chain)
    return on_chain


def _names(checkpoints: list[dict[str, Any]]) -> set[str]:
    out = set()
    for cp in checkpoints:
        try:
            out.add(cp_chain(cp))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def _signed(checkpoints, public_key, report: Report) -> dict[str, list[dict[str, Any]]]:
    signed: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for cp in checkpoints:
        try:
            name = cp_chain(cp)
            seq = int(cp["seq"])
        except (KeyError, TypeError, ValueError):
            continue
        if not signature_ok(cp, public_key):
            report.findings.append(Finding(int(cp.get("at", 0)) // 1000, name, seq, f"checkpoint {name} block {seq}",
                                           "检查点签名无效 / checkpoint signature does not verify"))
            continue
        signed[name].append(cp)
    report.checkpoints = sum(len(v) for v in signed.values())
    return signed


def _stamp(value: Any) -> int:
    return calendar.timegm(value.timetuple()) if hasattr(value, "timetuple") else int(value)


def _changed_columns(source, row: tuple) -> list[str] | None:
    """Columns of an event row that are not what the archive builds from its raw bytes (None: the raw
    bytes are no record at all)."""
    build = BUILDERS.get(source.name)
    if build is None:
        return []
    raw = row[source.table.column_names.index("raw")]
    try:
        rebuilt = build(orjson.loads(raw), raw.encode() if isinstance(raw, str) else raw)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None
    if rebuilt is None:
        return None
    want, have = source.encode(rebuilt), source.encode(row)
    if want == have:
        return []
    names = [source.table.column_names[i] for i in source._keep]
    return [n for n, a, b in zip(names, orjson.loads(want), orjson.loads(have)) if a != b]


def check_rows(archive, on_chain: list[Block], report: Report, since_s: int | None, cutoff_day: int) -> None:
    records: dict[str, dict[str, list[tuple[str, int | None, Block]]]] = defaultdict(lambda: defaultdict(list))
    for b in on_chain:
        for rid, d, day in b.records():
            records[b.source][rid].append((d, day, b))
    first_at = {s: min(b.archived_at for its in recs.values() for _, _, b in its) for s, recs in records.items()}
    for name, source in SOURCES.items():
        where, params = "", None
        if since_s is not None:
            where, params = "WHERE ingested_at >= toDateTime(%(since)s)", {"since": max(0, since_s - SINCE_MARGIN_S)}
        rows = archive.execute(f"SELECT {source.table.columns_sql()} FROM {archive.database}.{name} FINAL {where}",
                               params)
        chained = records.get(name, {})
        start = first_at.get(name)
        stamp = source.table.column_names.index("ingested_at")
        by_id: dict[str, tuple] = {}
        unchained = 0
        for row in rows:
            row = read_back(source.table, row)
            rid = source.record_id(row)
            by_id[rid] = row
            if rid not in chained and start is not None and _stamp(row[stamp]) >= start:
                unchained += 1
        report.rows_checked[name] = len(rows)
        if unchained:
            report.unchained[name] = unchained
        for rid, its in chained.items():
            _, _, block = its[0]
            row = by_id.get(rid)
            what = None
            if row is None:
                if all(day is not None and day < cutoff_day for _, day, _ in its):
                    report.expired += 1
                    continue
                what = "记录已被删除 / row deleted"
            elif source.digest(row).hex() not in {d for d, _, _ in its}:
                what = "记录原文已被修改 / the record's raw bytes changed"
            else:
                changed = _changed_columns(source, row)
                if changed is None:
                    what = "记录原文不可读 / the record's raw bytes are no record"
                elif changed:
                    what = f"记录内容已被修改 / row changed: {', '.join(changed)}"
            if what:
                report.findings.append(Finding(block.archived_at, block.chain, block.seq, f"{name} {rid}", what))
    _check_alerts(archive, records.get("alerts", {}), report)


def _check_alerts(archive, chained: dict[str, list[tuple[str, int | None, Block]]], report: Report) -> None:
    """The `alerts` table keeps each alert's latest revision: its raw revision must be the chained one,
    and its detection columns must be what that revision says."""
    rows = archive.execute(f"SELECT {ALERTS.columns_sql()} FROM {archive.database}.alerts FINAL")
    report.rows_checked["alerts"] = len(rows)
    by_alert: dict[str, list[tuple[int, str, Block]]] = defaultdict(list)
    for rid, its in chained.items():
        alert_id, revision = orjson.loads(rid)
        by_alert[alert_id] += [(int(revision), d, b) for d, _, b in its]
    seen, unchained = set(), 0
    for row in rows:
        state = alert_state.from_row(read_back(ALERTS, row))
        alert_id, revision = state["alert_id"], int(state["revision"])
        seen.add(alert_id)
        its = by_alert.get(alert_id)
        if not its:
            unchained += 1
            continue
        newest = max(r for r, _, _ in its)
        at = [(d, b) for r, d, b in its if r == revision]
        block = (at[0][1] if at else max(its, key=lambda x: x[0])[2])
        what = None
        try:
            raw = orjson.loads(state["raw"])
            detection = alert_state.from_alert(raw)
        except (orjson.JSONDecodeError, alert_state.BadAlert):
            what = "告警原文不可读 / the alert's raw revision is unreadable"
        else:
            if not at or newest > revision:
                what = f"告警修订号不符（链中最新为 {newest}）/ revision {revision} is not the chained latest {newest}"
            elif alert_digest(raw).hex() not in {d for d, _ in at}:
                what = "告警原文已被修改 / the alert's raw revision changed"
            else:
                changed = sorted(k for k, v in detection.items() if k != "raw" and state.get(k) != v)
                if changed:
                    what = f"告警字段已被修改 / alert columns changed: {', '.join(changed)}"
        if what:
            report.findings.append(Finding(block.archived_at, block.chain, block.seq,
                                           f"alerts {alert_record_id(alert_id, revision)}", what))
    for alert_id, its in by_alert.items():
        if alert_id not in seen:
            revision, _, block = min(its, key=lambda x: (x[2].archived_at, x[2].seq))
            report.findings.append(Finding(block.archived_at, block.chain, block.seq,
                                           f"alerts {alert_record_id(alert_id, revision)}", "告警已被删除 / alert deleted"))
    if unchained:
        report.unchained["alerts"] = unchained


def verify(archive, checkpoints: list[dict[str, Any]], public_key, since_s: int | None = None,
           retention_days: int = 180, today: date | None = None) -> Report:
    report = Report()
    # Checkpoints of other archives (another database on the same Kafka) are not this one's.
    checkpoints = [cp for cp in checkpoints if (cp.get("database") or archive.database) == archive.database]
    blocks = read_blocks(archive, since_s)
    on_chain = check_chains(blocks, checkpoints, public_key, report, from_start=since_s is None)
    cutoff = (today or archive.today()) - timedelta(days=retention_days)
    check_rows(archive, on_chain, report, since_s, cutoff.toordinal() - _EPOCH_ORDINAL)
    return report
