"""The alert lifecycle: transitions, required details and who may act on what."""

from __future__ import annotations

import pytest

from dashboard_ws.auth import Claims
from dashboard_ws.lifecycle import ActionError, apply, authorize, initial_state

SUPERVISOR_A = Claims(role="supervisor", team="A", exp=0, jti="j1", sub="张主管")
COMPLIANCE = Claims(role="compliance", team="", exp=0, jti="j2", sub="合规李")
ADMIN = Claims(role="admin", team="", exp=0, jti="j3")
ALERT_A, ALERT_B = {"alert_id": "x", "team": "A"}, {"alert_id": "y", "team": "B"}


def run(*steps, state=None):
    state = state or initial_state()
    for action, detail in steps:
        state, _ = apply(state, action, detail, "张主管", 1000)
    return state


def test_acknowledge_assign_resolve_and_reopen():
    s = run(("acknowledge", {}))
    assert s["status"] == "acknowledged" and s["updated_by"] == "张主管"
    s = run(("assign", {"assignee": "王五"}), state=s)
    assert (s["status"], s["assignee"]) == ("assigned", "王五")
    s = run(("resolve", {"resolution": "false_positive", "note": "客户自己问的"}), state=s)
    assert (s["status"], s["resolution"]) == ("resolved", "false_positive")
    s = run(("reopen", {}), state=s)
    assert (s["status"], s["resolution"]) == ("acknowledged", None)
    assert [h["action"] for h in s["history"]] == ["acknowledge", "assign", "resolve", "reopen"]


def test_claim_assigns_the_actor_and_comments_keep_the_status():
    s = run(("claim", {}), ("comment", {"text": "  已联系员工  "}))
    assert (s["status"], s["assignee"]) == ("assigned", "张主管")
    assert s["comments"] == [{"by": "张主管", "ts": 1000, "text": "已联系员工"}]


def test_the_input_state_is_not_mutated():
    before = initial_state()
    apply(before, "comment", {"text": "x"}, "a", 1)
    assert before == initial_state()


@pytest.mark.parametrize("steps, error", [
    ([("acknowledge", {}), ("acknowledge", {})], "already acknowledged"),
    ([("resolve", {"resolution": "true_positive"}), ("escalate", {})], "reopen it first"),
    ([("reopen", {})], "only a resolved alert"),
    ([("resolve", {"resolution": "maybe"})], "resolution must be one of"),
    ([("assign", {})], "assignee is required"),
    ([("comment", {"text": " "})], "text is required"),
    ([("comment", {"text": "x" * 2001})], "longer than"),
    ([("comment", {"text": 5})], "must be text"),
    ([("delete", {})], "unknown action"),
    ([("escalate", {}), ("escalate", {})], "already escalated"),
])
def test_nonsense_transitions_and_bad_details_are_refused(steps, error):
    with pytest.raises(ActionError, match=error):
        run(*steps)


def test_a_supervisor_acts_on_their_own_team_only_and_cannot_silence():
    authorize(SUPERVISOR_A, "acknowledge", ALERT_A)
    with pytest.raises(ActionError, match="no such alert") as exc:
        authorize(SUPERVISOR_A, "acknowledge", ALERT_B)  # indistinguishable from a missing alert
    assert exc.value.code == "not_found"
    with pytest.raises(ActionError, match="only an admin"):
        authorize(SUPERVISOR_A, "silence", ALERT_A)
    with pytest.raises(ActionError, match="only an admin"):
        authorize(COMPLIANCE, "silence", ALERT_B)


def test_compliance_acts_everywhere_and_admin_may_silence():
    authorize(COMPLIANCE, "resolve", ALERT_B)
    authorize(ADMIN, "silence", None)
    with pytest.raises(ActionError, match="no such alert"):
        authorize(COMPLIANCE, "resolve", None)


def test_only_compliance_and_admin_read_message_content():
    assert COMPLIANCE.can_read_content and ADMIN.can_read_content and not SUPERVISOR_A.can_read_content
    assert ADMIN.actor.startswith("admin:") and SUPERVISOR_A.actor == "张主管"
