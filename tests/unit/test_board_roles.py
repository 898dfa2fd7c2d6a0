"""Roles from the directory, the OAuth authorize URL, and nobody triaging an alert about themselves."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from config.wecom_app import WecomApp
from dashboard_ws.auth import Claims
from dashboard_ws.lifecycle import ActionError, authorize
from dashboard_ws.roles import NoAccess, resolve
from dashboard_ws.signin import authorize_url, cookie_header

DIRECTORY = {
    "head_sh": {"team": "管理", "branch": "SH-01", "role": "manager"},
    "mgr_a": {"team": "华东一组", "branch": "SH-01", "manager_id": "head_sh", "role": "manager"},
    "mgr_b": {"team": "华东二组", "branch": "SH-01", "manager_id": "head_sh", "role": "manager"},
    "s1": {"team": "华东一组", "branch": "SH-01", "manager_id": "mgr_a", "role": "sales"},
    "s2": {"team": "华东一组", "branch": "SH-01", "manager_id": "mgr_a", "role": "sales"},
    "s3": {"team": "华东三组", "branch": "SH-01", "manager_id": "mgr_a", "role": "sales"},
    "s4": {"team": "华东二组", "branch": "SH-01", "manager_id": "mgr_b", "role": "sales"},
    "gone": {"team": "华东二组", "branch": "SH-01", "manager_id": "mgr_b", "role": "sales", "status": "resigned"},
    "mgr_left": {"team": "华南一组", "branch": "GZ-01", "role": "manager", "status": "resigned"},
    "bj_head": {"team": "北京管理", "branch": "BJ-01", "role": "branch_head"},
    "bj1": {"team": "北京一组", "branch": "BJ-01", "manager_id": "someone", "role": "sales"},
}


def test_a_manager_supervises_the_teams_of_their_reports():
    access = resolve("mgr_a", DIRECTORY, {})
    assert (access.role, access.teams) == ("supervisor", ("华东一组", "华东三组"))


def test_resigned_reports_do_not_count():
    assert resolve("mgr_b", DIRECTORY, {}).teams == ("华东二组",)


def test_a_manager_of_managers_and_a_named_branch_head_see_their_branch():
    assert resolve("head_sh", DIRECTORY, {}).teams == ("华东一组", "华东三组", "华东二组", "管理")
    assert resolve("bj_head", DIRECTORY, {}).teams == ("北京一组", "北京管理")


def test_privileged_roles_come_only_from_the_list():
    assert resolve("s1", DIRECTORY, {"s1": "compliance"}).role == "compliance"
    assert resolve("outsider", DIRECTORY, {"outsider": "admin"}).role == "admin"
    with pytest.raises(NoAccess, match="no role"):
        resolve("s1", {**DIRECTORY, "s1": {**DIRECTORY["s1"], "role": "admin"}}, {})


def test_sales_strangers_and_leavers_have_no_access():
    with pytest.raises(NoAccess, match="managers, branch heads"):
        resolve("s2", DIRECTORY, {})
    with pytest.raises(NoAccess, match="not in the directory"):
        resolve("nobody", DIRECTORY, {})
    with pytest.raises(NoAccess, match="left the company"):
        resolve("mgr_left", DIRECTORY, {"mgr_left": "admin"})


def test_claims_with_several_teams():
    claims = Claims(role="supervisor", team="华东一组", exp=0, jti="s1", sub="mgr_a", teams=("华东一组", "华东三组"))
    assert claims.sees_team("华东三组") and not claims.sees_team("华东二组") and not claims.sees_team("")
    assert claims.can_see({"team": "华东三组"}) and not claims.can_read_content


def test_nobody_acts_on_an_alert_about_themselves():
    alert = {"alert_id": "a1", "team": "华东一组", "employee_id": "mgr_a"}
    mgr = Claims(role="supervisor", team="华东一组", exp=0, jti="s1", sub="mgr_a")
    with pytest.raises(ActionError) as info:
        authorize(mgr, "acknowledge", alert)
    assert info.value.code == "forbidden" and "自己" in str(info.value)
    officer = Claims(role="compliance", team="", exp=0, jti="s2", sub="mgr_a")
    with pytest.raises(ActionError):
        authorize(officer, "comment", alert)
    authorize(Claims(role="compliance", team="", exp=0, jti="s3", sub="officer"), "comment", alert)


def test_authorize_url_is_wecoms_silent_signin():
    app = WecomApp(corpid="ww1436e0e65a779aee", agentid="1000002", secret="x" * 20,
                   board_url="https://paodan.example.com")
    url = authorize_url(app, "st4te")
    parsed = urlparse(url)
    assert f"{parsed.scheme}://{parsed.netloc}{parsed.path}" == "https://open.weixin.qq.com/connect/oauth2/authorize"
    assert parsed.fragment == "wechat_redirect"
    assert {k: v[0] for k, v in parse_qs(parsed.query).items()} == {
        "appid": "ww1436e0e65a779aee", "redirect_uri": "https://paodan.example.com/wecom/oauth",
        "response_type": "code", "scope": "snsapi_base", "state": "st4te", "agentid": "1000002"}
    assert list(parse_qs(parsed.query)) == ["appid", "redirect_uri", "response_type", "scope", "state", "agentid"]


def test_session_cookies_are_httponly_lax_and_secure_behind_https():
    https = WecomApp(board_url="https://paodan.example.com")
    plain = WecomApp(board_url="http://127.0.0.1:8765")
    assert cookie_header(https, "paodan_session", "v", 60) == \
        "paodan_session=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
    assert "Secure" not in cookie_header(plain, "paodan_session", "v", 60)
