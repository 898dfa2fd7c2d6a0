"""chat.slow_drip: private contacts or channels shared with many customers, a few a day — unusual for
this employee and among their colleagues (detectors/drip.py), judged where the team's days meet."""

from __future__ import annotations

import orjson
import pytest

from config.rules import load_rules
from config.settings import CONFIG_DIR
from ingest.simulator import Employee, chat, directory_record
from streams.behaviour_memory import MemoryBehaviour

MON = 1_764_518_400_000  # Monday 2025-12-01 00:00 Asia/Shanghai
H = 3_600_000
DAY = 24 * H
RULES = load_rules(CONFIG_DIR / "rules.yaml")
BOSS = Employee("boss", "boss", "一组", "SH-01", "", role="manager")
TEAM = [Employee(u, u, "一组", "SH-01", "boss") for u in ("amy", "bob", "cat", "dan")]


class _World:
    prefix, seed, n = "drip", 1, 0

    @classmethod
    def next_seq(cls):
        cls.n += 1
        return cls.n


class Team:
    """Four colleagues writing to their own customers every day; shares arrive as chat alert notices."""

    def __init__(self):
        self.engine = MemoryBehaviour(RULES)
        self.alerts: dict[str, dict] = {}
        for e in (BOSS, *TEAM):
            self._send(directory_record(e, MON - 40 * DAY))

    def _keep(self, alerts) -> None:
        for a in alerts:
            self.alerts[a.alert_id] = a.to_dict()

    def _send(self, record) -> None:
        topic, key, value = record
        self._keep(self.engine.handle(topic, key, orjson.dumps(value)))

    def share(self, who: str, day: int, customer: str, sev: str = "high", aid: str | None = None,
              rule: str = "chat.private_contact") -> None:
        ts = MON + day * DAY + 15 * H
        aid = aid or f"{who}-{day}-{customer}"
        self._keep(self.engine.handle_decoded(who, None, None, [{
            "kind": "chat_alert", "employee_id": who, "ts": ts, "id": aid, "rule": rule, "sev": sev,
            "customer": customer, "msgid": f"m-{aid}", "quote": "加我微信 abc_123", "out": True}]))

    def work(self, first: int, last: int, shares=None) -> None:
        """Days first..last: everyone writes to their own customer; `shares(who, day)` adds what they share."""
        for d in range(first, last + 1):
            for e in TEAM:
                self._send(chat(_World, e, f"wm-own-{e.userid}", MON + d * DAY + 10 * H, True, "您好，订单已发货"))
                if shares is not None:
                    shares(self, e.userid, d)

    def of(self, rule: str) -> list[dict]:
        return [a for a in self.alerts.values() if a["rule"] == rule]


@pytest.fixture
def team():
    return Team()


def _amy_one_a_day(t: Team, who: str, d: int) -> None:
    if who == "amy" and 0 <= d <= 5:
        t.share("amy", d, f"wm-c{d}")


def test_one_customer_a_day_over_a_week_is_a_slow_drip_naming_both_norms(team):
    team.work(-30, 8, _amy_one_a_day)
    (alert,) = team.of("chat.slow_drip")
    assert alert["employee_id"] == "amy" and alert["severity"] in ("medium", "high")
    text = alert["explanation"]
    assert "向 5 位客户" in text or "向 6 位客户" in text
    assert "同组" in text and "本人此前" in text and "In the last 7 days" in text
    assert {f"m-amy-{d}-wm-c{d}" for d in range(1, 6)} <= {e["id"] for e in alert["evidence"]}
    assert alert["revision"] > 1  # judged again each day: the one alert is revised, not repeated
    # It is evidence for the risk score on its own: spread over days and customers by construction.
    assert any(c["rule"] == "chat.slow_drip" for c in team.engine.risk["amy"]["contributions"])


def test_fewer_customers_than_the_floor_is_no_drip(team):
    team.work(-30, 8, lambda t, who, d: who == "amy" and 0 <= d <= 3 and t.share("amy", d, f"wm-c{d}"))
    assert team.of("chat.slow_drip") == []


def test_a_burst_on_one_day_is_not_a_drip(team):
    def burst(t, who, d):
        if who == "amy" and d == 2:
            for i in range(8):
                t.share("amy", d, f"wm-c{i}")
    team.work(-30, 8, burst)
    assert team.of("chat.slow_drip") == []


def test_what_the_employee_always_did_is_their_own_norm(team):
    team.work(-30, 8, lambda t, who, d: who == "amy" and d % 7 != 6 and t.share("amy", d, f"wm-c{d}"))
    assert team.of("chat.slow_drip") == []


def test_what_the_whole_team_does_is_the_company_practice(team):
    team.work(-30, 8, lambda t, who, d: 0 <= d <= 5 and t.share(who, d, f"wm-{who}-{d}"))
    assert team.of("chat.slow_drip") == []


def test_shares_revised_below_the_line_are_taken_back(team):
    def then_learned(t, who, d):
        if who == "amy" and 0 <= d <= 5:
            t.share("amy", d, f"wm-c{d}", aid=f"x{d}", rule="chat.external_shop")
            t.share("amy", d, f"wm-c{d}", sev="info", aid=f"x{d}", rule="chat.external_shop")
    team.work(-30, 8, then_learned)
    assert team.of("chat.slow_drip") == []


def test_a_customer_sharing_with_the_employee_is_no_drip(team):
    def inbound(t, who, d):
        if who == "amy" and 0 <= d <= 5:
            t._keep(t.engine.handle_decoded("amy", None, None, [{
                "kind": "chat_alert", "employee_id": "amy", "ts": MON + d * DAY + 15 * H, "id": f"in{d}",
                "rule": "chat.private_contact", "sev": "high", "customer": f"wm-c{d}", "msgid": f"m{d}",
                "quote": "", "out": False}]))
    team.work(-30, 8, inbound)
    assert team.of("chat.slow_drip") == []
