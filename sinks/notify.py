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
    quiet_hours: {from: "22:00", to: "08:00", timezone: Asia/Shanghai}   # optional
    escalation: {after_minutes: 15, rota: [wanglei, lina, zhaoqiang]}   # optional; needs PAODAN_WECOM_*

streams/notify_feed.py, in the worker's first archive process, feeds `Notifier.offer()` from
`paodan.alerts` as a consumer group of its own, so notifications flow with no board open. Each alert is notified once per severity
across all notifier processes (`SET NX` in Redis), never while its rule or employee is silenced, and
never with chat content (a group robot reaches people who may not read it: the alert is redacted as
for a supervisor, sinks/privacy.py). Over a target's rate the alerts are counted and summed up in one
message when the limit allows again. In quiet hours only critical alerts go out; the high ones are
summed up in one message per target when the quiet hours end. Escalation: a critical alert still `new`
on the board (nobody acknowledged, assigned or resolved it) `after_minutes` after it was notified goes
to the first person of the on-call rota as a WeCom app message (`message/send`, a text card linking to
the board; at most 30 a minute per recipient, as WeCom allows), then every `after_minutes` to the next,
until someone acts on it or the rota ends. Pending escalations live in the notifier's memory: a
restarted notifier escalates only the alerts it sees again. Failed deliveries are retried three times
with backoff, then logged (the alert is still on the board).
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
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from config.settings import CONFIG_DIR, Settings
from config.yamlfile import ConfigError, line_of, load
from sinks.privacy import redact
from sinks.redis_live import connect, state_key

