"""The parametric company generator (ingest/companies): valid contract records, consistent ground truth,
reproducible bytes, and profiles that really differ in what the rules depend on.

Small companies (30 salespeople, 21 days) keep this fast; bench/bench_quality.py runs the full size.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import orjson
import pytest
from jsonschema import Draft202012Validator

from config.settings import CONFIG_DIR
from ingest.companies import scenarios
from ingest.companies.company import build
from ingest.companies.generate import generate
from ingest.companies.params import HALVES, PROFILE_NAMES, draw
from formats.records import CONTACT_CHANGES, decode_contact, decode_hr, decode_msgaudit, decode_order

SMALL = {"staff": 30, "days": 21}
PAYLOAD_KEY = {"external_redpacket": "redpacket", "docmsg": "doc", "markdown": "info", "news": "info"}


@lru_cache(maxsize=None)
def small(name: str, half: str = "dev"):
    return generate(name, half, **SMALL)


def _records(gen):
    return [orjson.loads(line) for line in gen.lines]


def _schema(name: str) -> Draft202012Validator:
    return Draft202012Validator(orjson.loads((CONFIG_DIR / "schemas" / name).read_bytes()))


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_record_is_valid_per_the_contract(name):
    gen = small(name)
    orders, hr = _schema("order.schema.json"), _schema("hr_event.schema.json")
    internal = {e for e in gen.truth["employees"]}
    seqs = []
    checked: dict[str, int] = {}  # the JSON schemas are slow: a few hundred of each kind is enough
    for env in _records(gen):
        assert set(env) == {"topic", "key", "value"}
        topic, key, value = env["topic"], env["key"], env["value"]
        if topic == "wecom.msgaudit":
            _, msg = decode_msgaudit(key, value)
            assert value["msgtype"] == "revoke" or PAYLOAD_KEY.get(value["msgtype"], value["msgtype"]) in value
            assert value["msgid"].endswith("_external") and isinstance(value["msgtime"], int)
            parties = [value["from"], *value["tolist"]]
            assert key in internal and key in parties  # keyed by the internal sender / each internal recipient
            assert all(x in internal or x.startswith("wm") for x in parties)
            if value["from"] not in internal:
                assert key in value["tolist"]
            seqs.append(value["seq"])
        elif topic == "wecom.contacts":
            event = decode_contact(key, value)
            assert value["ChangeType"] in CONTACT_CHANGES and value["FromUserName"] == "sys"
            assert key == value["UserID"] and event.customer_id.startswith("wm")
            assert isinstance(value["CreateTime"], int) and value["CreateTime"] < 10**11  # seconds
        elif topic == "crm.orders":
            decode_order(key, value)
            if checked.setdefault(value["event"], 0) < 300:
                checked[value["event"]] += 1
                assert not list(orders.iter_errors(value)), value
            assert key == value["employee_id"] and key in internal
        else:
            assert topic == "hr.events"
            decode_hr(key, value)
            if checked.setdefault(value["type"], 0) < 300:
                checked[value["type"]] += 1
                assert not list(hr.iter_errors(value)), value
            assert key == value["employee_id"] and key in internal
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_ground_truth_matches_the_records(name):
    gen = small(name)
    truth = gen.truth["employees"]
    records = _records(gen)
    directory = {r["value"]["employee_id"] for r in records if r["value"].get("type") == "employee"}
    assert directory == set(truth)
    times: dict[str, set[int]] = {}
    for r in records:
        v = r["value"]
        ts = v.get("msgtime") or v.get("ts") or v.get("CreateTime", 0) * 1000
        times.setdefault(r["key"], set()).add(ts)
        times[r["key"]].add(ts // 1000 * 1000)
    planted = [e for e, t in truth.items() if t["planted"]]
    assert planted and len(planted) <= len(truth) // 2
    for e in planted:
        t = truth[e]
        assert t["role"] == "sales" and t["start_day"] == 0
        assert not set(t["lookalikes"]) & {"covering", "competitor_talk", "leave_quiet", "top_seller_spike"}
        tz = ZoneInfo(t["timezone"])
        for s in t["planted"]:
            assert gen.truth["start"] <= s["onset"] < gen.truth["end"]
            local = dt.datetime.fromtimestamp(s["onset"] / 1000, tz)
            at_midnight = (local.hour, local.minute, local.second) == (0, 0, 0)
            assert at_midnight or s["onset"] in times[e], (e, s)  # a change of habits, or its first record
            assert s["variant"] in ("plain", "subtle") and s["scenario"] in scenarios.PLANTED


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_a_diverters_private_contact_appears_only_from_them_after_the_onset(name):
    gen = small(name)
    truth = gen.truth["employees"]
    records = [r for r in _records(gen) if r["topic"] == "wecom.msgaudit" and r["value"]["msgtype"] == "text"]
    handles = {t["private"]["wxid"]: e for e, t in truth.items() if "private" in t}
    assert handles
    seen = 0
    for r in records:
        text = r["value"]["text"]["content"]
        for handle, owner in handles.items():
            if handle in text:
                seen += 1
                assert r["value"]["from"] == owner
                assert r["value"]["msgtime"] >= truth[owner]["planted"][0]["onset"]
    assert seen


def test_the_same_seed_gives_the_same_bytes_and_the_halves_differ():
    a = generate("b2b", "dev", **SMALL)
    assert a.lines == small("b2b").lines and a.digest == small("b2b").digest
    assert small("b2b", "test").digest != a.digest


def test_quick_companies_still_plant_every_scenario_that_applies():
    for name in PROFILE_NAMES:
        gen = small(name)
        planted = {s["scenario"] for t in gen.truth["employees"].values() for s in t["planted"]}
        wanted = {n for n in scenarios.PLANTED if scenarios.applies(n, gen.profile)}
        assert planted == wanted, (name, wanted - planted)


def _rule_parameters(p) -> dict:
    """What the detection rules depend on, per profile."""
    return {
        "industry": p.industry,
        "commission": tuple(sorted(p.commission.rate.items())),
        "approval": p.approval,
        "customer_reply": p.customer_reply_min,
        "staff_reply": p.staff_reply_min,
        "orders_per_day": p.orders_per_day,
        "channels": p.stem,
        "team_sizes": tuple(s for b in p.branches for s in b.teams),
        "far_timezone": tuple(sorted({b.tz for b in p.branches})),
        "hours": p.hours,
        "open_days": p.open_days,
        "details_missing": p.details_missing,
        "pay_delay": p.pay_delay_h,
    }


@pytest.mark.parametrize("half", HALVES)
def test_profiles_differ_in_every_parameter_the_rules_depend_on(half):
    params = [_rule_parameters(draw(n, half)) for n in PROFILE_NAMES]
    for key in params[0]:
        values = {repr(p[key]) for p in params}
        assert len(values) > 1, key
    approvals = {draw(n, half).approval for n in PROFILE_NAMES}
    assert approvals >= {"all"} and approvals - {"all"}
    volumes = sorted(draw(n, half).orders_per_day[0] for n in PROFILE_NAMES)
    assert volumes[-1] > 5 * volumes[0]  # a few orders a week vs dozens a day
    for n in PROFILE_NAMES:
        p = draw(n, half)
        zones = {b.tz for b in p.branches}
        assert len(zones) > 1  # a branch in another time zone
        assert all(2 <= s <= 15 for b in p.branches for s in b.teams)


def test_dev_and_test_are_different_draws_from_the_same_ranges():
    for n in PROFILE_NAMES:
        dev, test = draw(n, "dev"), draw(n, "test")
        assert dev.seed != test.seed
        assert dev.industry == test.industry
        differ = [k for k, v in _rule_parameters(dev).items() if v != _rule_parameters(test)[k]]
        assert len(differ) >= 5, (n, differ)


def test_own_channels_are_sent_by_many_staff_across_teams():
    gen = small("meizhuang")
    truth = gen.truth["employees"]
    own = build(gen.profile).channels
    senders = set()
    for r in _records(gen):
        v = r["value"]
        if r["topic"] != "wecom.msgaudit" or v["from"] not in truth:
            continue
        if (v["msgtype"] == "weapp" and v["weapp"]["username"].startswith(own.weapp_username)) or \
                (v["msgtype"] == "link" and any(d in v["link"]["link_url"] for d in own.domains)):
            senders.add(v["from"])
    assert len(senders) >= 10 and len({truth[e]["team"] for e in senders}) >= 3
