"""The live worker reads chat-archive images (streams/media_agent.py) on the real stack: a personal-WeChat QR
raises the alert `paodan replay --media` raises (same id), a missing file is reported and holds up no text
alert, and a file the media puller writes late is still read."""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import subprocess
import sys
import time

import orjson
import pytest

pytest.importorskip("zxingcpp")

from config.settings import CONFIG_DIR  # noqa: E402
from ingest.media.store import MediaStore  # noqa: E402
from tests.chatmsg import record  # noqa: E402
from tests.integration.test_content_live import consuming  # noqa: E402
from tests.live import REPO, Consumer, Worker, produce, unique  # noqa: E402
from tests.unit.test_media_qr import _qr_png  # noqa: E402
from tests.unit.test_media_ocr import FONT, render  # noqa: E402

pytestmark = pytest.mark.integration
CUSTOMER = "wmCUSTOMER0001"
OWN_CODE = "https://work.weixin.qq.com/ca/cawcdeOurLiveSales01"


def media_rules(tmp_path, version: str = "media-1-", **values) -> str:
    """A copy of the checkout's rules with some `media:` keys changed (written again: the worker reloads it)."""
    rules_dir = tmp_path / "config"
    shutil.copytree(CONFIG_DIR / "lexicons", rules_dir / "lexicons", dirs_exist_ok=True)
    text = (CONFIG_DIR / "rules.yaml").read_text(encoding="utf-8").replace('version: "', f'version: "{version}', 1)
    head, media = text.split("\n  media:\n", 1)
    for key, value in values.items():
        media, n = re.subn(rf"(?m)^    {key}: .*$", f"    {key}: {value}", media, count=1)
        assert n == 1, key
    (rules_dir / "rules.yaml").write_text(head + "\n  media:\n" + media, encoding="utf-8")
    return str(rules_dir / "rules.yaml")


def image(employee: str, msgid: str, md5: str, t: int) -> dict:
    return record("image", {"md5sum": md5, "filesize": 1000, "sdkfileid": "x"}, sender=employee, msgid=msgid, t=t,
                  to=CUSTOMER)


def replay(records, store: str, rules: str, tmp_path) -> list[dict]:
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"".join(orjson.dumps({"topic": t, "key": k, "value": v}) + b"\n" for t, k, v in records))
    out = subprocess.run([sys.executable, "-m", "paodan", "replay", str(path), "--media", store, "--rules", rules],
                         cwd=REPO, capture_output=True, timeout=120, check=True)
    return [orjson.loads(line) for line in out.stdout.splitlines()]


