"""`paodan evidence request|approve|export|verify` (registered in paodan/cli.py): case files for HR or a
lawyer (sinks/evidence.py). The CLI acts as the holder of the board token in `--token` / PAODAN_TOKEN:
compliance requests and exports, an admin other than the requester approves; every step is audited."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from paodan.history_cmd import UNREACHABLE, _archive, _caller, _unreachable, _when, parse_when


def cmd_evidence(args, settings_of) -> int:
    from config.chain import load_chain
    from sinks import evidence
    from sinks.chain_checkpoints import load_private_key, load_public_key, read_file, read_topic
    from aiokafka.errors import KafkaError

    from sinks.history import PermissionDenied

    if args.action == "verify":
        public = load_public_key(Path(args.public_key)) if args.public_key else None
        problems = evidence.verify(Path(args.file).read_bytes(), public)
        if problems:
            print("证据包校验失败 / CASE FILE DOES NOT VERIFY:")
            for p in problems:
                print(f"  {p}")
            return 1
        print("证据包完整 / case file verifies: every file matches the signed manifest and every chat record its "
              "hash-chain block" + ("" if public else " (signed with the key it carries: compare its fingerprint)"))
        return 0
    settings = settings_of()
    caller = _caller(settings, args)
    archive = _archive(settings)
    publish = evidence.kafka_publisher(settings.kafka)  # audit steps chained by the archive consumer
    try:
        if args.action == "request":
            rid = evidence.request(archive, caller, args.reason, alert_id=args.alert or "",
                                   employee_id=args.employee or "", from_ms=parse_when(args.from_),
                                   to_ms=parse_when(args.to), publish=publish)
            print(rid)
        elif args.action == "approve":
            st = evidence.approve(archive, caller, args.request_id, publish)
            print(f"{args.request_id} approved by {st['approved_by']} (requested by {st['requester']})")
        else:
            chain = load_chain()
            checkpoints = read_file(chain.checkpoint_file)
            try:
                checkpoints += asyncio.run(read_topic(settings.kafka, chain.checkpoint_topic))
            except Exception as exc:  # the file's checkpoints still prove what they can
                print(f"checkpoint topic not read ({type(exc).__name__}: {exc})", file=sys.stderr)
            from config.rules import load_rules
            from streams.media import case_file_media

            media = case_file_media(load_rules(settings.rules_file).rule("media"))  # PAODAN_MEDIA, when set
            body = evidence.export(archive, caller, args.request_id, load_private_key(chain), checkpoints, publish,
                                   media)
            Path(args.out).write_bytes(body)
            print(f"{args.out}: {len(body):,} bytes")
    except (PermissionDenied, evidence.EvidenceError) as exc:
        print(f"paodan evidence {args.action}: {exc}", file=sys.stderr)
        return 2
    except UNREACHABLE as exc:
        return _unreachable(f"paodan evidence {args.action}", settings.clickhouse, exc)
    except KafkaError as exc:  # the step is not taken: it could not be audited in the chained stream
        print(f"paodan evidence {args.action}: Kafka 不可用，步骤未执行 / Kafka unreachable at {settings.kafka}, step "
              f"not taken ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 3
    return 0


def add_parser(sub, settings_of) -> None:
    s = sub.add_parser("evidence", help="case files: request, approve, export, verify")
    esub = s.add_subparsers(dest="action", required=True)
    run = lambda args: cmd_evidence(args, settings_of)  # noqa: E731
    r = esub.add_parser("request", help="ask for a case file (compliance); prints the request id")
    r.add_argument("--alert", help="the alert the case is about")
    r.add_argument("--employee", help="or an employee …")
    r.add_argument("--from", dest="from_", type=_when, help="… from (2026-11-01, 30d …)")
    r.add_argument("--to", type=_when, help="… to")
    r.add_argument("--reason", required=True)
    a = esub.add_parser("approve", help="approve a request (an admin other than the requester)")
    a.add_argument("request_id")
    x = esub.add_parser("export", help="write the approved case file (the requester)")
    x.add_argument("request_id")
    x.add_argument("--out", required=True, metavar="FILE.zip")
    v = esub.add_parser("verify", help="check a case file offline; fails on any changed byte")
    v.add_argument("file", metavar="FILE.zip")
    v.add_argument("--public-key", help="the deployment's PEM public key (default: the one the file carries)")
    for p in (r, a, x):
        p.add_argument("--token", help="board access token (default PAODAN_TOKEN)")
    for p in (r, a, x, v):
        p.set_defaults(func=run)
