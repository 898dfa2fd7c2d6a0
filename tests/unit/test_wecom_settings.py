"""Ingest server settings: WeCom credentials and the intake token are validated at start-up, never shown."""

from __future__ import annotations

import pytest

from config.settings import SettingsError
from config.wecom import load_ingest

GOOD = {"PAODAN_WECOM_TOKEN": "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
        "PAODAN_WECOM_AES_KEY": "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
        "PAODAN_WECOM_CORPID": "ww1436e0e65a779aee"}


def test_defaults_follow_the_contract():
    s = load_ingest(GOOD)
    assert (s.host, s.port, s.replay_window_s) == ("127.0.0.1", 8480, 300)
    assert s.wecom_enabled and not s.intake_token


def test_missing_credentials_name_the_variables_and_where_to_find_them():
    with pytest.raises(SettingsError, match="PAODAN_WECOM_AES_KEY, PAODAN_WECOM_CORPID.*console"):
        load_ingest({"PAODAN_WECOM_TOKEN": "abc"})


@pytest.mark.parametrize("name,value,match", [
    ("PAODAN_WECOM_AES_KEY", GOOD["PAODAN_WECOM_AES_KEY"][:-1], "43"),
    ("PAODAN_WECOM_TOKEN", "has spaces in it", "1–32"),
    ("PAODAN_INTAKE_TOKEN", "short", "16"),
    ("PAODAN_INGEST_PORT", "99999", "PAODAN_INGEST_PORT"),
])
def test_bad_values_are_refused(name, value, match):
    with pytest.raises(SettingsError, match=match):
        load_ingest({**GOOD, name: value})


def test_secrets_stay_out_of_repr():
    s = load_ingest({**GOOD, "PAODAN_INTAKE_TOKEN": "intake-token-0123456789"})
    text = repr(s)
    assert GOOD["PAODAN_WECOM_TOKEN"] not in text and GOOD["PAODAN_WECOM_AES_KEY"] not in text
    assert "intake-token-0123456789" not in text and GOOD["PAODAN_WECOM_CORPID"] in text
