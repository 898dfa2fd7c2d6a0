"""The local stack: Apache Kafka (KRaft), Redis and ClickHouse on loopback, without Docker.

`up` installs what is missing (Kafka jars through Maven into ~/.cache/paodan, redis-server and
clickhouse-server through apt-get), starts each service with its own config and data under the
git-ignored `.stack/` folder, waits until each answers, and creates the topics (formats/topics.py).
It is idempotent: a service that already answers on its port is left alone. `down` stops only
processes whose pid files it wrote. Every step prints what it does, and every failure says what to do next.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from config.settings import Settings
from formats.topics import create_topics

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("PAODAN_CACHE") or Path.home() / ".cache" / "paodan")

class StackError(RuntimeError):
    """A step of `paodan stack` failed; the message says what to do next."""


def say(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _hostport(url: str) -> tuple[str, int]:
    if "://" not in url:
        url = "tcp://" + url.split(",")[0]
    p = urlparse(url)
    return p.hostname or "127.0.0.1", int(p.port or 0)


@dataclass
class Service:
    name: str
    host: str
    port: int
    root: Path  # .stack/<name>

    @property
    def pid_file(self) -> Path:
        return self.root / "pid"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def our_pid(self) -> int | None:
        """The pid we started, if that process is still alive."""
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def answers(self) -> bool:
        return _port_open(self.host, self.port)


def _render(template: str, dest: Path, **values: object) -> Path:
    text = (HERE / template).read_text()
    for key, val in values.items():
        text = text.replace("{" + key + "}", str(val))
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text)
    return dest


def _open_files_up_to_hard_limit() -> None:
    """In the child before exec: the broker keeps a file open per log segment of every partition and
    one per connection, so a soft limit of 1,024 (common for shells) is too few for long; the hard
    limit is what the machine allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _spawn(svc: Service, argv: list[str]) -> None:
    svc.log_dir.mkdir(parents=True, exist_ok=True)
    out = open(svc.log_dir / "stdout.log", "ab")
    # A new session: Ctrl-C in the terminal that ran `stack up` must not take the services down.
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=svc.root, preexec_fn=_open_files_up_to_hard_limit)
    svc.pid_file.write_text(str(proc.pid))


def _wait(svc: Service, ready, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_err: Exception | None = None
    while time.monotonic() < deadline:
        if svc.pid_file.exists() and svc.our_pid() is None:
            raise StackError(f"{svc.name} exited during start-up; see {svc.log_dir}/ for its log")
        try:
            if ready():
                return
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
            last_err = exc
        time.sleep(0.3)
    raise StackError(f"{svc.name} did not answer on {svc.host}:{svc.port} within {timeout:.0f}s "
                     f"({last_err}); see {svc.log_dir}/ for its log")


# --- prerequisites -----------------------------------------------------------------------------

def _apt_install(*packages: str) -> None:
    if shutil.which("apt-get") is None:
        raise StackError(f"{', '.join(packages)} missing and apt-get not found: install "
                         f"{' '.join(packages)} with your package manager, or point PAODAN_REDIS / "
                         "PAODAN_CLICKHOUSE at running servers")
    prefix = [] if os.geteuid() == 0 else ["sudo"]
    say(f"installing {' '.join(packages)} with apt-get (first run only)…")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    lists = Path("/var/lib/apt/lists")
    if not any(lists.glob("*Packages*")):
        subprocess.run(prefix + ["apt-get", "update", "-q"], check=False, env=env)
    cmd = prefix + ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages]
    if subprocess.run(cmd, env=env).returncode != 0:
        subprocess.run(prefix + ["apt-get", "update", "-q"], check=False, env=env)
        if subprocess.run(cmd, env=env).returncode != 0:
            raise StackError(f"apt-get could not install {' '.join(packages)}; run "
                             f"`apt-get update && apt-get install {' '.join(packages)}` and retry")


