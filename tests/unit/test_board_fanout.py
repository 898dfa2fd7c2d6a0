"""What a change looks like on each viewer's wire: its scope decides who gets it, and roles that may not
read chat content get it without the matched message text."""

from __future__ import annotations

import orjson

from dashboard_ws.auth import Claims
from dashboard_ws.fanout import Change, Viewer, redact, scope_of

SUPERVISOR = Claims(role="supervisor", team="A", exp=0, jti="s")
COMPLIANCE = Claims(role="compliance", team="", exp=0, jti="c")
ALERT = {"alert_id": "x", "team": "A", "highlights": [{"id": "m1", "start": 2, "end": 6, "text": "加我微信"}]}


def test_each_kind_of_change_names_its_team():
    assert scope_of({"type": "alert", "alert": {"team": "A"}}) == "A"
    assert scope_of({"type": "alert", "alert": {"team": ""}}) == ""
    assert scope_of({"type": "action", "team": "B"}) == "B"
    assert scope_of({"type": "silence", "team": None}) is None  # a rule silence: everyone


def test_a_supervisor_sees_their_team_and_global_changes_only():
    viewer = Viewer(ws=None, claims=SUPERVISOR)
    assert viewer.sees("A") and viewer.sees(None)
    assert not viewer.sees("B") and not viewer.sees("")
    assert Viewer(ws=None, claims=COMPLIANCE).sees("")


def test_supervisors_get_alerts_without_the_matched_message_text():
    raw = orjson.dumps({"seq": 7, "type": "alert", "alert": ALERT})
    change, body = Change.parse(raw)
    assert (change.seq, change.team, body["alert"]) == (7, "A", ALERT)
    assert change.text_for(COMPLIANCE) == raw.decode()
    redacted = orjson.loads(change.text_for(SUPERVISOR))
    assert redacted["alert"]["highlights"] == [{"id": "m1", "start": 2, "end": 6}]
    assert "加我微信" not in change.text_for(SUPERVISOR)


def test_changes_without_content_are_sent_as_they_are():
    plain = {"alert_id": "y", "team": "A", "highlights": [{"id": "m", "start": 0, "end": 1}]}
    assert redact(plain) is plain
    raw = orjson.dumps({"seq": 8, "type": "action", "team": "A", "state": {"status": "resolved"}})
    change, _ = Change.parse(raw)
    assert change.text_for(SUPERVISOR) == change.text_for(COMPLIANCE) == raw.decode()


def test_a_prebuilt_frame_is_exactly_what_websockets_would_send():
    from websockets.frames import Frame, Opcode

    from dashboard_ws.fanout import text_frame

    for size in (0, 125, 126, 65_535, 65_536, 300_000):  # each length encoding and its edges
        payload = "告".encode() * (size // 3) + b"x" * (size % 3)
        assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False)


def test_each_change_is_framed_once_per_audience():
    raw = orjson.dumps({"seq": 9, "type": "alert", "alert": ALERT})
    change, _ = Change.parse(raw)
    assert change.frame_for(COMPLIANCE) is change.frame_for(COMPLIANCE)
    assert change.frame_for(SUPERVISOR).endswith(change.redacted.encode())
    assert b"\xe5\x8a\xa0\xe6\x88\x91" not in change.frame_for(SUPERVISOR)  # 加我
