"""WeCom app settings: defaults, validation that names the variable, and a secret that never shows."""

from __future__ import annotations

import pytest

from config.settings import SettingsError
from config.wecom_app import DEFAULT_API, load_wecom_app

GOOD = {"PAODAN_WECOM_CORPID": "ww1436e0e65a779aee", "PAODAN_WECOM_AGENTID": "1000002",
        "PAODAN_WECOM_SECRET": "s3cr3t-Value_0123456789", "PAODAN_BOARD_URL": "https://paodan.example.com/"}


def test_defaults_keep_the_real_api_and_disable_signin():
    app = load_wecom_app({})
    assert app.api == DEFAULT_API == "https://qyapi.weixin.qq.com"
    assert not app.api_enabled and app.admins == () and app.auto_intercept_level == ""


def test_a_complete_app():
    app = load_wecom_app({**GOOD, "PAODAN_BOARD_ADMINS": "wang, li,wang", "PAODAN_SESSION_HOURS": "4"})
    assert app.api_enabled and app.secure_cookies
    assert app.redirect_uri == "https://paodan.example.com/wecom/oauth"
    assert app.admins == ("wang", "li") and app.session_ttl_s == 4 * 3600
    assert "s3cr3t" not in repr(app)


@pytest.mark.parametrize("name,value,needle", [
    ("PAODAN_WECOM_AGENTID", "app-one", "PAODAN_WECOM_AGENTID"),
    ("PAODAN_WECOM_CORPID", "ww 14", "PAODAN_WECOM_CORPID"),
    ("PAODAN_WECOM_API", "ftp://qyapi", "PAODAN_WECOM_API"),
    ("PAODAN_BOARD_URL", "paodan.example.com", "PAODAN_BOARD_URL"),
    ("PAODAN_BOARD_ADMINS", "wang,李 四", "PAODAN_BOARD_ADMINS"),
    ("PAODAN_SESSION_HOURS", "0", "PAODAN_SESSION_HOURS"),
    ("PAODAN_INTERCEPT_AUTO_LEVEL", "severe", "PAODAN_INTERCEPT_AUTO_LEVEL"),
    ("PAODAN_INTERCEPT_AUTO_DAYS", "91", "PAODAN_INTERCEPT_AUTO_DAYS"),
])
def test_bad_values_name_the_variable(name, value, needle):
    with pytest.raises(SettingsError, match=needle):
        load_wecom_app({**GOOD, name: value})


def test_a_bad_secret_is_refused_without_echoing_it():
    with pytest.raises(SettingsError) as info:
        load_wecom_app({**GOOD, "PAODAN_WECOM_SECRET": "short!"})
    assert "short!" not in str(info.value) and "PAODAN_WECOM_SECRET" in str(info.value)


def test_a_partial_app_names_what_is_missing():
    with pytest.raises(SettingsError, match="PAODAN_WECOM_CORPID"):
        load_wecom_app({"PAODAN_WECOM_AGENTID": "1000002", "PAODAN_WECOM_SECRET": GOOD["PAODAN_WECOM_SECRET"]})


def test_signin_needs_the_board_url():
    app = load_wecom_app({k: v for k, v in GOOD.items() if k != "PAODAN_BOARD_URL"})
    with pytest.raises(SettingsError, match="PAODAN_BOARD_URL"):
        app.require_board_url()
