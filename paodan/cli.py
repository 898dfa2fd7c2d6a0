"""`paodan` — the one command line (CONTRACT.md §7). Each subcommand has --help.

Commands import their implementation lazily, so `paodan --help` and `paodan stack status` stay fast
and a missing optional dependency only affects the command that needs it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from config.settings import SettingsError, load
from paodan import act_cmd, history_cmd, rules_cmd


def _settings():
    try:
        return load()
    except SettingsError as exc:
        sys.exit(f"paodan: bad setting: {exc}")


# --- stack -------------------------------------------------------------------------------------

def cmd_stack(args) -> int:
    from paodan.stack import manager

    settings = _settings()
    try:
        if args.action == "up":
            manager.up(settings)
        elif args.action == "down":
            manager.down(settings)
        else:
            return manager.status(settings)
    except manager.StackError as exc:
        print(f"paodan stack {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_worker(args) -> int:
    from config.yamlfile import ConfigError

    if args.rules:
        os.environ["PAODAN_RULES"] = str(Path(args.rules).resolve())
    settings = _settings()
    from sinks.notify import Notifier
    from streams import worker

    try:
        Notifier.from_settings(settings)  # a bad notify file fails here, not in the archive process
    except ConfigError as exc:
        print(f"paodan worker: bad notification file: {exc}", file=sys.stderr)
        return 2
    try:
        worker.run(args.loglevel)
    except ConfigError as exc:
        print(f"paodan worker: bad rules file: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_board(args) -> int:
    from dashboard_ws import server

    settings = _settings()
    server.run(settings, args.host or settings.board_host, args.port or settings.board_port)
    return 0


def cmd_token(args) -> int:
    from redis.exceptions import RedisError

    from dashboard_ws import auth, tokens

    settings = _settings()
    try:
        token = auth.issue(settings.secret, args.role, args.team or "", int(args.ttl_hours * 3600),
                           sub=args.user or "")
    except ValueError as exc:
        print(f"paodan token issue: {exc}", file=sys.stderr)
        return 2
    claims = auth.verify(settings.secret, token)
    try:
        tokens.record(settings.redis, claims, int(time.time()))
    except RedisError as exc:
        print(f"paodan token issue: not recorded for `token list`/`revoke` (Redis: {exc}); "
              "start the stack and issue again if you may need to revoke it", file=sys.stderr)
    print(token)
    print(f"(token id {claims.jti}; revoke with: paodan token revoke {claims.jti})", file=sys.stderr)
    return 0


def cmd_token_list(args) -> int:
    from dashboard_ws import tokens

    rows = tokens.listing(_settings().redis)
    print(f"{'jti':<18}{'role':<12}{'team':<14}{'user':<14}{'expires (UTC)':<22}revoked")
    for r in rows:
        expires = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r["exp"]))
        print(f"{r['jti']:<18}{r['role']:<12}{r['team'] or '—':<14}{r['sub'] or '—':<14}{expires:<22}"
              f"{'yes' if r['revoked'] else 'no'}")
    return 0


def cmd_token_revoke(args) -> int:
    from dashboard_ws import tokens

    if not tokens.revoke(_settings().redis, args.jti):
        print(f"paodan token revoke: no unexpired token {args.jti} (see `paodan token list`)", file=sys.stderr)
        return 1
    print(f"revoked {args.jti}: refused from now on, open boards using it are closed")
    return 0


def cmd_simulate(args) -> int:
    from ingest import simulator

    if args.out:
        start = args.start_ms or 1_764_172_800_000  # 2025-11-27 00:00 +08:00: fixed so files are stable
        with (sys.stdout.buffer if args.out == "-" else open(args.out, "wb")) as fh:
            for line in simulator.replay_lines(args.seed, args.count, start, args.size, args.days, args.prefix):
                fh.write(line + b"\n")
        return 0
    settings = _settings()
    sent = asyncio.run(simulator.produce_live(settings.kafka, args.seed, args.rate, args.duration, args.size,
                                              days=args.days, prefix=args.prefix))
    print(f"[simulate] done: {sent} records", file=sys.stderr)
    return 0


def _rules(path: str | None):
    from config.rules import load_rules
    from config.yamlfile import ConfigError

    try:
        return load_rules(path or _settings().rules_file)
    except ConfigError as exc:
        sys.exit(f"paodan: bad rules file: {exc}")


def cmd_replay(args) -> int:
    from streams.replay import Replay

    replay = Replay(_rules(args.rules), sys.stdout.buffer, sys.stderr)
    media = args.media or os.environ.get("PAODAN_MEDIA")
    if media:
        from ingest.media.store import MediaStore
        from streams.media import MediaReader

        replay.media = MediaReader(MediaStore(media), replay.rules.rule("media"))
    began = time.monotonic()
    try:
        replay.run(args.files)
    except FileNotFoundError as exc:
        print(f"paodan replay: {exc.filename}: no such file", file=sys.stderr)
        return 2
    took = time.monotonic() - began
    print(f"[replay] {replay.records} records, {replay.alerts} alerts, {replay.bad} bad lines in "
          f"{took:.2f}s ({replay.records / took if took else 0:,.0f} records/s)", file=sys.stderr)
    return 0


def cmd_rules(args) -> int:
    rules = _rules(args.file)
    from detectors.content.pipeline import describe

    print(f"{rules.path}: ok — version {rules.version}, {len(rules.lexicon.terms())} terms in "
          f"{len(rules.lexicon.groups)} groups from {len(rules.sources) - 1} lexicon files")
    print("\n".join(describe(rules)))
    return 0


def cmd_backtest(args) -> int:
    return history_cmd.cmd_backtest(args, _rules(args.file))


def cmd_calibrate(args) -> int:
    from paodan import calibrate_cmd

    return calibrate_cmd.cmd_calibrate(args, _rules(args.rules))


# --- ingest ------------------------------------------------------------------------------------

def _ingest_settings():
    from config.wecom import load_ingest

    try:
        return load_ingest()
    except SettingsError as exc:
        sys.exit(f"paodan ingest: bad setting: {exc}")


def cmd_ingest_callback(args) -> int:
    from ingest import callback

    ingest = _ingest_settings()
    callback.run(ingest, _settings().kafka, args.host or ingest.host, args.port or ingest.port)
    return 0


def cmd_ingest_archive(args) -> int:
    from ingest import archive_loader

    settings = _settings()
    corpid = args.corpid or os.environ.get("PAODAN_WECOM_CORPID", "")
    if not corpid:
        sys.exit("paodan ingest archive: whose archive? pass --corpid or set PAODAN_WECOM_CORPID")
    decrypt = None
    if args.private_key or args.decrypt_command:
        if not (args.private_key and args.decrypt_command):
            sys.exit("paodan ingest archive: raw GetChatData entries need both --private-key (the archive's "
                     "RSA key, PEM) and --decrypt-command (the SDK step); see docs/ingest.md")
        from ingest.envelope import DecryptCommandError, EnvelopeDecryptor
        try:
            decrypt = EnvelopeDecryptor(Path(args.private_key), args.decrypt_command)
        except DecryptCommandError as exc:
            sys.exit(f"paodan ingest archive: {exc}")
    state = Path(args.state) if args.state else archive_loader.state_path(settings.stack_dir, corpid)
    try:
        return archive_loader.run(settings.kafka, args.source, corpid, state, follow=args.follow,
                                  use_directory=not args.no_directory, decrypt=decrypt, batch=args.batch)
    finally:
        if decrypt is not None:
            decrypt.close()


def cmd_ingest_media(args) -> int:
    from ingest.media.cli import ingest_paths, own_codes

    if args.own_codes:
        return own_codes(args.paths)
    return ingest_paths(args.paths, args.media or os.environ.get("PAODAN_MEDIA"))


def cmd_ingest_coverage(args) -> int:
    import orjson

    from ingest import coverage

    settings = _settings()
    since = int((time.time() - args.days * 86400) * 1000) if args.days else 0
    print(f"[coverage] reading hr.events, wecom.msgaudit and wecom.contacts from {settings.kafka}…",
          file=sys.stderr, flush=True)
    try:
        report = asyncio.run(coverage.collect(settings.kafka, since)).report()
    except Exception as exc:  # noqa: BLE001 - any Kafka failure: say what to do
        print(f"paodan ingest coverage: cannot read Kafka at {settings.kafka} ({exc}); run `paodan stack up` "
              "or set PAODAN_KAFKA", file=sys.stderr)
        return 1
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(coverage.render(report))
    return 0


# --- demo --------------------------------------------------------------------------------------

def _wait_for_port(host: str, port: int, proc: subprocess.Popen, timeout: float) -> bool:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def cmd_demo(args) -> int:
    from ingest import simulator
    from paodan.stack import manager

    settings = _settings()
    started_stack = [n for n, s in manager.services(settings).items() if not s.answers()]
    try:
        manager.up(settings)
    except manager.StackError as exc:
        print(f"paodan demo: {exc}", file=sys.stderr)
        return 1
    logs = settings.stack_dir / "demo"
    logs.mkdir(parents=True, exist_ok=True)
    # Each demo runs as its own application (consumer groups, tables) starting from the topics' end, so
    # it shows its own simulated company at once instead of first working through whatever earlier
    # runs or tests left on the topics. Its changelog topics are deleted when it stops.
    started = int(time.time())
    app_id = f"paodan-demo-{started}"
    # Its company's ids carry the run's tag too (r52340-zhangwei): alert ids are deterministic, so a second
    # run on the same day would otherwise raise the very alerts the first left in Redis, as older
    # revisions the board ignores, and nothing would seem to arrive.
    prefix = f"r{started % 100_000}-"
    worker_env = {**os.environ, "PAODAN_APP_ID": app_id, "PAODAN_OFFSET_RESET": "latest",
                  "PAODAN_DATA_DIR": str(logs / f"{app_id}-data")}
    exe = [sys.executable, "-m", "paodan"]
    worker_log = logs / "worker.log"
    worker_log_start = worker_log.stat().st_size if worker_log.exists() else 0
    procs = {
        "worker": subprocess.Popen(exe + ["worker"], stdout=open(worker_log, "ab"), env=worker_env,
                                   stderr=subprocess.STDOUT, start_new_session=True),
        "board": subprocess.Popen(exe + ["board", "--port", str(args.port)], stdout=open(logs / "board.log", "ab"),
                                  stderr=subprocess.STDOUT, start_new_session=True),
    }
    if not _wait_for_port(settings.board_host, args.port, procs["board"], timeout=30):
        print(f"paodan demo: the board did not start; see {logs}/board.log", file=sys.stderr)
    print("waiting for the worker to join its topics…", flush=True)
    try:
        from streams.worker import wait_ready

        wait_ready(worker_log, procs["worker"], timeout=180, after=worker_log_start)
    except (RuntimeError, TimeoutError) as exc:
        print(f"paodan demo: {exc}", file=sys.stderr)
        _stop_demo(procs, settings, app_id, started_stack and not args.keep_stack)
        return 1
    token = _recorded_token(settings, "compliance")
    url = f"http://{settings.board_host}:{args.port}/?token={token}"
    print(f"\n跑单哨兵 board / Paodan Sentinel board:\n  {url}\n"
          f"(logs: {logs}/; Ctrl-C stops the demo)\n", flush=True)

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        # Four weeks of history sent quickly (the board fills with behaviour and chat alerts), then live chat.
        asyncio.run(simulator.produce_live(settings.kafka, args.seed, args.history_rate, args.duration,
                                           days=args.days, prefix=prefix, chatter_rate=args.rate, quiet=False))
        if args.duration is not None:
            time.sleep(5)  # let the last alerts through before stopping
    except KeyboardInterrupt:
        pass
    finally:
        _stop_demo(procs, settings, app_id, started_stack and not args.keep_stack)
    return 0


def _recorded_token(settings, role: str) -> str:
    """A token recorded in Redis like `paodan token issue`'s, so `paodan token revoke` can revoke it."""
    from dashboard_ws import auth, tokens

    token = auth.issue(settings.secret, role, ttl_s=24 * 3600, sub="demo")
    try:
        tokens.record(settings.redis, auth.verify(settings.secret, token), int(time.time()))
    except Exception as exc:  # noqa: BLE001 - the demo still works; only revocation by id is lost
        print(f"(token not recorded for revocation: {exc})", file=sys.stderr)
    return token


