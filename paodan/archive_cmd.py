"""`paodan archive verify` (registered in paodan/cli.py): check the tamper-evident archive.

Recomputes every hash chain in ClickHouse `archive_chain`, checks each archived row against its link and
each chain against the signed checkpoints kept outside ClickHouse (the checkpoint file and the compacted
Kafka topic); prints the first record that no longer matches. Exit status 0: everything matches; 1:
something was changed or deleted; 2: the archive could not be checked.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import orjson

from paodan.history_cmd import UNREACHABLE, _archive, _when, parse_when


def _checkpoints(settings, chain_settings, use_kafka: bool) -> tuple[list[dict], list[str]]:
    from sinks.chain_checkpoints import read_file, read_topic

    notes = []
    cps = read_file(chain_settings.checkpoint_file)
    notes.append(f"{len(cps)} checkpoints in {chain_settings.checkpoint_file}")
    if use_kafka:
        try:
            from_kafka = asyncio.run(read_topic(settings.kafka, chain_settings.checkpoint_topic))
        except Exception as exc:  # Kafka down: the file still counts, and we say so
            notes.append(f"Kafka topic {chain_settings.checkpoint_topic} not read ({type(exc).__name__}: {exc})")
        else:
            notes.append(f"{len(from_kafka)} checkpoints in Kafka topic {chain_settings.checkpoint_topic}")
            cps += from_kafka
    return cps, notes


def cmd_verify(args, settings_of) -> int:
    from config.chain import load_chain
    from sinks.chain_checkpoints import load_private_key, load_public_key
    from streams.archive_verify import verify

    settings = settings_of()
    chain_settings = load_chain()
    try:
        if args.public_key:
            public = load_public_key(Path(args.public_key))
        elif chain_settings.public_key_file.exists():
            public = load_public_key(chain_settings.public_key_file)
        else:
            public = load_private_key(chain_settings, create=False).public_key()
    except (OSError, ValueError) as exc:
        print(f"paodan archive verify: no public key to check checkpoints with ({exc}); "
              "pass --public-key FILE", file=sys.stderr)
        return 2
    checkpoints, notes = _checkpoints(settings, chain_settings, not args.no_kafka)
    since = parse_when(args.since)
    try:
        report = verify(_archive(settings), checkpoints, public, since // 1000 if since is not None else None,
                        settings.retention_days)
    except UNREACHABLE as exc:
        print(f"paodan archive verify: the archive failed ({type(exc).__name__}: {exc}); is ClickHouse up at "
              f"{settings.clickhouse.split('@')[-1]}?", file=sys.stderr)
        return 2
    first = report.first()
    if args.json:
        print(orjson.dumps({
            "ok": report.ok, "first": first.__dict__ if first else None,
            "findings": [f.__dict__ for f in report.ordered()],
            "blocks": report.blocks, "records": report.records, "stale_blocks": report.stale_blocks,
            "chains": report.chains, "rows_checked": report.rows_checked,
            "unchained": report.unchained, "expired": report.expired, "checkpoints": report.checkpoints,
            "chains_without_checkpoint": report.unsigned_chains, "notes": notes}).decode())
        return 0 if report.ok else 1
    for note in notes:
        print(note)
    print(f"{report.records} records in {report.blocks} blocks of {report.chains} chains; rows checked: "
          + ", ".join(f"{t} {n}" for t, n in sorted(report.rows_checked.items())))
    if report.unchained:
        print("未入链的记录（链建立前归档，或非归档进程写入）/ rows with no link (archived before the chain, or "
              "written outside the archive consumer): " + ", ".join(f"{t} {n}" for t, n in report.unchained.items()))
    if report.expired:
        print(f"{report.expired} records dropped by retention ({settings.retention_days} days)")
    if report.unsigned_chains:
        print(f"chains without a signed checkpoint yet: {', '.join(report.unsigned_chains[:10])}")
    if report.ok:
        print("归档完整，与签名检查点一致 / archive intact: every record matches its chain and the signed checkpoints")
        return 0
    print(f"归档已被篡改 / ARCHIVE TAMPERED: {len(report.findings)} findings; the first:")
    print(f"  {first.line()}")
    for finding in report.ordered()[1:20]:
        print(f"  also: {finding.line()}")
    return 1


def add_parser(sub, settings_of) -> None:
    s = sub.add_parser("archive", help="the tamper-evident archive (hash chain, signed checkpoints)")
    asub = s.add_subparsers(dest="action", required=True)
    v = asub.add_parser("verify", help="recompute the hash chains and name the first record that no longer matches",
                        description=__doc__)
    v.add_argument("--since", type=_when, help="only blocks archived since (30d, 12h, 2026-11-01…)")
    v.add_argument("--public-key", help="PEM Ed25519 public key of the deployment (default: beside PAODAN_CHAIN_KEY)")
    v.add_argument("--no-kafka", action="store_true", help="check against the checkpoint file only")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.set_defaults(func=lambda args: cmd_verify(args, settings_of))
