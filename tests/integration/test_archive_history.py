"""The history tests of tests/unit/test_clickhouse_history.py, run against the ClickHouse 18.16 server:
every shipped query must be valid on both the oldest server we support and current ClickHouse."""

from __future__ import annotations

import pytest

from sinks.clickhouse import ClickHouseArchive
from tests.live import unique
from tests.unit.test_clickhouse_history import (  # noqa: F401 - collected here with this module's fixture
    seed_company, test_a_supervisor_sees_their_own_team_only_and_messages_as_metadata,
    test_alert_statistics_by_rule_team_and_day,
    test_context_shows_the_conversation_around_an_evidence_message,
    test_search_normalises_like_the_live_matcher_and_highlights_the_original,
    test_timeline_keeps_the_latest_events_when_limited, test_timeline_merges_every_stream_in_time_order_once)

pytestmark = pytest.mark.integration


@pytest.fixture()
def archive(stack):
    a = ClickHouseArchive(f"{stack.clickhouse.rsplit('/', 1)[0]}/{unique('paodan_it_')}")
    assert not a.dialect().modern
    seed_company(a)
    yield a
    a.execute(f"DROP DATABASE IF EXISTS {a.database}")
    a.close()