def _stop_demo(procs: dict, settings, app_id: str, stack_down: bool) -> None:
    from formats import topics
    from paodan.stack import manager

    print("\nstopping the demo…", flush=True)
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs.values():
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    if stack_down:
        manager.down(settings)
    else:
        topics.delete_topics(settings, prefix=app_id + "-")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paodan", description="跑单哨兵 Paodan Sentinel")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("stack", help="local Kafka, Redis and ClickHouse on loopback")
    s.add_argument("action", choices=["up", "down", "status"])
    s.set_defaults(func=cmd_stack)

    s = sub.add_parser("worker", help="the Faust worker (all agents)")
    s.add_argument("--loglevel", default="info", choices=["crit", "error", "warn", "info", "debug"])
    s.add_argument("--rules", help="rules file (default: config/rules.yaml or PAODAN_RULES)")
    s.set_defaults(func=cmd_worker)

    s = sub.add_parser("board", help="the websocket server and the board page")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.set_defaults(func=cmd_board)

    s = sub.add_parser("token", help="board access tokens")
    tsub = s.add_subparsers(dest="action", required=True)
    t = tsub.add_parser("issue", help="print a signed access token")
    t.add_argument("--role", required=True, choices=["supervisor", "compliance", "admin"])
    t.add_argument("--team", help="the team a supervisor sees")
    t.add_argument("--ttl-hours", type=float, default=12.0)
    t.add_argument("--user", help="who the token is for (shown as the actor of their actions)")
    t.set_defaults(func=cmd_token)
    t = tsub.add_parser("list", help="unexpired issued tokens (ids, roles, teams, revoked or not)")
    t.set_defaults(func=cmd_token_list)
    t = tsub.add_parser("revoke", help="revoke a token by its id (closes open boards using it)")
    t.add_argument("jti", help="the token id printed by `token issue` / `token list`")
    t.set_defaults(func=cmd_token_revoke)

    s = sub.add_parser("simulate", help="a simulated company producing live traffic")
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--rate", type=float, default=50.0, help="records per second (live mode)")
    s.add_argument("--duration", type=float, help="seconds to run (live mode; default: until Ctrl-C)")
    s.add_argument("--size", type=int, default=40, help="number of employees (40 plants every pattern)")
    s.add_argument("--days", type=int, default=28, help="simulated days (live mode: the days ending now)")
    s.add_argument("--prefix", default="", help="prefix for employee, customer and order ids")
    s.add_argument("--out", help="write the replay format to FILE (- for stdout) instead of producing")
    s.add_argument("--count", type=int, help="at most this many records with --out (default: all days)")
    s.add_argument("--start-ms", type=int, help="event time of the first record with --out")
    s.set_defaults(func=cmd_simulate)

    s = sub.add_parser("replay", help="offline detection over replay-format files")
    s.add_argument("files", nargs="+", metavar="FILE", help="JSON-lines files, - for stdin")
    s.add_argument("--rules", help="rules file")
    s.add_argument("--media", help="media store directory (default PAODAN_MEDIA): QR codes in images are read")
    s.set_defaults(func=cmd_replay)

    s = sub.add_parser("rules", help="rules files")
    rsub = s.add_subparsers(dest="action", required=True)
    r = rsub.add_parser("validate", help="check a rules file and its lexicons")
    r.add_argument("file")
    r.set_defaults(func=cmd_rules)
    history_cmd.add_backtest_parser(rsub, cmd_backtest)
    from paodan import calibrate_cmd

    calibrate_cmd.add_parser(rsub, cmd_calibrate)
    rules_cmd.add_parsers(rsub, _rules, _settings)
    history_cmd.add_history_parser(sub)
    act_cmd.add_parser(sub, _settings)
    from paodan import archive_cmd, evidence_cmd

    archive_cmd.add_parser(sub, _settings)
    evidence_cmd.add_parser(sub, _settings)

    s = sub.add_parser("ingest", help="WeCom callback receiver, chat-archive loader, order/HR intake")
    isub = s.add_subparsers(dest="action", required=True)
    i = isub.add_parser("callback", help="serve WeCom's callback (/wecom/callback) and POST /orders, /hr",
                        description="Needs PAODAN_WECOM_TOKEN, PAODAN_WECOM_AES_KEY, PAODAN_WECOM_CORPID; "
                                    "intake needs PAODAN_INTAKE_TOKEN. See docs/ingest.md.")
    i.add_argument("--host", help="listen address (default 127.0.0.1 or PAODAN_INGEST_HOST)")
    i.add_argument("--port", type=int, help="listen port (default 8480 or PAODAN_INGEST_PORT)")
    i.set_defaults(func=cmd_ingest_callback)
    i = isub.add_parser("archive", help="load chat-archive records (JSON lines) into wecom.msgaudit",
                        description="Each line: a decrypted record with its GetChatData seq, or a raw "
                                    "GetChatData entry/answer (with --private-key and --decrypt-command). "
                                    "Resumes after the last seq loaded. See docs/ingest.md.")
    i.add_argument("source", metavar="FILE|DIR|-", help="a JSON-lines file, a directory of them, or - for stdin")
    i.add_argument("--corpid", help="the company's corp id (default PAODAN_WECOM_CORPID)")
    i.add_argument("--state", help="state file with the last seq (default .stack/ingest/archive-CORPID.json)")
    i.add_argument("--follow", action="store_true", help="keep tailing the file (or the newest file in DIR)")
    i.add_argument("--private-key", help="PEM RSA private key for encrypt_random_key")
    i.add_argument("--decrypt-command", help="command that decrypts encrypt_chat_msg (JSON lines in/out)")
    i.add_argument("--no-directory", action="store_true",
                   help="do not read employees from hr.events; judge ids by shape (wo/wm/wb = external)")
    i.add_argument("--batch", type=int, default=5000, help="records per acknowledged batch")
    i.set_defaults(func=cmd_ingest_archive)
    i = isub.add_parser("coverage", help="who is archived and which customers consented to archiving",
                        description="Reads hr.events, wecom.msgaudit and wecom.contacts: employees without "
                                    "archived chats and customers without msg_audit_approved are blind spots.")
    i.add_argument("--days", type=float, help="count archived chats of the last N days only")
    i.add_argument("--json", action="store_true", help="print the report as JSON")
    i.set_defaults(func=cmd_ingest_coverage)
    i = isub.add_parser("media", help="copy decrypted media files into the md5-keyed store (PAODAN_MEDIA)",
                        description="A file named by its md5sum must match its bytes. See CONTRACT §11.")
    i.add_argument("paths", nargs="+", metavar="PATH", help="files to copy in")
    i.add_argument("--media", help="store directory (default PAODAN_MEDIA)")
    i.add_argument("--own-codes", action="store_true",
                   help="print the WeCom codes in these (the company's own) QR images as media.own_wecom_codes")
    i.set_defaults(func=cmd_ingest_media)

    s = sub.add_parser("demo", help="stack, worker, simulator and board together")
    s.add_argument("--port", type=int, default=8765)
    s.add_argument("--rate", type=float, default=3.0, help="live chat records per second after the history")
    # Four weeks: every planted behaviour pattern needs two weeks of ordinary history before it (its
    # baseline), so a shorter history shows only the live chat's content alerts.
    s.add_argument("--days", type=int, default=28, help="days of company history sent first")
    s.add_argument("--history-rate", type=float, default=1000.0, help="records per second for the history")
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--duration", type=float, help="stop after this many seconds (default: Ctrl-C)")
    s.add_argument("--keep-stack", action="store_true", help="leave Kafka, Redis and ClickHouse running")
    s.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args) or 0


if __name__ == "__main__":
    sys.exit(main())
