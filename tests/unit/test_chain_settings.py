"""The chain's settings (config/chain.py): blocks gathered for PAODAN_CHAIN_FLUSH_S, checked."""

from __future__ import annotations

import pytest

from config.chain import load_chain
from config.settings import SettingsError


def test_blocks_are_gathered_for_the_seconds_set_and_a_bad_value_is_refused():
    assert load_chain({}).flush_s == 5.0
    assert load_chain({"PAODAN_CHAIN_FLUSH_S": "0"}).flush_s == 0.0
    for bad in ("-1", "soon", "301"):
        with pytest.raises(SettingsError, match="PAODAN_CHAIN_FLUSH_S"):
            load_chain({"PAODAN_CHAIN_FLUSH_S": bad})
