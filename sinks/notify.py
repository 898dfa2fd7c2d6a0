"""Notifications for high and critical alerts: WeCom group robots and generic webhooks.

Configured by a YAML file (`PAODAN_NOTIFY`, default `config/notify.yaml`; no file → no notifications):

    targets:
      compliance-robot:
        kind: wecom_robot            # WeCom group robot (群机器人) webhook, markdown message
        url_env: PAODAN_NOTIFY_COMPLIANCE_URL   # the URL holds the robot's key: a secret, kept out of git
        per_minute: 20               # WeCom accepts 20 messages a minute per robot
      soc:
        kind: webhook                # POST {"type": "paodan.alert", "alert": {…}} as JSON
        url_env: PAODAN_NOTIFY_SOC_URL
        per_minute: 120
    routes:                          # every matching route's targets get the alert (once per target)
      - {rule: "*", team: "*", min_severity: critical, targets: [soc]}
      - {rule: chat.diversion_phrase, team: 华东一组, min_severity: high, targets: [compliance-robot]}

The board process feeds `Notifier.offer()` from its one Redis subscription without waiting. Each alert is
notified once per severity across all board processes (`SET NX` in Redis), never while its rule or
employee is silenced, and never with chat content (a group robot reaches people who may not read it).
Over a target's rate the alerts are counted and summed up in one message when the limit allows again.
Failed deliveries are retried three times with backoff, then logged (the alert is still on the board).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from config.settings import CONFIG_DIR, Settings
from config.yamlfile import ConfigError, line_of, load
from sinks.redis_live import connect

log = logging.getLogger("paodan.notify")
KINDS = ("wecom_robot", "webhook")
SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
NOTIFIED_TTL_S = 14 * 24 * 3600
SEV_ZH = {"high": "高", "critical": "严重"}


@dataclass(frozen=True)
class Target:
    name: str
    kind: str
    url: str
    per_minute: int


@dataclass(frozen=True)
class Route:
    rule: str
    team: str
    min_severity: str
    targets: tuple[str, ...]

    def matches(self, alert: dict[str, Any]) -> bool:
        return (self.rule in ("*", alert.get("rule")) and self.team in ("*", alert.get("team"))
                and SEVERITY_RANK.get(alert.get("severity", ""), 0) >= SEVERITY_RANK[self.min_severity])


@dataclass(frozen=True)
class Routing:
    targets: dict[str, Target]
    routes: tuple[Route, ...]

    def targets_for(self, alert: dict[str, Any]) -> list[Target]:
        names = {n for r in self.routes if r.matches(alert) for n in r.targets}
        return [self.targets[n] for n in sorted(names) if self.targets[n].url]


def load_routing(path: Path | str, env: dict[str, str] | None = None) -> Routing:
    """Parse and validate the routing file; ConfigError names file:line of the first problem."""
    env = dict(os.environ if env is None else env)
    doc = load(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("targets"), dict) or not isinstance(doc.get("routes"), list):
        raise ConfigError(path, None, "expected `targets:` (a mapping) and `routes:` (a list)")
    targets = {}
    for name, spec in doc["targets"].items():
        line = line_of(doc["targets"], name)
        if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
            raise ConfigError(path, line, f"target {name}: kind must be one of {', '.join(KINDS)}")
        if not isinstance(spec.get("url_env"), str):
            raise ConfigError(path, line, f"target {name}: url_env (the variable holding the URL) is required")
        per_minute = spec.get("per_minute", 20)
        if not isinstance(per_minute, int) or not 1 <= per_minute <= 6000:
            raise ConfigError(path, line, f"target {name}: per_minute must be an integer from 1 to 6000")
        url = env.get(spec["url_env"], "")
        if not url:
            log.warning("notify target %s: %s is not set; the target is disabled", name, spec["url_env"])
        elif not url.startswith(("http://", "https://")):
            raise ConfigError(path, line, f"target {name}: {spec['url_env']} must hold an http(s) URL")
        targets[name] = Target(str(name), spec["kind"], url, per_minute)
    routes = []
    for i, spec in enumerate(doc["routes"]):
        line = line_of(doc["routes"], i)
        if not isinstance(spec, dict):
            raise ConfigError(path, line, "a route is a mapping with rule, team, min_severity, targets")
        severity = spec.get("min_severity", "high")
        if severity not in ("high", "critical"):
            raise ConfigError(path, line, "min_severity must be high or critical (only those are notified)")
        names = spec.get("targets")
        if not isinstance(names, list) or not names:
            raise ConfigError(path, line, "targets must be a non-empty list of target names")
        unknown = [n for n in names if n not in targets]
        if unknown:
            raise ConfigError(path, line, f"unknown target(s): {', '.join(map(str, unknown))}")
        routes.append(Route(str(spec.get("rule", "*")), str(spec.get("team", "*")), severity, tuple(names)))
    return Routing(targets, tuple(routes))


class RateLimit:
    """A token bucket: `per_minute` sends a minute, refilled continuously."""

    def __init__(self, per_minute: int, clock=time.monotonic):
        self.capacity = float(per_minute)
        self.tokens = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.at = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def render(target: Target, alert: dict[str, Any], board_url: str) -> dict[str, Any]:
    """The request body for one alert: metadata and the explanation, never chat content."""
    if target.kind == "webhook":
        return {"type": "paodan.alert", "alert": {k: v for k, v in alert.items() if k != "highlights"}}
    severity = SEV_ZH.get(alert["severity"], alert["severity"])
    lines = [f"**【{severity}】{alert['title']}**",
             f"> 员工：{alert['employee_id']}　团队：{alert.get('team') or '—'}　分值：{float(alert['score']):.0f}",
             f"> 规则：{alert['rule']}", str(alert.get("explanation", ""))[:300]]
    if board_url:
        lines.append(f"[在看板中处理]({board_url})")
    return {"msgtype": "markdown", "markdown": {"content": "\n".join(lines)}}


def summary(target: Target, suppressed: int) -> dict[str, Any]:
    text = f"另有 {suppressed} 条高风险告警因推送频率限制未单独推送，请在看板查看。"
    if target.kind == "webhook":
        return {"type": "paodan.suppressed", "count": suppressed}
    return {"msgtype": "text", "text": {"content": text}}


class Notifier:
    def __init__(self, routing: Routing, redis_url: str, board_url: str = "", queue_size: int = 1000):
        self.routing = routing
        self.redis = connect(redis_url)
        self.board_url = board_url
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_size)
        self.limits = {name: RateLimit(t.per_minute) for name, t in routing.targets.items()}
        self.suppressed = dict.fromkeys(routing.targets, 0)
        self.sent = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> "Notifier | None":
        path = Path(os.environ.get("PAODAN_NOTIFY") or CONFIG_DIR / "notify.yaml")
        if not path.exists():
            return None
        return cls(load_routing(path), settings.redis, os.environ.get("PAODAN_BOARD_URL", ""))

    def offer(self, alert: dict[str, Any]) -> None:
        """Queue an alert if any route wants it; never waits (a full queue drops the oldest)."""
        if SEVERITY_RANK.get(alert.get("severity", ""), 0) < SEVERITY_RANK["high"]:
            return
        if not self.routing.targets_for(alert):
            return
        if self.queue.full():
            log.warning("notification queue full; dropping the oldest alert")
            self.queue.get_nowait()
        self.queue.put_nowait(alert)

    async def _silenced(self, alert: dict[str, Any]) -> bool:
        now = int(time.time() * 1000)
        for field in (f"rule:{alert['rule']}", f"employee:{alert['employee_id']}"):
            raw = await self.redis.hget("paodan:silences", field)
            if raw and orjson.loads(raw).get("until", 0) > now:
                return True
        return False

    async def _post(self, session: aiohttp.ClientSession, target: Target, body: dict[str, Any]) -> bool:
        delay = 0.5
        for attempt in range(3):
            try:
                async with session.post(target.url, data=orjson.dumps(body),
                                        headers={"Content-Type": "application/json"}) as resp:
                    text = await resp.text()
                    if resp.status < 300 and (target.kind != "wecom_robot" or orjson.loads(text or "{}").get("errcode", 0) == 0):
                        self.sent += 1
                        return True
                    if 400 <= resp.status < 500 and resp.status != 429:
                        log.error("notify %s refused (HTTP %d): %s", target.name, resp.status, text[:200])
                        return False
                    log.warning("notify %s: HTTP %d %s", target.name, resp.status, text[:200])
            except (aiohttp.ClientError, asyncio.TimeoutError, orjson.JSONDecodeError) as exc:
                log.warning("notify %s failed (%s: %s), attempt %d", target.name, type(exc).__name__, exc, attempt + 1)
            await asyncio.sleep(delay)
            delay *= 4
        return False

    async def deliver(self, session: aiohttp.ClientSession, alert: dict[str, Any]) -> None:
        if await self._silenced(alert):
            return
        for target in self.routing.targets_for(alert):
            key = f"paodan:notified:{target.name}:{alert['alert_id']}:{alert['severity']}"
            if not await self.redis.set(key, 1, nx=True, ex=NOTIFIED_TTL_S):
                continue  # another board process (or an earlier revision) already sent it
            if not self.limits[target.name].take():
                self.suppressed[target.name] += 1
                continue
            await self._post(session, target, render(target, alert, self.board_url))

    async def flush_suppressed(self, session: aiohttp.ClientSession) -> None:
        """Sum up what the rate held back, in one message per target, as soon as the rate allows."""
        for name, count in self.suppressed.items():
            if count and self.limits[name].take():
                self.suppressed[name] = 0
                await self._post(session, self.routing.targets[name], summary(self.routing.targets[name], count))

    async def run(self, idle_s: float = 5.0) -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                while True:
                    try:
                        alert = await asyncio.wait_for(self.queue.get(), idle_s)
                    except asyncio.TimeoutError:
                        await self.flush_suppressed(session)
                        continue
                    try:
                        await self.flush_suppressed(session)
                        await self.deliver(session, alert)
                    except Exception as exc:  # noqa: BLE001 - Redis away: the alert stays on the board
                        log.warning("notification for %s skipped (%s: %s)", alert.get("alert_id"),
                                    type(exc).__name__, exc)
            finally:
                await self.redis.aclose()