log = logging.getLogger("paodan.notify")
KINDS = ("wecom_robot", "webhook")
SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
NOTIFIED_TTL_S = 14 * 24 * 3600
SEV_ZH = {"high": "高", "critical": "严重"}
APP_PER_MINUTE = 30   # WeCom app messages a minute per recipient


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
class Quiet:
    """Local hours (minutes after midnight, `start` to `end`, across midnight when end < start)."""
    start: int
    end: int
    timezone: str

    def holds(self, epoch_s: float) -> bool:
        local = datetime.fromtimestamp(epoch_s, ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        return self.start <= minute < self.end if self.start < self.end else (minute >= self.start or minute < self.end)


@dataclass(frozen=True)
class Escalation:
    after_s: float
    rota: tuple[str, ...]
    line: int | None = None  # where the routing file sets it (for errors found later)


@dataclass(frozen=True)
class Routing:
    targets: dict[str, Target]
    routes: tuple[Route, ...]
    quiet: Quiet | None = None
    escalation: Escalation | None = None

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
    return Routing(targets, tuple(routes), _quiet(path, doc), _escalation(path, doc))


def _minutes(value: Any) -> int | None:
    try:
        hours, minutes = str(value).split(":")
        h, m = int(hours), int(minutes)
    except ValueError:
        return None
    return h * 60 + m if 0 <= h < 24 and 0 <= m < 60 else None


def _quiet(path: Path | str, doc: dict) -> Quiet | None:
    spec = doc.get("quiet_hours")
    if spec is None:
        return None
    line = line_of(doc, "quiet_hours")
    usage = 'quiet_hours is {from: "HH:MM", to: "HH:MM", timezone: Area/City}'
    if not isinstance(spec, dict):
        raise ConfigError(path, line, usage)
    start, end = _minutes(spec.get("from")), _minutes(spec.get("to"))
    if start is None or end is None or start == end:
        raise ConfigError(path, line, f"{usage}: from and to are two different times of day")
    zone = str(spec.get("timezone") or "Asia/Shanghai")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(path, line, f"quiet_hours: unknown timezone {zone!r}") from None
    return Quiet(start, end, zone)


def _escalation(path: Path | str, doc: dict) -> Escalation | None:
    spec = doc.get("escalation")
    if spec is None:
        return None
    line = line_of(doc, "escalation")
    if not isinstance(spec, dict):
        raise ConfigError(path, line, "escalation is {after_minutes: N, rota: [userid, …]}")
    after = spec.get("after_minutes")
    if isinstance(after, bool) or not isinstance(after, (int, float)) or not 0 < after <= 1440:
        raise ConfigError(path, line, "escalation.after_minutes must be a number of minutes from 0 to 1440")
    rota = spec.get("rota")
    if not isinstance(rota, list) or not rota or not all(isinstance(u, str) and u for u in rota):
        raise ConfigError(path, line, "escalation.rota must be a non-empty list of WeCom userids, in order")
    return Escalation(float(after) * 60, tuple(rota), line)


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


def summary(target: Target, suppressed: int, quiet: bool = False) -> dict[str, Any]:
    why = "静默时段内" if quiet else "因推送频率限制"
    text = f"另有 {suppressed} 条高风险告警{why}未单独推送，请在看板查看。"
    if target.kind == "webhook":
        return {"type": "paodan.suppressed", "count": suppressed, "reason": "quiet_hours" if quiet else "rate"}
    return {"msgtype": "text", "text": {"content": text}}


def escalation_card(alert: dict[str, Any], step: int, after_s: float) -> tuple[str, str]:
    """(title, description) of the app message that escalates an unanswered critical alert."""
    waited = f"{round(after_s * (step + 1) / 60, 2):g}"
    title = f"【升级】{alert['title']}"[:128]
    description = (f"严重告警已 {waited} 分钟无人处理 / critical alert unanswered for {waited} min\n"
                   f"员工：{alert['employee_id']}　团队：{alert.get('team') or '—'}　规则：{alert['rule']}\n"
                   f"{str(alert.get('explanation', ''))[:200]}")
    return title, description


class Notifier:
    def __init__(self, routing: Routing, redis_url: str, board_url: str = "", queue_size: int = 1000,
                 wecom=None, wall=time.time):
        self.routing = routing
        self.redis = connect(redis_url)
        self.board_url = board_url
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_size)
        self.limits = {name: RateLimit(t.per_minute) for name, t in routing.targets.items()}
        self.suppressed = dict.fromkeys(routing.targets, 0)
        self.held = dict.fromkeys(routing.targets, 0)  # high alerts kept back by the quiet hours
        self.wecom = wecom  # ingest.wecom_api.WecomApi, for escalation's app messages
        self.wall = wall
        self.recipients: dict[str, RateLimit] = {}
        self.escalating: dict[str, dict[str, Any]] = {}  # alert id -> {alert, step, due}
        self.sent = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> "Notifier | None":
        path = Path(os.environ.get("PAODAN_NOTIFY") or CONFIG_DIR / "notify.yaml")
        if not path.exists():
            return None
        routing = load_routing(path)
        wecom = None
        if routing.escalation is not None:
            from config.wecom_app import load_wecom_app
            from ingest.wecom_api import WecomApi

            app, line = load_wecom_app(), routing.escalation.line
            if not app.api_enabled:
                raise ConfigError(path, line, "escalation sends WeCom app messages: "
                                  "set PAODAN_WECOM_CORPID, PAODAN_WECOM_AGENTID and PAODAN_WECOM_SECRET")
            if not os.environ.get("PAODAN_BOARD_URL"):
                raise ConfigError(path, line, "escalation links to the board: set "
                                  "PAODAN_BOARD_URL (the board's address as WeCom opens it)")
            wecom = WecomApi(app)
        return cls(routing, settings.redis, os.environ.get("PAODAN_BOARD_URL", ""), wecom=wecom)

    def offer(self, alert: dict[str, Any]) -> None:
        """Queue an alert if any route wants it, redacted; never waits (a full queue drops the oldest)."""
        if SEVERITY_RANK.get(alert.get("severity", ""), 0) < SEVERITY_RANK["high"]:
            return
        if not self.routing.targets_for(alert):
            return
        if self.queue.full():
            log.warning("notification queue full; dropping the oldest alert")
            self.queue.get_nowait()
        self.queue.put_nowait(redact(alert))

    def quiet(self) -> bool:
        return self.routing.quiet is not None and self.routing.quiet.holds(self.wall())

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
        critical = alert["severity"] == "critical"
        held = not critical and self.quiet()
        for target in self.routing.targets_for(alert):
            key = f"paodan:notified:{target.name}:{alert['alert_id']}:{alert['severity']}"
            if not await self.redis.set(key, 1, nx=True, ex=NOTIFIED_TTL_S):
                continue  # another notifier process (or an earlier revision) already sent it
            if held:
                self.held[target.name] += 1
                continue
            if not self.limits[target.name].take():
                self.suppressed[target.name] += 1
                continue
            await self._post(session, target, render(target, alert, self.board_url))
        esc = self.routing.escalation
        if critical and esc is not None and self.wecom is not None and alert["alert_id"] not in self.escalating:
            self.escalating[alert["alert_id"]] = {"alert": alert, "step": 0, "due": self.wall() + esc.after_s}

    async def flush_suppressed(self, session: aiohttp.ClientSession) -> None:
        """Sum up what the rate held back, in one message per target, as soon as the rate allows; and
        what the quiet hours held back, once they end."""
        quiet = self.quiet()
        for counts, is_quiet in ((self.suppressed, False), (self.held, True)):
            for name, count in counts.items():
                if count and not (is_quiet and quiet) and self.limits[name].take():
                    counts[name] = 0
                    target = self.routing.targets[name]
                    await self._post(session, target, summary(target, count, quiet=is_quiet))

    async def escalate(self) -> list[tuple[str, str]]:
        """Send each due escalation of a critical alert still `new` on the board; (alert id, recipient)
        of those sent."""
        esc, now, sent = self.routing.escalation, self.wall(), []
        for alert_id, entry in list(self.escalating.items()):
            if entry["due"] > now:
                continue
            state = await self.redis.hget(state_key(alert_id), "json")
            if state and orjson.loads(state).get("status", "new") != "new":
                del self.escalating[alert_id]  # someone acted on it
                continue
            who = esc.rota[entry["step"]]
            if not self.recipients.setdefault(who, RateLimit(APP_PER_MINUTE)).take():
                entry["due"] = now + 2.0  # this recipient's minute is used up: a little later
                continue
            key = f"paodan:escalated:{alert_id}:{entry['step']}"
            if await self.redis.set(key, 1, nx=True, ex=NOTIFIED_TTL_S):
                from ingest.wecom_api import WecomError

                title, description = escalation_card(entry["alert"], entry["step"], esc.after_s)
                try:
                    await self.wecom.send_text_card([who], title, description, self.board_url)
                except WecomError as exc:
                    await self.redis.delete(key)
                    log.warning("escalating %s to %s failed: %s", alert_id, who, exc.plain)
                    entry["due"] = now + 30.0
                    continue
                sent.append((alert_id, who))
            entry["step"] += 1
            entry["due"] = now + esc.after_s
            if entry["step"] >= len(esc.rota):
                del self.escalating[alert_id]
        return sent

    async def run(self, idle_s: float = 1.0) -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            try:
                while True:
                    try:
                        alert = await asyncio.wait_for(self.queue.get(), idle_s)
                    except asyncio.TimeoutError:
                        alert = None
                    try:
                        await self.flush_suppressed(session)
                        if alert is not None:
                            await self.deliver(session, alert)
                        if self.escalating:
                            for alert_id, who in await self.escalate():
                                log.info("critical alert %s escalated to %s", alert_id, who)
                    except Exception as exc:  # noqa: BLE001 - Redis away: the alert stays on the board
                        log.warning("notification for %s skipped (%s: %s)", (alert or {}).get("alert_id"),
                                    type(exc).__name__, exc)
            finally:
                await self.redis.aclose()
                if self.wecom is not None:
                    await self.wecom.close()
