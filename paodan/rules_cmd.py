"""`paodan rules publish FILE` and `paodan rules published` (registered in paodan/cli.py).

`publish` validates the rules file exactly like `paodan rules validate` (same `file:line: reason`, same
exit code 1), packs it with its lexicons into a bundle (streams/rules_bundle.py), checks that the bundle
unpacks and loads the way a worker will load it, and produces it to the rules topic; every worker runs
it within seconds. Exit codes: 0 published (or already the latest), 1 the file or bundle is invalid,
3 Kafka unreachable.

`published` shows the latest published bundle and the version each worker reports running.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka.errors import KafkaError

KAFKA_DOWN = 3
KAFKA_ERRORS = (KafkaError, OSError, TimeoutError)  # what an unreachable or failing broker raises
STALE_AFTER_S = 35  # a worker reports every 10 s; three missed reports and it is shown as not seen


def _utc(ms: int | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ms / 1000)) if ms else "—"


def _latest(settings) -> dict | None:
    from streams import rules_bundle

    value, _ = rules_bundle.run_blocking(rules_bundle.read_latest(settings.kafka, settings.rules_topic), 30)
    if value is None:
        return None
    try:
        return rules_bundle.header(value)
    except rules_bundle.BundleError as exc:
        return {"invalid": str(exc)}


def cmd_publish(args, rules, settings) -> int:
    """`rules` is the loaded file (cli.py's loader already refused an invalid one, like `validate`)."""
    from streams import rules_bundle

    value = rules_bundle.pack(rules, published_by=args.by)
    if len(value) > rules_bundle.MAX_BUNDLE_BYTES:
        print(f"paodan rules publish: the bundle is {len(value) / 2**20:.1f} MiB, more than the "
              f"{rules_bundle.MAX_BUNDLE_BYTES >> 20} MiB a rules topic record may hold; split or trim the "
              "lexicons", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="paodan-rules-") as tmp:
        try:
            rules_bundle.unpack(value, Path(tmp))  # exactly what every worker will do with it
        except rules_bundle.BundleError as exc:
            print(f"paodan rules publish: {rules.path} cannot be published: {exc}", file=sys.stderr)
            return 1
    try:
        latest = _latest(settings)
        if latest and latest.get("digest") == rules_bundle.header(value)["digest"]:
            print(f"version {rules.version} with this content is already the latest on {settings.rules_topic}; "
                  "nothing to publish")
            return 0
        partition, offset = rules_bundle.run_blocking(
            rules_bundle.publish(settings.kafka, settings.rules_topic, value), 30)
    except KAFKA_ERRORS as exc:
        print(f"paodan rules publish: cannot reach Kafka at {settings.kafka} ({type(exc).__name__}: {exc}); "
              "run `paodan stack up` or set PAODAN_KAFKA, then publish again", file=sys.stderr)
        return KAFKA_DOWN
    head = rules_bundle.header(value)
    print(f"published rules version {rules.version} (digest {head['digest'][:12]}, {len(head['files'])} files, "
          f"{len(value):,} bytes) to {settings.rules_topic} [partition {partition}, offset {offset}]")
    if latest and latest.get("version") and not rules_bundle.newer(rules.version, latest["version"]):
        print(f"note: {rules.version} is not newer than the previous {latest['version']}: running workers "
              "switch to it (a rollback), but a worker started later runs it only if it is newer than its "
              "own rules file", file=sys.stderr)
    print("every worker runs it within seconds; check with `paodan rules published`")
    return 0


def workers(settings) -> list[dict]:
    """What each worker of this app id last reported running (newest report first)."""
    import redis

    from streams import rules_bundle

    client = redis.Redis.from_url(settings.redis, socket_timeout=3, socket_connect_timeout=3)
    try:
        raw = client.hgetall(rules_bundle.WORKERS_KEY.format(app_id=settings.app_id))
    finally:
        client.close()
    return sorted((orjson.loads(v) for v in raw.values()), key=lambda w: -w.get("seen", 0))


def cmd_published(args, settings) -> int:
    from redis.exceptions import RedisError

    try:
        latest = _latest(settings)
    except KAFKA_ERRORS as exc:
        print(f"paodan rules published: cannot read {settings.rules_topic} from Kafka at {settings.kafka} "
              f"({type(exc).__name__}: {exc}); run `paodan stack up` or set PAODAN_KAFKA", file=sys.stderr)
        return KAFKA_DOWN
    try:
        running = workers(settings)
    except RedisError as exc:
        print(f"(workers' versions unknown: Redis at {settings.redis}: {exc})", file=sys.stderr)
        running = []
    now = time.time() * 1000
    for w in running:
        w["live"] = now - w.get("seen", 0) <= STALE_AFTER_S * 1000
    if args.json:
        sys.stdout.buffer.write(orjson.dumps({"topic": settings.rules_topic, "latest": latest, "workers": running},
                                             option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    if latest is None:
        print(f"{settings.rules_topic}: nothing published yet (workers run their rules files)")
    elif "invalid" in latest:
        print(f"{settings.rules_topic}: the latest record is not a valid bundle ({latest['invalid']}); "
              "workers refused it and keep their rules")
    else:
        print(f"{settings.rules_topic}: latest published version {latest['version']} (digest "
              f"{latest['digest'][:12]}), by {latest.get('published_by', '?')} at {_utc(latest.get('published_at'))}")
        print(f"  files: {', '.join(latest['files'])}")
    print(f"workers of {settings.app_id} ({sum(w['live'] for w in running)} reporting):")
    if not running:
        print("  none has reported (is a worker running with this PAODAN_APP_ID and PAODAN_REDIS?)")
    for w in running:
        seen = "" if w["live"] else f"  — not seen since {_utc(w.get('seen'))}"
        refused = f"  (refused: {w['refused']})" if w.get("refused") else ""
        print(f"  {w['worker']:<28} version {w['version']:<18} from the {w['origin']:<9} "
              f"digest {w['digest'][:12]}{seen}{refused}")
    return 0


def add_parsers(rsub, load_rules, load_settings) -> None:
    """`rules publish` and `rules published`; `load_rules(path)` is cli.py's (exits like `validate`)."""
    p = rsub.add_parser("publish", help="validate a rules file and publish it (with its lexicons) to every worker",
                        description="Validates FILE like `rules validate`, then produces it and the lexicons it "
                                    "lists as one versioned bundle to the compacted rules topic (paodan.rules or "
                                    "PAODAN_RULES_TOPIC). Every worker, on any machine, runs it within seconds. "
                                    "Exit codes: 1 invalid, 3 Kafka unreachable.")
    p.add_argument("file")
    p.add_argument("--by", help="who publishes (default: $USER@host)")
    p.set_defaults(func=lambda args: cmd_publish(args, load_rules(args.file), load_settings()))
    s = rsub.add_parser("published", help="the latest published rules and the version each worker runs")
    s.add_argument("--json", action="store_true", help="print as JSON")
    s.set_defaults(func=lambda args: cmd_published(args, load_settings()))
    from paodan import channels_cmd

    channels_cmd.add_parser(rsub, load_rules)
