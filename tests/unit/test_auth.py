"""Board tokens are signed, expire and carry a role scope."""

from __future__ import annotations

import pytest

from dashboard_ws.auth import AuthError, issue, verify

SECRET = b"s" * 32


def test_a_token_round_trips_with_its_role_and_team():
    claims = verify(SECRET, issue(SECRET, "supervisor", "华东一组"))
    assert (claims.role, claims.team) == ("supervisor", "华东一组")
    assert claims.can_see({"team": "华东一组"}) and not claims.can_see({"team": "华北一组"})
    assert verify(SECRET, issue(SECRET, "compliance")).can_see({"team": "anything"})


@pytest.mark.parametrize("token, reason", [
    (None, "missing"), ("", "missing"), ("abc", "malformed"), ("v1.e30", "malformed"),
    ("v2.e30.sig", "malformed"),
])
def test_malformed_tokens_are_refused(token, reason):
    with pytest.raises(AuthError, match=reason):
        verify(SECRET, token)


def test_forged_tampered_and_expired_tokens_are_refused():
    other = issue(b"o" * 32, "compliance")
    with pytest.raises(AuthError, match="signature"):
        verify(SECRET, other)
    good = issue(SECRET, "supervisor", "A")
    head, payload, sig = good.split(".")
    tampered = f"{head}.{issue(SECRET, 'compliance').split('.')[1]}.{sig}"
    with pytest.raises(AuthError, match="signature"):
        verify(SECRET, tampered)
    with pytest.raises(AuthError, match="expired"):
        verify(SECRET, issue(SECRET, "compliance", ttl_s=10, now=1000.0), now=2000.0)


def test_a_supervisor_token_needs_a_team():
    with pytest.raises(ValueError, match="team"):
        issue(SECRET, "supervisor")
