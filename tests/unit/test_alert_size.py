"""Whatever a chat message holds, the alert it makes stays small (issue 19: a record's results are
bounded, or the broker refuses them)."""

import orjson

from detectors.content.alerting import MAX_HIGHLIGHTS
from tests.unit.test_diversion_phrase import say


def test_a_message_listing_hundreds_of_ids_makes_a_bounded_alert():
    text = " ".join(f"加我微信 wx_chen{i:04d}" for i in range(300))
    state, alerts = say(None, text)
    [listing] = [a for a in alerts if a.rule == "chat.private_contact"]
    assert len(listing.highlights) == MAX_HIGHLIGHTS
    assert len(orjson.dumps(listing.to_dict())) < 32_000
    state, more = say(state, text.replace("chen", "wang"), msgid="m2", t=listing.ts + 1)
    [grown] = [a for a in more if a.rule == "chat.private_contact"]
    assert grown.revision == 2 and len(grown.highlights) == MAX_HIGHLIGHTS
