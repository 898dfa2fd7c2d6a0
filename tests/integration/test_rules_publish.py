"""Published rules on the real stack: `paodan rules publish` reaches a worker that does not share the rules
file — at start-up when newer than its file, and while it runs — its alerts carry the published
`rules_version`; an invalid file is not published and an invalid bundle produced by hand is refused by the
worker while the old rules keep running. The worker follows a topic of its own, so the shared stack's
other workers never see these versions."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time

import orjson
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from config.rules import contents_digest
from config.settings import CONFIG_DIR
from tests.chatmsg import record
from tests.live import REPO, Consumer, Worker, produce, unique

pytestmark = pytest.mark.integration


def rules_copy(root, version: str, extra_terms: tuple[str, ...] = ()):
    """The shipped rules and lexicons under `root`, with `version` and extra diversion phrases."""
    shutil.copytree(CONFIG_DIR / "lexicons", root / "lexicons")
    lexicon = root / "lexicons" / "diversion.yaml"
    added = "".join(f"      - {t}\n" for t in extra_terms)
    lexicon.write_text(lexicon.read_text(encoding="utf-8").replace("      - 私下下单\n", "      - 私下下单\n" + added),
                       encoding="utf-8")
    rules = root / "rules.yaml"
    rules.write_text((CONFIG_DIR / "rules.yaml").read_text(encoding="utf-8").replace(
        'version: "', f'version: "{version}', 1), encoding="utf-8")
    return rules


def paodan(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paodan", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


async def say(settings, alerts: Consumer, text: str, prefix: str, timeout: float = 15) -> dict:
    """An employee writes `text`; this test worker's alert (only its rules carry `prefix`)."""
    employee = unique("itp_")
    await produce(settings.kafka, [("wecom.msgaudit", employee, record(
        text=text, sender=employee, msgid=unique("p-"), t=int(time.time() * 1000)))])
    [(_, alert)] = await alerts.until(lambda kv: kv[1]["employee_id"] == employee
                                      and kv[1]["rules_version"].startswith(prefix), timeout=timeout)
    return alert


def wait_for_log(worker: Worker, text: str, after: int, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tail = worker.log()[after:]
        if text in tail:
            return tail
        time.sleep(0.2)
    raise TimeoutError(f"{text!r} not logged within {timeout}s; see {worker.log_path}")


async def test_published_rules_reach_a_running_worker_and_bad_ones_are_refused(stack, settings, tmp_path):
    tag = unique("pub")
    topic = f"paodan.rules.test-{tag}"
    worker_file = rules_copy(tmp_path / "worker-machine", f"{tag}-1-")  # the worker's own, older file
    env = {**Worker(tmp_path).env, "PAODAN_RULES_TOPIC": topic}

    # Published before the worker starts, from a folder the worker never sees: newer than its file.
    v2 = rules_copy(tmp_path / "ops-2", f"{tag}-2-", ("走后门成交",))
    out = paodan("rules", "publish", str(v2), "--by", "ops", env=env)
    assert out.returncode == 0, out.stderr
    assert "published rules version " + tag + "-2-" in out.stdout

    w = Worker(tmp_path, env={"PAODAN_RULES": str(worker_file), "PAODAN_RULES_TOPIC": topic},
               name="rules-worker").start()
    alerts = await Consumer(settings.kafka, "paodan.alerts").start()
    try:
        ready = wait_for_log(w, "rules feed ready", 0)
        assert f"running version {tag}-2-" in ready and "from the published bundle" in ready
        for _ in range(10):  # the fresh group may skip what is produced before its first fetch
            try:
                first = await say(settings, alerts, "这单走后门成交", tag, timeout=4)
                break
            except TimeoutError:
                continue
        else:
            raise AssertionError(f"no alert from the worker; see {w.log_path}")
        assert first["rules_version"].startswith(f"{tag}-2-") and "走后门成交" in first["explanation"]

        # Published while it runs: picked up within seconds, no restart.
        mark = len(w.log())
        began = time.monotonic()
        v3 = rules_copy(tmp_path / "ops-3", f"{tag}-3-", ("走后门成交", "换个平台付款"))
        assert paodan("rules", "publish", str(v3), env=env).returncode == 0
        wait_for_log(w, "published rules applied", mark)
        took = time.monotonic() - began
        third = await say(settings, alerts, "亲，我们换个平台付款", tag)
        assert third["rules_version"].startswith(f"{tag}-3-") and "换个平台付款" in third["explanation"]
        assert took < 15

        # An invalid file is not published: the same file:line error as `rules validate`, exit code 1.
        broken = tmp_path / "ops-3" / "lexicons" / "diversion.yaml"
        good_text = broken.read_text(encoding="utf-8")
        broken.write_text(good_text.replace("severity: high", "severity: loud", 1), encoding="utf-8")
        refused, validated = paodan("rules", "publish", str(v3), env=env), paodan("rules", "validate", str(v3), env=env)
        assert refused.returncode == validated.returncode == 1
        assert refused.stderr == validated.stderr and f"{broken.resolve()}:" in refused.stderr

        # An invalid bundle produced by hand (a sound record whose lexicon is wrong), and garbage: refused
        # by the worker with a log line naming the bundle's file and line; the old rules keep running.
        body = orjson.loads(await latest_record(settings, topic))
        body["files"][1]["text"] = body["files"][1]["text"].replace("severity: high", "severity: loud", 1)
        body["digest"] = contents_digest(f["text"].encode() for f in body["files"])
        mark = len(w.log())
        await produce(settings.kafka, [(topic, "rules", orjson.dumps(body)), (topic, "rules", b"{oops")])
        tail = wait_for_log(w, "not JSON", mark)
        assert "published rules refused, still running version " + tag + "-3-" in tail
        assert "lexicons/diversion.yaml:" in tail and "severity" in tail
        still = await say(settings, alerts, "亲，我们换个平台付款", tag)
        assert still["rules_version"].startswith(f"{tag}-3-")

        # `paodan rules published` names the latest record and what the worker runs.
        status = await asyncio.to_thread(wait_for_status, env | {"PAODAN_APP_ID": w.app_id}, f"{tag}-3-")
        assert status["latest"]["invalid"].startswith("not JSON")
        [running] = [r for r in status["workers"] if r["live"]]
        assert running["origin"] == "published" and running["refused"].startswith("published bundle: not JSON")
    finally:
        await alerts.stop()
        w.stop()
        await delete_topic(settings, topic)

    assert await topic_config(settings, "paodan.rules.tests") == "compact"  # created by the test workers


def wait_for_status(env, version_prefix: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        out = paodan("rules", "published", "--json", env=env)
        assert out.returncode == 0, out.stderr
        status = orjson.loads(out.stdout)
        if any(w["version"].startswith(version_prefix) and w.get("refused") for w in status["workers"]):
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"no worker reported {version_prefix}: {status}")
        time.sleep(1)


async def latest_record(settings, topic: str) -> bytes:
    from streams.rules_bundle import read_latest

    value, _ = await read_latest(settings.kafka, topic)
    assert value is not None
    return value


async def topic_config(settings, topic: str) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        entries = response.resources[0][4]
        return next(e[1] for e in entries if e[0] == "cleanup.policy")
    finally:
        await admin.close()


async def delete_topic(settings, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()
