"""Settings come from the environment, validated at start-up: a bad value names the variable."""

from __future__ import annotations

import re

import pytest

from config.settings import SettingsError, load


def test_defaults_match_the_local_stack(tmp_path):
    s = load({"PAODAN_STACK_DIR": str(tmp_path)})
    assert s.env_lines() == ["PAODAN_KAFKA=127.0.0.1:19092", "PAODAN_REDIS=redis://127.0.0.1:16379/0",
                             "PAODAN_CLICKHOUSE=clickhouse://127.0.0.1:19000/paodan"]
    assert s.clickhouse_database == "paodan" and s.partitions == 8
    assert len(s.secret) >= 32 and (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
    assert load({"PAODAN_STACK_DIR": str(tmp_path)}).secret == s.secret  # generated once, then kept


@pytest.mark.parametrize("env, words", [
    ({"PAODAN_PARTITIONS": "x"}, "PAODAN_PARTITIONS='x': expected an integer between 1 and 1024"),
    ({"PAODAN_PARTITIONS": "0"}, "PAODAN_PARTITIONS=0"),
    ({"PAODAN_SINK_FLUSH": "100"}, "PAODAN_SINK_FLUSH=100.0: expected a number"),
    ({"PAODAN_KAFKA": "localhost"}, "PAODAN_KAFKA='localhost': expected host:port"),
    ({"PAODAN_REDIS": "http://x"}, "PAODAN_REDIS='http://x'"),
    ({"PAODAN_OFFSET_RESET": "middle"}, "expected one of earliest, latest"),
    ({"PAODAN_SECRET": "short"}, "PAODAN_SECRET: expected at least 16 characters"),
])
def test_a_bad_value_names_the_variable(tmp_path, env, words):
    with pytest.raises(SettingsError, match=re.escape(words)):
        load({"PAODAN_STACK_DIR": str(tmp_path), **env})
