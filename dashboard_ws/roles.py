"""Who a signed-in WeCom user is on the board: their role and teams, from the directory and the privileged list.

Pure: the caller passes the directory (employee id → the latest `employee` HR record: team, branch,
manager_id, role, status) and the privileged list (userid → `admin` or `compliance`).

- `admin` / `compliance` come only from the privileged list (changed with a second admin's approval,
  dashboard_ws.privileges) — never from a directory field someone in HR could edit;
- a **branch head** (directory role `branch_head`, or someone whose reports themselves have reports)
  supervises every team of their branch;
- a **manager** supervises the teams of the active employees who report to them (`manager_id`);
- anyone else has no role on the board (sales staff do not triage, and never their own alerts).
A resigned employee has no role at all, privileged or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

PRIVILEGED_ROLES = ("admin", "compliance")
BRANCH_HEAD_ROLES = ("branch_head",)


@dataclass(frozen=True)
class Access:
    role: str  # `supervisor`, `compliance` or `admin` (dashboard_ws.auth.ROLES)
    teams: tuple[str, ...] = ()
    why: str = ""  # how it was decided, for the audit row of the sign-in


class NoAccess(PermissionError):
    """The user has no role on the board; str() is the zh-CN/English reason shown to them."""


def _active(entry: Mapping[str, Any]) -> bool:
    return (entry.get("status") or "active") != "resigned"


def resolve(userid: str, directory: Mapping[str, Mapping[str, Any]], privileged: Mapping[str, str]) -> Access:
    """The board access of `userid`; NoAccess says why there is none."""
    me = directory.get(userid)
    if me is not None and not _active(me):
        raise NoAccess("你已离职，不能登录看板 / you have left the company and cannot sign in")
    role = privileged.get(userid)
    if role in PRIVILEGED_ROLES:
        return Access(role, (), f"privileged list: {role}")
    if me is None:
        raise NoAccess("通讯录中没有你的记录，请联系管理员 / you are not in the directory; ask an admin")
    report_ids = {eid for eid, e in directory.items() if e.get("manager_id") == userid and _active(e)}
    reports = [directory[eid] for eid in report_ids]
    reports_manage = any(e.get("manager_id") in report_ids for e in directory.values() if _active(e))
    if (me.get("role") in BRANCH_HEAD_ROLES or reports_manage) and me.get("branch"):
        teams = sorted({e["team"] for e in directory.values()
                        if e.get("branch") == me["branch"] and e.get("team") and _active(e)})
        if teams:
            return Access("supervisor", tuple(teams), f"branch head of {me['branch']}")
    teams = sorted({e["team"] for e in reports if e.get("team")})
    if teams:
        return Access("supervisor", tuple(teams), f"manager of {len(reports)} employees")
    raise NoAccess("你在看板上没有角色（只有主管、分部负责人、合规和管理员可以登录） / you have no role on the "
                   "board (managers, branch heads, compliance and admins only)")