def _require(binary: str, package: str) -> str:
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None)
    if path is None:
        _apt_install(package)
        path = shutil.which(binary) or f"/usr/sbin/{binary}"
        if not Path(path).exists():
            raise StackError(f"{binary} still missing after installing {package}")
    return path


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StackError("Java 17 or newer is needed for the Kafka broker: "
                         "apt-get install openjdk-17-jre-headless")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    try:
        major = int(out.split('"')[1].split(".")[0])
    except (IndexError, ValueError):
        major = 0
    if major < 17:
        raise StackError(f"Kafka 4 needs Java 17+, found: {out.splitlines()[0] if out else '?'}; "
                         "apt-get install openjdk-17-jre-headless")
    return java


def kafka_classpath() -> Path:
    """Resolve the broker jars with Maven once; later runs reuse ~/.cache/paodan/kafka-<version>/."""
    pom = HERE / "pom.xml"
    version = pom.read_text().split("<kafka.version>")[1].split("<")[0]
    libs = CACHE / f"kafka-{version}" / "libs"
    stamp = libs / ".complete"
    if stamp.exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven is needed once to fetch the Kafka broker jars: apt-get install maven")
    say(f"resolving Apache Kafka {version} from Maven Central into {libs} (first run only)…")
    libs.mkdir(parents=True, exist_ok=True)
    cmd = [mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(pom), f"-Dmaven.repo.local={CACHE / 'm2'}",
           "dependency:copy-dependencies", f"-DoutputDirectory={libs}"]
    if subprocess.run(cmd).returncode != 0:
        raise StackError("mvn could not resolve the Kafka jars; check that Maven Central is reachable "
                         f"and rerun `paodan stack up` (command: {' '.join(cmd)})")
    stamp.write_text(version)
    return libs


# --- the three services ------------------------------------------------------------------------

def services(settings: Settings) -> dict[str, Service]:
    root = settings.stack_dir
    kh, kp = _hostport(settings.kafka)
    rh, rp = _hostport(settings.redis)
    ch, cp = _hostport(settings.clickhouse)
    return {
        "kafka": Service("kafka", kh, kp, root / "kafka"),
        "redis": Service("redis", rh, rp, root / "redis"),
        "clickhouse": Service("clickhouse", ch, cp, root / "clickhouse"),
    }


def _start_kafka(svc: Service, settings: Settings) -> None:
    java = _java()
    libs = kafka_classpath()
    conf = _render("kafka-server.properties", svc.root / "server.properties", port=svc.port,
                   controller_port=svc.port + 1, data_dir=svc.data_dir, partitions=settings.partitions)
    log4j = _render("kafka-log4j2.properties", svc.root / "log4j2.properties", log_dir=svc.log_dir)
    cp = f"{libs}/*"
    if not (svc.data_dir / "meta.properties").exists():
        say("formatting Kafka KRaft storage")
        svc.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = _kraft_cluster_id()
        fmt = subprocess.run([java, "-cp", cp, f"-Dlog4j2.configurationFile={log4j}",
                              "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(conf)],
                             capture_output=True, text=True)
        if fmt.returncode != 0:
            raise StackError(f"formatting Kafka storage failed: {fmt.stderr.strip()[-500:]}")
    heap = os.environ.get("PAODAN_KAFKA_HEAP", "768m")
    _spawn(svc, [java, f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
                 f"-Dlog4j2.configurationFile={log4j}", f"-Dkafka.logs.dir={svc.log_dir}",
                 "-cp", cp, "kafka.Kafka", str(conf)])


def _kraft_cluster_id() -> str:
    # KRaft wants a base64url-encoded 16-byte UUID without padding, as `kafka-storage random-uuid` prints;
    # one starting with "-" would be read by `format -t` as an option (as `random-uuid` also avoids).
    import base64
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _start_redis(svc: Service, settings: Settings) -> None:
    binary = _require("redis-server", "redis-server")
    svc.data_dir.mkdir(parents=True, exist_ok=True)
    conf = _render("redis.conf", svc.root / "redis.conf", port=svc.port, data_dir=svc.data_dir,
                   log_dir=svc.log_dir)
    svc.log_dir.mkdir(parents=True, exist_ok=True)
    _spawn(svc, [binary, str(conf)])


def _start_clickhouse(svc: Service, settings: Settings) -> None:
    binary = _require("clickhouse-server", "clickhouse-server")
    for sub in ("tmp", "user_files"):
        (svc.data_dir / sub).mkdir(parents=True, exist_ok=True)
    conf_dir = svc.root / "conf"
    _render("clickhouse-users.xml", conf_dir / "users.xml")
    conf = _render("clickhouse-config.xml", conf_dir / "config.xml", port=svc.port,
                   http_port=svc.port + 1, data_dir=svc.data_dir, log_dir=svc.log_dir, conf_dir=conf_dir)
    _spawn(svc, [binary, f"--config-file={conf}"])


def _kafka_ready(settings: Settings) -> bool:
    import logging

    from aiokafka.admin import AIOKafkaAdminClient

    host, port = _hostport(settings.kafka)
    if not _port_open(host, port):
        return False
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # "unable to connect" while it boots

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka, request_timeout_ms=3000)
        await admin.start()
        try:
            await admin.list_topics()
            return True
        finally:
            await admin.close()

    return asyncio.run(probe())


