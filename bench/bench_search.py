"""Keyword search latency over a large chat archive, on current ClickHouse (chdb) and on the 18.16 server.

The messages are generated inside ClickHouse (INSERT … SELECT from numbers()), spread over 30 days:
ordinary sales chat built from templates, order numbers and customer names, with a rare diversion phrase
planted in one message of 100,000. `content_norm` is filled with the live matcher's normalisation of
each part (detectors.textnorm). The search is the shipped one (`sinks.history.search`, as
`paodan history search` runs it, audit row included), timed over a rare phrase and a common word.

Usage: .venv/bin/python -m bench.bench_search [--rows 10000000] [--runs 5] [--skip-server] [--skip-chdb]
The 18.16 run uses a throw-away database on the local stack's server (dropped afterwards).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from config.settings import load
from sinks.clickhouse import ClickHouseArchive, EmbeddedArchive
from sinks.clickhouse.rows import norm
from sinks.clickhouse.schema import migrate
from sinks.history import Caller, search
from tests.live import unique

TEMPLATES = ["您好，请问有什么可以帮您？", "这款今天有满减活动，官方旗舰店下单就行。", "明天下午三点前可以送到。",
             "收到，稍后给您发电子发票。", "这个型号库存还有十二件。", "好的，我帮您查一下物流。", "颜色有黑白两种，白色更好卖。",
             "会员价是一千二百九十九元。", "退换货七天无理由，放心购买。", "周末门店也营业，欢迎来体验。", "尺码偏大，建议选小一号。",
             "赠品是一个保温杯，数量有限。", "已经给您备注加急了。", "这个价格是最低价了，不能再少了。", "新款下周上架，到时通知您。"]
NAMES = ["王女士", "李先生", "张总", "刘姐", "陈老师", "杨女士", "赵先生", "黄姐", "周总", "吴先生", "徐女士", "孙先生"]
PLANTED = "亲，这款你去拼多多下单，比这里便宜"
DAY_MS = 86_400_000


def _array(items: list[str]) -> str:
    return "[" + ", ".join("'" + s.replace("'", "\\'") + "'" for s in items) + "]"


def generate(archive, rows: int, end_ms: int) -> float:
    """Fill `messages` with `rows` generated messages over the 30 days before end_ms; return seconds."""
    db = archive.database
    t = _array(TEMPLATES)
    tn = _array([norm(x) for x in TEMPLATES])
    names = _array(NAMES)
    names_n = _array([norm(x) for x in NAMES])
    span = 30 * DAY_MS
    began = time.monotonic()
    chunk = 1_000_000
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        archive.execute(f"""
INSERT INTO {db}.messages (msgid, corpid, seq, action, sender, tolist, roomid, msgtime, msg_time, msg_date,
                           msgtype, content, raw, ingested_at, content_norm)
SELECT concat('bench-', toString(number)) AS msgid, 'wwbench', number, 'send',
       concat('emp', toString(number % 500)), [concat('wmCUST', toString(intHash32(number) % 20000))], '',
       toUInt64({end_ms - span}) + intDiv(number * {span}, {rows}) AS ms, toDateTime(intDiv(ms, 1000)),
       toDate(toDateTime(intDiv(ms, 1000))), 'text',
       if(number % 100000 = 77, '{PLANTED}',
          concat({names}[number % {len(NAMES)} + 1], '，', {t}[intHash32(number) % {len(TEMPLATES)} + 1],
                 '订单', toString(intHash64(number) % 1000000))) AS content,
       '', now(),
       if(number % 100000 = 77, '{norm(PLANTED)}',
          concat({names_n}[number % {len(NAMES)} + 1], {tn}[intHash32(number) % {len(TEMPLATES)} + 1],
                 '订单', toString(intHash64(number) % 1000000)))
FROM numbers({start}, {n})""")
    return time.monotonic() - began


def timed_search(archive, query: str, since: int, until: int, runs: int) -> tuple[list[float], int]:
    caller = Caller("bench", "compliance")
    times, hits = [], 0
    for _ in range(runs):
        began = time.monotonic()
        hits = len(search(archive, caller, query, since, until, limit=100)["hits"])
        times.append(time.monotonic() - began)
    return times, hits


def bench(name: str, archive, rows: int, runs: int) -> None:
    migrate(archive)
    end = int(time.time() * 1000)
    took = generate(archive, rows, end)
    [(count,)] = archive.execute(f"SELECT count() FROM {archive.database}.messages")
    print(f"{name} {archive.server_version()}: generated {count:,} messages in {took:.1f}s "
          f"({count / took:,.0f} rows/s)")
    for label, query in (("rare phrase '拼多多 下单'", "拼多多 下单"), ("common word '发票'", "发票")):
        times, hits = timed_search(archive, query, end - 30 * DAY_MS, end, runs)
        print(f"  search {label}: {hits} hits (limit 100); first {times[0] * 1000:.0f} ms, "
              f"median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over {runs} runs")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--skip-chdb", action="store_true")
    p.add_argument("--skip-server", action="store_true")
    args = p.parse_args()
    if not args.skip_chdb:
        with tempfile.TemporaryDirectory(prefix="paodan-bench-chdb-") as path:
            archive = EmbeddedArchive("paodan_bench", path=path)
            try:
                bench("chdb (current ClickHouse, ngram skip index)", archive, args.rows, args.runs)
            finally:
                archive.close()
    if not args.skip_server:
        base = load().clickhouse.rsplit("/", 1)[0]
        archive = ClickHouseArchive(f"{base}/{unique('paodan_bench_')}")
        try:
            bench("server (no skip index)", archive, args.rows, args.runs)
        finally:
            archive.execute(f"DROP DATABASE IF EXISTS {archive.database}")


if __name__ == "__main__":
    main()
