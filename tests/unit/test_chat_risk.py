"""Chat alerts join the risk score, and a customer steered away who then stops buying raises one
chained alert (detectors/risk.py, detectors/chat_notice.py, detectors/diverted.py), in replay as in
the worker: the chat record's alerts reach the employee's behaviour state right after the record."""

from __future__ import annotations

import io

import orjson
import pytest

from config.rules import load_rules
from config.settings import CONFIG_DIR
from config.yamlfile import ConfigError
from detectors import risk
from detectors.alert import SEVERITY_RANK
from detectors.context import BehaviourRules
from ingest.simulator import Employee, chat, contact, directory_record, hr, order
from tests.integration.test_chat_risk_live import _Ids
from streams.behaviour_memory import MemoryBehaviour
from streams.replay import Replay

MON = 1_764_518_400_000  # Monday 2025-12-01 00:00 Asia/Shanghai
H = 3_600_000
DAY = 24 * H
RULES = load_rules(CONFIG_DIR / "rules.yaml")
RISK = BehaviourRules.of(RULES).risk
AMY = Employee("amy", "amy", "一组", "SH-01", "boss")
BOSS = Employee("boss", "boss", "一组", "SH-01", "", role="manager")
_IDS = _Ids("cr")


def _notice(aid: str, rule: str, sev: str, ts: int, customer: str = "wmc1", quote: str = "加我私人微信",
            out: bool = True) -> dict:
    return {"kind": "chat_alert", "employee_id": "amy", "ts": ts, "id": aid, "rule": rule, "sev": sev,
            "customer": customer, "msgid": f"m-{aid}", "quote": quote, "out": out}


class Engine:
    """The behaviour engine in memory, fed records and chat alert notices as the replay feeds them."""

    def __init__(self):
        self.engine = MemoryBehaviour(RULES)
        self.alerts: dict[str, dict] = {}
        for e in (BOSS, AMY):
            self.send(directory_record(e, MON - 40 * DAY))

    def _keep(self, alerts) -> list[dict]:
        out = [a.to_dict() for a in alerts]
        for a in out:
            self.alerts[a["alert_id"]] = a
        return out

    def send(self, record) -> list[dict]:
        topic, key, value = record
        return self._keep(self.engine.handle(topic, key, orjson.dumps(value)))

    def notice(self, body: dict) -> list[dict]:
        return self._keep(self.engine.handle_decoded("amy", None, None, [body]))

    @property
    def risk(self) -> dict:
        return self.engine.risk.get("amy", {})

    def of(self, rule: str) -> list[dict]:
        return [a for a in self.alerts.values() if a["rule"] == rule]


@pytest.fixture
def e():
    return Engine()


# --- chat joins risk ------------------------------------------------------------------------------

def test_a_chat_alert_feeds_the_risk_score_and_its_explanation_names_the_alert_and_words(e):
    e.notice(_notice("a1", "chat.private_contact", "high", MON + 10 * H))
    r = e.risk
    assert r["contributions"] == [{"rule": "chat.private_contact", "alert_id": "a1", "points": 32.0}]
    # One moment of chat alone ranks the employee but raises no level alert: the chat alert is on the board.
    assert 0 < r["score"] < RISK.levels["low"] and r["level"] == "info" and e.of("risk.score") == []
    e.notice(_notice("a2", "chat.offline_payment", "critical", MON + DAY + 10 * H, customer="wmc2", quote="转我卡上"))
    (level,) = e.of("risk.score")  # repeated over days and customers: a level, naming the alerts and words
    assert level["severity"] == "medium"
    for said in ("a1", "a2", "「加我私人微信」", "「转我卡上」", "wmc1", "wmc2"):
        assert said in level["explanation"]


def test_a_revision_below_the_line_withdraws_the_chat_contribution(e):
    e.notice(_notice("a1", "chat.external_shop", "medium", MON + 10 * H))
    assert e.risk["score"] > 0
    e.notice(_notice("a1", "chat.external_shop", "info", MON + 10 * H + 60_000))
    assert e.risk["score"] == 0 and e.risk["contributions"] == []


def test_info_and_low_chat_alerts_never_count(e):
    e.notice(_notice("a1", "chat.diversion_phrase", "low", MON + 10 * H))
    assert e.risk == {}


def test_chat_alone_on_one_day_raises_no_level_however_many_alerts(e):
    for i in range(6):
        e.notice(_notice(f"a{i}", "chat.offline_payment", "critical", MON + 10 * H + i * H, customer=f"wmc{i}"))
    assert e.risk["level"] == "info" and e.risk["score"] < RISK.levels["low"]
    assert e.of("risk.score") == []