def _redis_ready(settings: Settings) -> bool:
    import redis
    return bool(redis.Redis.from_url(settings.redis, socket_timeout=1).ping())


def _clickhouse_ready(settings: Settings) -> bool:
    from clickhouse_driver import Client
    # The driver logs each refused connection with its traceback; while the server starts that is the
    # expected answer, not something to print.
    logging.getLogger("clickhouse_driver.connection").setLevel(logging.CRITICAL)
    url = urlparse(settings.clickhouse)
    client = Client(host=url.hostname, port=url.port or 9000, connect_timeout=1)
    try:
        return client.execute("SELECT 1") == [(1,)]
    finally:
        client.disconnect()


STARTERS = {"kafka": (_start_kafka, _kafka_ready, 90),
            "redis": (_start_redis, _redis_ready, 20),
            "clickhouse": (_start_clickhouse, _clickhouse_ready, 60)}


def up(settings: Settings) -> None:
    settings.stack_dir.mkdir(parents=True, exist_ok=True)
    for name, svc in services(settings).items():
        start, ready, timeout = STARTERS[name]
        if svc.answers():
            owner = "ours" if svc.our_pid() else "already running, not ours"
            say(f"{name}: up on {svc.host}:{svc.port} ({owner})")
        else:
            say(f"{name}: starting on {svc.host}:{svc.port}")
            svc.root.mkdir(parents=True, exist_ok=True)
            start(svc, settings)
        _wait(svc, lambda: ready(settings), timeout)
        say(f"{name}: ready")
    created = create_topics(settings)
    shared = [t for t in created if t != settings.rules_topic]
    if shared:
        say(f"created topics: {', '.join(shared)} ({settings.partitions} partitions each)")
    if settings.rules_topic in created:
        say(f"created topic {settings.rules_topic} (published rules: one partition, compacted)")
    for line in settings.env_lines():
        print(line)


def down(settings: Settings) -> None:
    for name, svc in services(settings).items():
        pid = svc.our_pid()
        if pid is None:
            say(f"{name}: not started by us, left alone")
            continue
        os.killpg(pid, signal.SIGTERM) if _is_group_leader(pid) else os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and svc.our_pid() is not None:
            time.sleep(0.2)
        if svc.our_pid() is not None:
            os.kill(pid, signal.SIGKILL)
        svc.pid_file.unlink(missing_ok=True)
        say(f"{name}: stopped")


def _is_group_leader(pid: int) -> bool:
    try:
        return os.getpgid(pid) == pid
    except OSError:
        return False


def status(settings: Settings) -> int:
    """Print each service's state to stderr and the endpoint variables to stdout; 0 when all answer."""
    ok = True
    for name, svc in services(settings).items():
        up_ = svc.answers()
        ok &= up_
        who = " (ours)" if svc.our_pid() else ""
        print(f"{name}: {'up' if up_ else 'down'} on {svc.host}:{svc.port}{who}", file=sys.stderr)
    for line in settings.env_lines():
        print(line)
    return 0 if ok else 1
