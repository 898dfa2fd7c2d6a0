"""Pipeline health from the archive on the real ClickHouse 18.16: chat images not pulled into the media
store as WeCom's keep window ends, and a rule alerting on most of a team, read by streams.health_probe
from rows the archive's own code wrote, become `system.media_expiring` and `system.rule_share`."""

from __future__ import annotations

import dataclasses
import hashlib
import time

import orjson
import pytest

from config.health import HealthSettings
from ingest.media.store import MediaStore
from sinks.clickhouse import ClickHouseArchive
from sinks.clickhouse.schema import migrate
from streams import health
from streams.archive import Batch, write_batch
from streams.health_probe import media_facts, rule_teams
from tests.live import unique

pytestmark = pytest.mark.integration
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


@pytest.fixture()
def archive(stack):
    a = ClickHouseArchive(f"{stack.clickhouse.rsplit('/', 1)[0]}/{unique('paodan_ithealth_')}")
    migrate(a)
    yield a
    a.execute(f"DROP DATABASE IF EXISTS {a.database}")
    a.close()


def image(i: int, ms: int, md5: str) -> tuple[str, bytes, bytes]:
    return ("wecom.msgaudit", b"zs", orjson.dumps({
        "msgid": f"img{i}", "action": "send", "from": "zs", "tolist": ["wmC"], "roomid": "", "msgtime": ms,
        "msgtype": "image", "image": {"md5sum": md5, "filesize": 72, "sdkfileid": f"F{i}"}, "corpid": "ww1", "seq": i}))


def test_media_running_out_of_time_and_a_rule_on_most_of_a_team(archive, tmp_path):
    cfg = dataclasses.replace(HealthSettings(), wecom_keep_h=72.0, media_lead_h=24.0)
    now = int(time.time() * 1000)
    store = MediaStore(tmp_path / "media")
    pulled = store.put(_file(tmp_path, PNG))
    expired, missing, missing_old = (hashlib.md5(f"x{i}".encode()).hexdigest() for i in range(3))
    (tmp_path / "media" / f"{expired}.err").write_text("GetMediaData 10010 media expired")
    records = [image(1, now - 60 * health.HOUR, pulled), image(2, now - 61 * health.HOUR, expired),
               image(3, now - 55 * health.HOUR, missing), image(4, now - 66 * health.HOUR, missing_old),
               image(5, now - 2 * health.HOUR, hashlib.md5(b"new").hexdigest()),  # plenty of time left
               image(6, now - 80 * health.HOUR, hashlib.md5(b"gone").hexdigest())]  # past the window
    team = [f"e{n}" for n in range(6)]
    records += [("hr.events", e.encode(), orjson.dumps({"type": "employee", "ts": now - 10 * health.DAY,
                                                       "employee_id": e, "name": e, "team": "华东一组",
                                                       "status": "resigned" if e == "e5" else "active"}))
                for e in team]
    for n, e in enumerate(team[:3]):
        records.append(("paodan.alerts", e.encode(), orjson.dumps({
            "alert_id": f"a{n}", "rule": "chat.diversion_phrase", "severity": "high", "score": 80.0,
            "employee_id": e, "team": "华东一组", "branch": "b", "ts": now - health.HOUR,
            "window": {"start": now - 2 * health.HOUR, "end": now - health.HOUR}, "title": "引导", "explanation": "…",
            "evidence": [], "rules_version": "v", "detected_at": now, "revision": 1})))
    write_batch(archive, Batch.of(records))

    facts = media_facts(archive, store, cfg, now)
    assert (facts.pending, facts.oldest_ms, facts.expired) == (2, now - 66 * health.HOUR, 1)
    assert rule_teams(archive, now) == {("chat.diversion_phrase", "华东一组"): (3, 5)}  # e5 has left

    snap = health.Snapshot(now, media=facts, rule_teams=rule_teams(archive, now))
    got = {a["rule"]: a for a in health.evaluate(snap, dataclasses.replace(cfg, rule_share_min_team=5))}
    assert set(got) == {health.MEDIA_EXPIRING, health.RULE_SHARE}
    assert "about 6.0 h are left" in got[health.MEDIA_EXPIRING]["explanation"]
    assert "3/5" in got[health.RULE_SHARE]["explanation"]


def _file(tmp_path, data: bytes):
    path = tmp_path / "in.png"
    path.write_bytes(data)
    return path
