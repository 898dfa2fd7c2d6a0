"""Settings of the board as a WeCom self-built app: server API, OAuth sign-in, sessions, privileged users.

Read from the environment and validated like config.settings: a bad value raises SettingsError naming
the variable and what it should hold. The app secret is kept out of repr() so it never reaches a log
line or a traceback. Sign-in and actions are enabled when corp id, agent id and secret are all set (sign-in
also needs PAODAN_BOARD_URL); without them the
board takes only the signed tokens of `paodan token issue` (service accounts, tests).

- `PAODAN_WECOM_API` — WeCom's server API (default https://qyapi.weixin.qq.com)
- `PAODAN_WECOM_OAUTH` — the OAuth2 authorize page (default https://open.weixin.qq.com/connect/oauth2/authorize)
- `PAODAN_WECOM_CORPID`, `PAODAN_WECOM_AGENTID`, `PAODAN_WECOM_SECRET` — from the admin console
- `PAODAN_BOARD_URL` — the board's address as browsers reach it (the redirect_uri's origin; https means
  Secure cookies)
- `PAODAN_SESSION_HOURS` — how long a sign-in lasts (default 8)
- `PAODAN_INTERCEPT_AUTO_LEVEL` (medium/high/critical, default unset = off), `PAODAN_INTERCEPT_AUTO_DAYS`
  (default 7) — adaptive protection at a risk level (dashboard_ws.intercepts)
- `PAODAN_TRANSFER_FOLLOW_S` — how often the board asks WeCom how its hand-overs went (default 600 s;
  dashboard_ws.transfers)
- `PAODAN_BOARD_ADMINS`, `PAODAN_BOARD_COMPLIANCE` — comma-separated userids that seed the privileged
  list the first time a board starts; later changes go through an admin's request and a second
  admin's approval (dashboard_ws.privileges)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from urllib.parse import urlparse

from config.settings import SettingsError, _int

DEFAULT_API = "https://qyapi.weixin.qq.com"
DEFAULT_OAUTH = "https://open.weixin.qq.com/connect/oauth2/authorize"
_CORPID_RE = re.compile(r"^[A-Za-z0-9]{6,64}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
_USERID_RE = re.compile(r"^[A-Za-z0-9_.@/-]{1,64}$")


@dataclass(frozen=True)
class WecomApp:
    api: str = DEFAULT_API
    oauth: str = DEFAULT_OAUTH
    corpid: str = ""
    agentid: str = ""
    secret: str = field(default="", repr=False)
    board_url: str = ""
    session_ttl_s: int = 8 * 3600
    admins: tuple[str, ...] = ()
    compliance: tuple[str, ...] = ()
    # Adaptive protection: an employee whose risk reaches this level (the rules' own level lines) is put
    # under a WeCom intercept rule for `auto_intercept_days` without anyone asking; "" = never.
    auto_intercept_level: str = ""
    auto_intercept_days: int = 7
    transfer_follow_s: int = 600

    @property
    def api_enabled(self) -> bool:
        return bool(self.corpid and self.agentid and self.secret)

    def require_board_url(self) -> None:
        """Sign-in needs the board's public address for the OAuth redirect_uri."""
        if not self.board_url:
            raise SettingsError("PAODAN_BOARD_URL not set: the board's address as WeCom opens it "
                                "(its host must be the app's trusted domain, 可信域名)")

    @property
    def secure_cookies(self) -> bool:
        return self.board_url.startswith("https://")

    @property
    def redirect_uri(self) -> str:
        return self.board_url.rstrip("/") + "/wecom/oauth"


def _base_url(env: dict[str, str], name: str, default: str) -> str:
    value = (env.get(name) or default).rstrip("/")
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.query or parsed.fragment:
        raise SettingsError(f"{name}={value!r}: expected an http(s) URL like {default}")
    return value


def _userids(env: dict[str, str], name: str) -> tuple[str, ...]:
    ids = tuple(dict.fromkeys(p.strip() for p in (env.get(name) or "").split(",") if p.strip()))
    for userid in ids:
        if not _USERID_RE.match(userid):
            raise SettingsError(f"{name}: {userid!r} is not a WeCom userid (letters, digits, _ . @ / -)")
    return ids


def load_wecom_app(env: dict[str, str] | None = None) -> WecomApp:
    """WecomApp from the environment; SettingsError names the first missing or bad variable."""
    env = dict(os.environ if env is None else env)
    corpid = env.get("PAODAN_WECOM_CORPID", "")
    agentid = env.get("PAODAN_WECOM_AGENTID", "")
    secret = env.get("PAODAN_WECOM_SECRET", "")
    if corpid and not _CORPID_RE.match(corpid):
        raise SettingsError("PAODAN_WECOM_CORPID: expected the corp id (letters and digits, e.g. ww1436e0e65a779aee)")
    if agentid and not agentid.isdigit():
        raise SettingsError("PAODAN_WECOM_AGENTID: expected the app's AgentId (digits, e.g. 1000002)")
    if secret and not _SECRET_RE.match(secret):
        # Never echo the value: it is a credential.
        raise SettingsError("PAODAN_WECOM_SECRET: expected the app's Secret (16–128 letters, digits, _ or -)")
    if agentid or secret:
        missing = [n for n, v in (("PAODAN_WECOM_CORPID", corpid), ("PAODAN_WECOM_AGENTID", agentid),
                                  ("PAODAN_WECOM_SECRET", secret)) if not v]
        if missing:
            raise SettingsError(f"{', '.join(missing)} not set: copy the corp id (我的企业 → 企业信息), and the "
                                "app's AgentId and Secret (应用管理 → 自建应用) from the WeCom admin console")
    board_url = env.get("PAODAN_BOARD_URL", "")
    if board_url:
        board_url = _base_url(env, "PAODAN_BOARD_URL", "https://paodan.example.com")
    return WecomApp(
        api=_base_url(env, "PAODAN_WECOM_API", DEFAULT_API),
        oauth=_base_url(env, "PAODAN_WECOM_OAUTH", DEFAULT_OAUTH),
        corpid=corpid, agentid=agentid, secret=secret, board_url=board_url,
        session_ttl_s=_int(env, "PAODAN_SESSION_HOURS", 8, 1, 24 * 30) * 3600,
        admins=_userids(env, "PAODAN_BOARD_ADMINS"),
        compliance=_userids(env, "PAODAN_BOARD_COMPLIANCE"),
        auto_intercept_level=_level(env),
        auto_intercept_days=_int(env, "PAODAN_INTERCEPT_AUTO_DAYS", 7, 1, 90),
        transfer_follow_s=_int(env, "PAODAN_TRANSFER_FOLLOW_S", 600, 1, 86_400),
    )


def _level(env: dict[str, str]) -> str:
    value = env.get("PAODAN_INTERCEPT_AUTO_LEVEL", "")
    if value not in ("", "medium", "high", "critical"):
        raise SettingsError(f"PAODAN_INTERCEPT_AUTO_LEVEL={value!r}: expected medium, high or critical (or unset)")
    return value