def test_chat_repeated_across_days_and_customers_may_reach_medium_but_not_beyond(e):
    for i in range(6):
        e.notice(_notice(f"a{i}", "chat.offline_payment", "critical", MON + i * DAY + 10 * H, customer=f"wmc{i}"))
    assert e.risk["level"] == "medium" and e.risk["score"] < RISK.levels["high"]


def test_chat_with_behaviour_evidence_is_independent(e):
    e.notice(_notice("a1", "chat.private_contact", "high", MON + 10 * H))
    e.send(hr(AMY, "assignment", MON - 20 * DAY, customer_id="wmo1"))
    e.send(order(AMY, "SO-1", "created", MON + 11 * H, "wmo1", 8000.0))
    e.send(order(AMY, "SO-1", "approved", MON + 12 * H, "wmo1", 8000.0, approver="amy"))
    assert {c["rule"] for c in e.risk["contributions"]} == {"chat.private_contact", "orders.approval"}
    assert e.risk["level"] in ("medium", "high")
    assert any(a["severity"] in ("medium", "high") for a in e.of("risk.score"))


def test_service_quality_is_context_not_independent_evidence():
    state: dict = {}
    rule = RISK
    state["rk"] = {"c": {"a1": ["chat.private_contact", 60.0, MON, "high", ["wmc1"], [1], ["q"]],
                         "f1": ["followup.reply_timeout", 5.0, MON, "medium"]}, "lv": "info"}
    value, _ = risk.score(state, MON, rule)
    assert value < rule.levels["medium"]


# --- steered, then stopped buying -------------------------------------------------------------------

def _history(e: Engine, customer: str, days: list[int]) -> None:
    e.send(hr(AMY, "assignment", MON - 39 * DAY, customer_id=customer))
    for d in days:
        oid = f"SO-{customer}-{d}"
        e.send(order(AMY, oid, "created", MON + d * DAY + 10 * H, customer, 900.0))
        e.send(order(AMY, oid, "paid", MON + d * DAY + 11 * H, customer, 900.0))


def test_a_steered_customer_cancelling_raises_one_chained_alert_citing_both(e):
    _history(e, "wmc1", [-30, -20, -10])
    e.send(order(AMY, "SO-open", "created", MON + 9 * H, "wmc1", 1200.0))
    e.notice(_notice("a1", "chat.diversion_phrase", "medium", MON + 10 * H))
    assert e.of("chat.diverted_customer") == []
    e.send(order(AMY, "SO-open", "cancelled", MON + DAY + 10 * H, "wmc1", 1200.0))
    (alert,) = e.of("chat.diverted_customer")
    assert alert["severity"] == "medium"
    ids = {ev["id"] for ev in alert["evidence"]}
    assert {"a1", "m-a1", "SO-open:cancelled"} <= ids
    text = alert["explanation"]
    assert text.index("引导客户 wmc1") < text.index("订单 SO-open 取消") < text.index("Employee amy")
    # the customer then deletes her: the same alert, one step more serious
    e.send(contact(AMY, "wmc1", MON + 2 * DAY + 10 * H, "del_follow_user"))
    (alert,) = e.of("chat.diverted_customer")
    assert alert["severity"] == "high" and alert["revision"] == 2 and "客户删除了员工" in alert["explanation"]


def test_a_price_question_then_a_steer_then_a_recall_and_a_deletion_tell_one_story(e):
    _history(e, "wmc1", [-30, -20, -10])
    e.send(chat(_IDS, AMY, "wmc1", MON + 9 * H, False, "这款沙发最低多少钱？"))
    e.send(chat(_IDS, AMY, "wmc1", MON + 9 * H + 60_000, True, "您好，稍等我查一下"))
    e.notice(_notice("a1", "chat.diversion_phrase", "medium", MON + 10 * H, quote="外面下单"))
    assert e.of("chat.diverted_customer") == []  # a question and a steer: words, no outcome yet
    e.notice(_notice("r1", "chat.recall_after_hit", "high", MON + 10 * H + 120_000, quote="外面下单"))
    (alert,) = e.of("chat.diverted_customer")
    # a medium steer, one step for the price question before it, one fact: high
    assert alert["severity"] == "high"
    text = alert["explanation"]
    assert text.index("询价「这款沙发最低多少钱？」") < text.index("引导客户 wmc1") < text.index("员工撤回了消息")
    assert "asked about the price" in text
    ids = [ev["id"] for ev in alert["evidence"]]
    assert ids[0].startswith("simcr") and {"a1", "r1"} <= set(ids)  # the question's message first
    e.send(contact(AMY, "wmc1", MON + DAY + 10 * H, "del_follow_user"))
    (alert,) = e.of("chat.diverted_customer")
    assert alert["severity"] == "critical" and alert["revision"] == 2
    assert alert["explanation"].index("员工撤回了消息") < alert["explanation"].index("客户删除了员工")


