"""Archive coverage: employees without archived chats and customers without consent are reported."""

from __future__ import annotations

from ingest.coverage import Coverage, render


def test_coverage_reports_unarchived_employees_and_unconsented_customers():
    cov = Coverage(since_ms=1000)
    for uid, team, status in (("zhangsan", "华东一组", "active"), ("lisi", "华东一组", "active"),
                              ("wangwu", "华北一组", "resigned")):
        cov.add_hr({"type": "employee", "ts": 1, "employee_id": uid, "name": uid, "team": team, "status": status})
    cov.add_hr({"type": "checkin", "ts": 1, "employee_id": "zhangsan"})
    cov.add_message("zhangsan", {"action": "send", "from": "zhangsan", "tolist": ["wmA"], "msgtime": 5000})
    cov.add_message("lisi", {"action": "send", "from": "lisi", "tolist": ["wmOLD"], "msgtime": 10})  # too old
    for change, user, cust in (("add_external_contact", "zhangsan", "wmA"), ("add_external_contact", "lisi", "wmB"),
                               ("add_external_contact", "lisi", "wmC"), ("msg_audit_approved", "lisi", "wmC"),
                               ("add_external_contact", "lisi", "wmGONE"), ("del_follow_user", "lisi", "wmGONE")):
        cov.add_contact({"ChangeType": change, "UserID": user, "ExternalUserID": cust})
    report = cov.report()
    assert (report["employees_active"], report["employees_archived"]) == (2, 1)
    assert report["not_archived"] == ["lisi"]
    assert (report["customers"], report["customers_consented"]) == (3, 2)  # wmA via its chats, wmC via consent
    lisi = next(r for r in report["employees"] if r["employee_id"] == "lisi")
    assert (lisi["customers"], lisi["consented"], lisi["not_consented"]) == (2, 1, ["wmB"])
    text = render(report)
    assert "1 / 2" in text and "not archived: lisi" in text