@pytest.fixture(scope="module")
def media_worker(stack, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("media")
    store = tmp / "store"
    store.mkdir()
    rules = media_rules(tmp, ocr="false", missing_retry_minutes=1, own_wecom_codes=f"[{OWN_CODE}]")
    w = Worker(tmp, env={"PAODAN_MEDIA": str(store), "PAODAN_RULES": rules}, name="media-worker").start()
    yield w, MediaStore(store), tmp
    w.stop()


async def test_personal_wechat_qr_alerts_live_as_in_replay_and_missing_blocks_no_text(media_worker, settings,
                                                                                      tmp_path):
    worker, store, tmp = media_worker
    rules = str(tmp / "config" / "rules.yaml")
    src = tmp_path / "qr.png"
    src.write_bytes(_qr_png("https://u.wechat.com/EFxLivePersonal"))
    md5 = store.put(src)
    qr_emp, miss_emp = unique("itm_qr_"), unique("itm_miss_")
    t0 = int(time.time() * 1000)
    missing_id, image_id, text_id = unique("miss-"), unique("img-"), unique("txt-")
    records = [
        ("wecom.msgaudit", miss_emp, image(miss_emp, missing_id, "0" * 32, t0)),
        ("wecom.msgaudit", miss_emp, record(text="加我 V 信 chen_888", sender=miss_emp, msgid=text_id, t=t0 + 1000,
                                            to=CUSTOMER)),
        ("wecom.msgaudit", qr_emp, image(qr_emp, image_id, md5, t0 + 2000)),
    ]
    expected = [a for a in replay(records, str(store.root), rules, tmp_path) if a["employee_id"] == qr_emp]
    assert expected and all(any(e["id"] == image_id for e in a["evidence"]) for a in expected)

    await consuming(settings)
    alerts = await Consumer(settings.kafka, "paodan.alerts").start()
    began = time.monotonic()
    await produce(settings.kafka, records)
    try:
        text_alert = (await alerts.until(lambda kv: kv[1]["employee_id"] == miss_emp, timeout=20))[0][1]
        text_after = time.monotonic() - began
        got = await alerts.until(lambda kv: kv[1]["employee_id"] == qr_emp, timeout=30, count=len(expected),
                                 distinct=lambda kv: kv[1]["alert_id"])
    finally:
        await alerts.stop()
    assert [e["id"] for e in text_alert["evidence"]] == [text_id]
    assert text_after < 15  # the missing image before it is still being looked for (a minute)
    live = [a for _, a in got]
    assert sorted(a["alert_id"] for a in live) == sorted(a["alert_id"] for a in expected)
    assert all(any(e["id"] == image_id for e in a["evidence"]) for a in live)
    assert any("u.wechat.com/EFxLivePersonal" in a["explanation"] or "个人微信" in a["explanation"] for a in live)
    log = worker.log()
    assert missing_id in log and "not in the store yet" in log  # reported, not raised
    assert worker.proc.poll() is None
    # What the image said is archived beside the message, for search and case files.
    from sinks.clickhouse.connection import ClickHouseArchive

    archive, said = ClickHouseArchive.from_settings(settings), []
    for _ in range(60):
        said = archive.execute(f"SELECT kind, md5sum, sender, text FROM {archive.database}.media_texts FINAL "
                               "WHERE msgid = %(m)s", {"m": image_id})
        if said:
            break
        await asyncio.sleep(0.5)
    assert said and said[0][:3] == ("image", md5, qr_emp) and "u.wechat.com/EFxLivePersonal" in said[0][3]


async def test_a_file_written_late_is_read_on_a_later_look(media_worker, settings, tmp_path):
    _, store, _ = media_worker
    src = tmp_path / "pay.png"
    src.write_bytes(_qr_png("wxp://f2f0LateComer123"))
    md5 = hashlib.md5(src.read_bytes()).hexdigest()
    employee, msgid = unique("itm_late_"), unique("late-")
    await consuming(settings)
    alerts = await Consumer(settings.kafka, "paodan.alerts").start()
    await produce(settings.kafka, [("wecom.msgaudit", employee, image(employee, msgid, md5, int(time.time() * 1000)))])
    try:
        await asyncio.sleep(1.0)  # the first look finds nothing: the puller has not written it yet
        store.put(src)
        [(_, alert)] = await alerts.until(lambda kv: kv[1]["employee_id"] == employee, timeout=30)
    finally:
        await alerts.stop()
    assert "wxp://f2f0LateComer123" in alert["explanation"]
    assert [e["id"] for e in alert["evidence"]] == [msgid]


async def test_the_companys_own_code_raises_nothing_live(media_worker, settings, tmp_path):
    _, store, _ = media_worker
    own, rival = tmp_path / "own.png", tmp_path / "rival.png"
    own.write_bytes(_qr_png(OWN_CODE))
    rival.write_bytes(_qr_png("https://work.weixin.qq.com/ca/cawcdeRivalLive99"))
    employee, own_id, rival_id = unique("itm_own_"), unique("own-"), unique("rival-")
    t0 = int(time.time() * 1000)
    await consuming(settings)
    alerts = await Consumer(settings.kafka, "paodan.alerts").start()
    await produce(settings.kafka, [("wecom.msgaudit", employee, image(employee, own_id, store.put(own), t0)),
                                   ("wecom.msgaudit", employee, image(employee, rival_id, store.put(rival), t0 + 1))])
    try:
        got = await alerts.until(lambda kv: kv[1]["employee_id"] == employee, timeout=30)
        try:  # the two images are read by two threads: give the own one time to (wrongly) alert too
            got += await alerts.until(lambda kv: kv[1]["employee_id"] == employee, timeout=3)
        except TimeoutError:
            pass
    finally:
        await alerts.stop()
    ids = {e["id"] for _, a in got for e in a["evidence"]}
    assert rival_id in ids and own_id not in ids
    assert "cawcdeRivalLive99" in got[0][1]["explanation"]

async def test_ocr_switched_on_reads_a_screenshot_live(media_worker, settings):
    """Last in the module: it switches OCR on in the running worker's rules file (hot reload)."""
    worker, store, tmp = media_worker
    mark = len(worker.log())
    media_rules(tmp, version="media-2-", ocr="true", missing_retry_minutes=1)
    deadline = time.monotonic() + 20
    while "rules reloaded" not in worker.log()[mark:] and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
    lines = ("加我私人微信 wx: abc_123", "电话 138 0013 8000") if FONT else ("wx: abc_123", "tel 138 0013 8000")
    shot = tmp / "shot.png"
    shot.write_bytes(render(*lines))
    md5 = store.put(shot)
    employee, msgid = unique("itm_ocr_"), unique("shot-")
    await consuming(settings)
    alerts = await Consumer(settings.kafka, "paodan.alerts").start()
    await produce(settings.kafka, [("wecom.msgaudit", employee, image(employee, msgid, md5, int(time.time() * 1000)))])
    try:  # the worker's first OCR also builds its engine (seconds on a busy machine)
        got = await alerts.until(lambda kv: kv[1]["employee_id"] == employee
                                 and kv[1]["rule"] == "chat.private_contact", timeout=90)
    finally:
        await alerts.stop()
    alert = got[0][1]
    assert alert["rules_version"].startswith("media-2-")
    assert "abc_123" in alert["explanation"] and "13800138000" in alert["explanation"]
    assert [e["id"] for e in alert["evidence"]] == [msgid]