def test_a_price_question_long_before_the_steer_or_by_another_customer_is_no_step(e):
    _history(e, "wmc1", [-30, -20, -10])
    e.send(chat(_IDS, AMY, "wmc1", MON - 3 * DAY, False, "多少钱？"))      # days before
    e.send(chat(_IDS, AMY, "wmc2", MON + 9 * H, False, "能便宜点吗"))      # another customer
    e.send(chat(_IDS, AMY, "wmc1", MON + 9 * H, True, "这款多少钱都可以谈"))  # the employee's own words
    e.send(order(AMY, "SO-open", "created", MON + 9 * H, "wmc1", 1200.0))
    e.notice(_notice("a1", "chat.diversion_phrase", "medium", MON + 10 * H))
    e.send(order(AMY, "SO-open", "cancelled", MON + DAY + 10 * H, "wmc1", 1200.0))
    (alert,) = e.of("chat.diverted_customer")
    assert alert["severity"] == "medium" and "询价" not in alert["explanation"]


def test_a_steer_with_what_then_happened_to_the_customer_carries_risk_past_medium(e):
    """Chat alone stays low however sharp; the chained alert joins it to orders and contacts (one strong
    story), so the score may pass medium as two families do."""
    _history(e, "wmc1", [-30, -20, -10])
    e.send(order(AMY, "SO-open", "created", MON + 9 * H, "wmc1", 1200.0))
    e.notice(_notice("a1", "chat.private_contact", "high", MON + 10 * H))
    assert e.risk["level"] == "info"
    e.send(order(AMY, "SO-open", "cancelled", MON + DAY + 10 * H, "wmc1", 1200.0))
    e.send(contact(AMY, "wmc1", MON + 2 * DAY + 10 * H, "del_follow_user"))
    (chain,) = e.of("chat.diverted_customer")
    assert chain["severity"] == "critical"
    assert SEVERITY_RANK[e.risk["level"]] > SEVERITY_RANK["medium"]
    assert any(a["severity"] in ("high", "critical") and "chat.diverted_customer" in a["explanation"]
               for a in e.of("risk.score"))


def test_a_customers_own_words_are_no_steer(e):
    _history(e, "wmc1", [-30, -20, -10])
    e.send(order(AMY, "SO-open", "created", MON + 9 * H, "wmc1", 1200.0))
    e.notice(_notice("a1", "chat.diversion_phrase", "medium", MON + 10 * H, out=False))
    e.send(order(AMY, "SO-open", "cancelled", MON + DAY + 10 * H, "wmc1", 1200.0))
    assert e.of("chat.diverted_customer") == []


def test_a_steered_customer_who_buys_again_is_not_diverted(e):
    _history(e, "wmc1", [-30, -20, -10])
    e.notice(_notice("a1", "chat.diversion_phrase", "medium", MON + 10 * H))
    e.send(order(AMY, "SO-again", "created", MON + DAY + 10 * H, "wmc1", 900.0))
    e.send(order(AMY, "SO-again", "cancelled", MON + 2 * DAY + 10 * H, "wmc1", 900.0))
    e.send(contact(AMY, "wmc1", MON + 2 * DAY + 11 * H, "del_follow_user"))
    assert e.of("chat.diverted_customer") == []


def test_a_customer_who_always_cancels_cancelling_again_is_their_habit(e):
    e.send(hr(AMY, "assignment", MON - 39 * DAY, customer_id="wmc1"))
    for d in (-30, -20, -10):
        e.send(order(AMY, f"SO-{d}", "created", MON + d * DAY + 10 * H, "wmc1", 900.0))
        e.send(order(AMY, f"SO-{d}", "cancelled", MON + d * DAY + 12 * H, "wmc1", 900.0))
    e.send(order(AMY, "SO-open", "created", MON + 9 * H, "wmc1", 900.0))
    e.notice(_notice("a1", "chat.diversion_phrase", "medium", MON + 10 * H))
    e.send(order(AMY, "SO-open", "cancelled", MON + DAY + 10 * H, "wmc1", 900.0))
    assert e.of("chat.diverted_customer") == []


def _clock(e: Engine, upto_day: int) -> None:
    """Other customers' chat moves the employee's clock, so days close."""
    for d in range(1, upto_day + 1):
        e.send(chat(_W, AMY, "wmzz", MON + d * DAY + 9 * H, True, "早上好"))


class _W:
    prefix, seed, n = "t", 1, 0

    @classmethod
    def next_seq(cls):
        cls.n += 1
        return cls.n


