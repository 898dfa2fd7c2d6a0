"""A small company for the own-channels tests: colleagues across teams share the company's mini-program
day after day; one diverter sends their private WeChat id; one widely sent mobile number is rejected."""

from __future__ import annotations

from tests.chatmsg import record

DAY = 86_400_000
T0 = 1_764_201_600_000 + 2 * 3_600_000  # 2025-11-27 10:00 in China (02:00 UTC)
OWN_WEAPP = {"title": "会员专享价", "username": "gh_ownmall01@app", "displayname": "某某官方商城"}
OWN = "weapp:gh_ownmall01@app"
DIVERTER_WXID = "xiaowang_888"
REJECTED = "phone:13912345678"
STAFF = 12  # in three teams


def employees(prefix: str) -> list[str]:
    return [f"{prefix}e{i:02d}" for i in range(STAFF)]


def records(prefix: str, days: int = 5) -> list[tuple[str, str, dict]]:
    """(topic, key, value) in time order: the directory, then `days` working days of chat."""
    staff = employees(prefix)
    out: list[tuple[str, str, dict]] = [
        ("hr.events", e, {"type": "employee", "employee_id": e, "name": e, "team": f"{prefix}T{i % 3}",
                          "branch": f"{prefix}B1", "ts": T0 - DAY}) for i, e in enumerate(staff)]
    diverter = staff[-1]
    for day in range(days):
        base = T0 + day * DAY
        for i, e in enumerate(staff):
            t = base + i * 60_000
            customer = f"wm{prefix}C{i:02d}"
            out.append(("wecom.msgaudit", e, record(text="您好，今天有什么可以帮您？", sender=e, to=customer,
                                                   msgid=f"{e}-d{day}-hi", t=t)))
            if i < 8:  # the company's mini-program, by two thirds of the staff across all three teams
                out.append(("wecom.msgaudit", e, record("weapp", OWN_WEAPP, sender=e, to=customer,
                                                       msgid=f"{e}-d{day}-weapp", t=t + 3 * 3_600_000)))
            if 4 <= i < 10:  # a mobile number an admin rejected: it keeps flagging however many send it
                out.append(("wecom.msgaudit", e, record(text="店长电话 139 1234 5678", sender=e, to=customer,
                                                       msgid=f"{e}-d{day}-mobile", t=t + 4 * 3_600_000)))
            if e == diverter:
                out.append(("wecom.msgaudit", e, record(text=f"加我微信 {DIVERTER_WXID}，私下给你优惠", sender=e,
                                                       to=customer, msgid=f"{e}-d{day}-wx", t=t + 5 * 3_600_000)))
    return sorted(out, key=lambda r: (r[0] != "hr.events", r[2].get("msgtime", 0)))


def day_of(ts: int) -> int:
    return (ts - T0) // DAY