def test_silence_is_judged_against_the_customers_own_rhythm(e):
    _history(e, "wmc1", [-21, -14, -7])     # every 7 days: 14 days of silence is unusual
    _history(e, "wmc2", [-39, -9])          # every 30 days: 20 days of silence is not
    e.notice(_notice("a1", "chat.diversion_phrase", "medium", MON + 10 * H, customer="wmc1"))
    e.notice(_notice("a2", "chat.diversion_phrase", "medium", MON + 10 * H + 60_000, customer="wmc2"))
    _clock(e, 12)
    assert e.of("chat.diverted_customer") == []   # not yet quiet_min_days
    _clock(e, 22)
    (alert,) = e.of("chat.diverted_customer")
    assert "wmc1" in alert["explanation"] and "wmc2" not in alert["explanation"]
    assert "未再下单" in alert["explanation"] and "7.0 天一单" in alert["explanation"]


def test_a_transfer_by_the_company_is_no_fact_of_the_story(e):
    _history(e, "wmc1", [-30, -20, -10])
    e.notice(_notice("a1", "chat.diversion_phrase", "medium", MON + 10 * H))
    e.send(contact(AMY, "wmc1", MON + DAY, "del_external_contact", Source="DELETE_BY_TRANSFER"))
    assert e.of("chat.diverted_customer") == []
    e.send(contact(AMY, "wmc1", MON + DAY + H, "del_external_contact"))
    assert len(e.of("chat.diverted_customer")) == 1


# --- rules ------------------------------------------------------------------------------------------

def test_the_new_keys_are_typed_and_validated_with_file_and_line(tmp_path):
    bad = (CONFIG_DIR / "rules.yaml").read_text().replace("chat_min_severity: medium", "chat_min_severity: loud")
    path = tmp_path / "rules.yaml"
    path.write_text(bad)
    for lex in (CONFIG_DIR / "lexicons").iterdir():
        (tmp_path / "lexicons").mkdir(exist_ok=True)
        (tmp_path / "lexicons" / lex.name).write_bytes(lex.read_bytes())
    line = bad.splitlines().index(next(x for x in bad.splitlines() if "chat_min_severity" in x)) + 1
    with pytest.raises(ConfigError, match=rf"rules.yaml:{line}:.*chat_min_severity"):
        load_rules(path)
    path.write_text((CONFIG_DIR / "rules.yaml").read_text().replace("gap_ratio: 2.0", "gap_ratio: 0.5"))
    with pytest.raises(ConfigError, match="diverted.gap_ratio"):
        load_rules(path)


# --- through the replay (chat detectors → notices → behaviour), one process and two -----------------

def _lines() -> list[bytes]:
    recs = [directory_record(BOSS, MON - 40 * DAY), directory_record(AMY, MON - 40 * DAY),
            hr(AMY, "assignment", MON - 39 * DAY, customer_id="wmc1")]
    for d in (-30, -20, -10):
        recs += [order(AMY, f"SO-{d}", "created", MON + d * DAY + 10 * H, "wmc1", 900.0),
                 order(AMY, f"SO-{d}", "paid", MON + d * DAY + 11 * H, "wmc1", 900.0)]
    recs += [order(AMY, "SO-open", "created", MON + 9 * H, "wmc1", 1200.0),
             chat(_W, AMY, "wmc1", MON + 10 * H, False, "这个多少钱？"),
             chat(_W, AMY, "wmc1", MON + 10 * H + 5 * 60_000, True, "加我手机 13912345678，私下给你便宜点"),
             order(AMY, "SO-open", "cancelled", MON + DAY + 10 * H, "wmc1", 1200.0)]
    return [orjson.dumps({"topic": t, "key": k, "value": v}) for t, k, v in recs]


def _replay(path, parallel: bool) -> tuple[list[dict], dict]:
    out, err = io.BytesIO(), io.StringIO()
    replay = Replay(RULES, out, err)
    replay.run([str(path)], parallel=parallel)
    alerts = [orjson.loads(line) for line in out.getvalue().splitlines()]
    for a in alerts:
        del a["detected_at"]
    assert err.getvalue() == ""
    return alerts, replay.behaviour.risk


def test_replay_routes_chat_alerts_into_risk_and_the_chain_alike_on_one_process_and_two(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(_lines()) + b"\n")
    one, risk_one = _replay(path, parallel=False)
    two, risk_two = _replay(path, parallel=True)
    assert one == two and risk_one == risk_two
    chat_ids = {a["alert_id"] for a in one if a["rule"].startswith("chat.") and a["rule"] != "chat.diverted_customer"
                and a["severity"] in ("medium", "high", "critical")}
    assert chat_ids and chat_ids <= {c["alert_id"] for c in risk_one["amy"]["contributions"]}
    (chain,) = {a["alert_id"]: a for a in one if a["rule"] == "chat.diverted_customer"}.values()
    assert chat_ids & {ev["id"] for ev in chain["evidence"]}
    assert "SO-open:cancelled" in {ev["id"] for ev in chain["evidence"]}
