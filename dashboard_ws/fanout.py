"""Fan-out: one Redis subscription per board process, every change to every viewer allowed to see it.

How a viewer stays complete:
- On connect the viewer is registered *before* its snapshot is read; changes arriving meanwhile are
  buffered and those newer than the snapshot's `seq` are sent right after it. So nothing falls in the gap.
- A browser that reconnects with `?since=seq&epoch=…` gets only the changes after `seq` replayed from
  Redis's change log (`paodan:changes`), or a full snapshot when the log no longer reaches back that far
  or Redis lost its data (a new epoch).
- This process tracks the last sequence number it saw. A jump (a message lost while the subscription
  was down) is filled from the change log; after Redis comes back, it replays what it missed, or resends
  snapshots to everyone if Redis lost its data.

Scope: every change names its team (an alert's, an action's alert's, a silenced employee's; `null` for a
rule silence, which everyone may see) and is sent only to viewers whose token sees that team, so a
supervisor's socket never carries another team's alert, action or silence. Viewers whose role may not
read chat content get every alert redacted (sinks/privacy.py): one redacted text per change.

Slow viewers: each change is framed once and the same bytes are written to every viewer without awaiting
any of them; a viewer whose unsent backlog passes `max_backlog` bytes is cut off (it reconnects and
resumes), never slowing the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property
from itertools import islice
from typing import Any

import orjson
import redis.asyncio as aioredis
from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from dashboard_ws.auth import Claims
from sinks.privacy import redact
from dashboard_ws.tokens import REVOCATIONS, REVOKED
from sinks import redis_risk
from sinks.redis_live import CHANNEL, LiveAlerts

log = logging.getLogger("paodan.board.fanout")
SNAPSHOT_SIZE = 500
SNAPSHOT_FRAME = 256 * 1024
RECENT = 20_000
RISK_TOP = 20
MAX_BACKLOG = 1 << 20
REVOKED_CLOSE = 4401  # application close code: token revoked or expired, sign in again


# What a snapshot leaves out of each alert: its evidence ids and their matched spans, most of an alert's
# bytes (up to 50 messages: some 17 kB of 18) and never shown in the list. The page asks the evidence API
# for them when an alert is opened; live `alert` frames still carry the whole alert.
SNAPSHOT_LEAVES_OUT = ("evidence", "highlights")


def listed(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert as a snapshot lists it: without SNAPSHOT_LEAVES_OUT, with `evidence_count`."""
    out = {k: v for k, v in alert.items() if k not in SNAPSHOT_LEAVES_OUT}
    out["evidence_count"] = len(alert.get("evidence") or ())
    return out


def scope_of(change: dict[str, Any]) -> str | None:
    """The team a change belongs to; None for a change every viewer may see."""
    if change.get("type") == "alert":
        return change["alert"].get("team") or ""
    return change.get("team")


@dataclass(frozen=True)
class Change:
    """One change as sent to viewers: its seq, scope and text, with a redacted text where needed."""
    seq: int
    team: str | None
    full: str
    redacted: str

    @classmethod
    def parse(cls, raw: bytes) -> tuple["Change", dict[str, Any]]:
        change = orjson.loads(raw)
        full = raw.decode()
        redacted = full
        if change.get("type") == "alert":
            hidden = redact(change["alert"])
            if hidden is not change["alert"]:
                redacted = orjson.dumps({**change, "alert": hidden}).decode()
        return cls(int(change["seq"]), scope_of(change), full, redacted), change

    def text_for(self, claims: Claims) -> str:
        return self.full if claims.can_read_content else self.redacted

    @cached_property
    def _frames(self) -> tuple[bytes, bytes]:
        full = text_frame(self.full.encode())
        return full, (full if self.redacted is self.full else text_frame(self.redacted.encode()))

    def frame_for(self, claims: Claims) -> bytes:
        """The whole websocket frame, built once per change and written to every viewer as is."""
        return self._frames[0 if claims.can_read_content else 1]


def text_frame(payload: bytes) -> bytes:
    """An unfragmented, unmasked, uncompressed text frame (RFC 6455 §5.2), as a server sends it."""
    size = len(payload)
    if size < 126:
        head = bytes((0x81, size))
    elif size < 1 << 16:
        head = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return head + payload


def write_frame(ws: ServerConnection, frame: bytes) -> None:
    """Queue a ready-made frame on an open connection without awaiting it (what websockets' `broadcast`
    does, minus building the same frame again for every viewer). Frames are written whole, so they
    never interleave with the library's own pings or sends."""
    if ws.protocol.state is State.OPEN and ws.transport is not None:
        ws.transport.write(frame)


@dataclass(eq=False)
class Viewer:
    ws: ServerConnection
    claims: Claims
    seq: int = 0  # the last change this viewer was sent
    pending: list[Change] | None = field(default_factory=list)  # changes that arrived while syncing

    def sees(self, team: str | None) -> bool:
        return team is None or self.claims.sees_team(team)


class Fanout:
    def __init__(self, live: LiveAlerts, redis_url: str, *, max_backlog: int = MAX_BACKLOG):
        self.live = live
        self.redis_url = redis_url
        self.max_backlog = max_backlog
        self.viewers: set[Viewer] = set()
        self.last_seq = 0
        self.epoch = ""
        self.resync: dict[str, Any] | None = None  # `paodan:resync` as last seen (streams/live.py)
        # The latest changes this process delivered, contiguous by seq: most resumes replay from here
        # without asking Redis or parsing anything again.
        self.recent: deque[Change] = deque(maxlen=RECENT)
        self.ready = asyncio.Event()
        self.dropped = 0

    # --- viewers ------------------------------------------------------------------------------

    async def attach(self, viewer: Viewer, since: int | None, epoch: str | None) -> None:
        """Bring a new viewer up to date (snapshot, or replay after `since`), then deliver live."""
        self.viewers.add(viewer)
        await asyncio.wait_for(self.ready.wait(), 15)
        await self._sync(viewer, since if epoch == self.epoch else None)

    def detach(self, viewer: Viewer) -> None:
        self.viewers.discard(viewer)

    async def _replay(self, since: int) -> list[Change] | None:
        """The changes after `since`, from memory when it reaches back that far, else from Redis."""
        if self.recent and self.recent[0].seq <= since + 1 and since <= self.last_seq:
            return list(islice(self.recent, since + 1 - self.recent[0].seq, None))
        raw = await self.live.changes_since(since)
        return None if raw is None else [Change.parse(r)[0] for r in raw]

    async def _sync(self, viewer: Viewer, since: int | None) -> None:
        viewer.pending = []
        replay = await self._replay(since) if since is not None else None
        if replay is not None:
            await viewer.ws.send(orjson.dumps({"type": "resume", "seq": since, "epoch": self.epoch,
                                               "risk": await self.risk_for(viewer.claims)}).decode())
            viewer.seq = since
            for change in replay:  # written without awaiting each frame: a storm of resumes stays cheap
                if viewer.sees(change.team):
                    write_frame(viewer.ws, change.frame_for(viewer.claims))
                viewer.seq = change.seq
            self._check_backlog(viewer)
        else:
            viewer.seq, frames = await self.snapshot(viewer.claims)
            for frame in frames:
                await viewer.ws.send(frame)
        pending, viewer.pending = viewer.pending, None
        for change in pending:
            self._deliver(viewer, change)

    async def snapshot(self, claims: Claims) -> tuple[int, list[str]]:
        """The snapshot for `claims` as frames of at most ~SNAPSHOT_FRAME bytes: a `snapshot` (with
        silences and precision) and, for a large one, `snapshot_more` frames; the last has `more: false`."""
        if claims.sees_all or len(claims.all_teams) <= 1:
            seq, alerts = await self.live.latest(SNAPSHOT_SIZE, None if claims.sees_all else claims.team)
        else:  # a manager of several teams: each team's newest; the oldest seq, so no change is missed
            seq, alerts = 1 << 62, []
            for team in claims.all_teams:
                team_seq, team_alerts = await self.live.latest(SNAPSHOT_SIZE, team)
                seq, alerts = min(seq, team_seq), alerts + team_alerts
            alerts.sort(key=lambda a: a.get("ts") or 0)
        now = int(time.time() * 1000)
        silences = [s for s in await self.live.silences(now) if s.get("team") is None or claims.sees_team(s["team"])]
        bodies = [orjson.dumps(listed(a if claims.can_read_content else redact(a))) for a in alerts if claims.can_see(a)]
        pages: list[list[bytes]] = [[]]
        size = 0
        for body in bodies:
            if size + len(body) > SNAPSHOT_FRAME and pages[-1]:
                pages.append([])
                size = 0
            pages[-1].append(body)
            size += len(body)
        head = orjson.dumps({"type": "snapshot", "seq": seq, "epoch": self.epoch, "resync": self.resync,
                             "silences": silences,
                             "precision": await self.live.precision(),
                             "risk": await self.risk_for(claims)})[:-1]
        frames = []
        for i, page in enumerate(pages):
            start = head if i == 0 else b'{"type":"snapshot_more"'
            more = b"true" if i < len(pages) - 1 else b"false"
            frames.append((start + b',"alerts":[' + b",".join(page) + b'],"more":' + more + b"}").decode())
        return seq, frames

    async def risk_for(self, claims: Claims) -> list[dict[str, Any]]:
        """The highest current risk scores `claims` may see (the behaviour engine's `paodan:risk`): the
        company's for compliance and admins, the supervisor's own team's for a supervisor."""
        if not claims.sees_all and not claims.team:
            return []
        ranks = [redis_risk.RANK] if claims.sees_all else [redis_risk.team_rank(t) for t in claims.all_teams]
        ids = [i for rank in ranks for i in await self.live.redis.zrevrange(rank, 0, RISK_TOP - 1)]
        values = await self.live.redis.hmget(redis_risk.HASH, ids) if ids else []
        # The team filter again: an entry whose employee has just moved team may still be ranked here.
        return [r for r in map(orjson.loads, filter(None, values)) if claims.sees_team(r.get("team"))]

    def publish_risk(self, raw: bytes) -> None:
        """A risk update (not part of the change log: it is a current value, resent on every resume)."""
        update = orjson.loads(raw)
        frame = text_frame(orjson.dumps({"type": "risk", **update}))
        for viewer in list(self.viewers):
            if viewer.pending is None and viewer.sees(update.get("team") or ""):
                write_frame(viewer.ws, frame)
                self._check_backlog(viewer)

    def _deliver(self, viewer: Viewer, change: Change) -> None:
        if viewer.pending is not None:
            viewer.pending.append(change)
            return
        if change.seq <= viewer.seq or not viewer.sees(change.team):
            return
        viewer.seq = change.seq
        write_frame(viewer.ws, change.frame_for(viewer.claims))
        self._check_backlog(viewer)

    def _check_backlog(self, viewer: Viewer) -> None:
        transport = viewer.ws.transport
        if transport is not None and transport.get_write_buffer_size() > self.max_backlog:
            log.warning("dropping a slow viewer (%s, %d bytes unsent); it will resume on reconnect",
                        viewer.claims.actor, transport.get_write_buffer_size())
            self.dropped += 1
            self.viewers.discard(viewer)
            transport.abort()

    def publish(self, raw: bytes) -> None:
        """Send one change (the bytes from Redis) to every viewer allowed to see it."""
        change, body = Change.parse(raw)
        if change.seq <= self.last_seq:
            return
        if self.recent and change.seq != self.recent[-1].seq + 1:
            self.recent.clear()  # keep the memory contiguous; Redis answers for older resumes
        self.recent.append(change)
        self.last_seq = change.seq
        for viewer in list(self.viewers):
            if viewer.pending is not None or change.seq <= viewer.seq:
                self._deliver(viewer, change)
            elif viewer.sees(change.team):
                viewer.seq = change.seq
                write_frame(viewer.ws, change.frame_for(viewer.claims))
                self._check_backlog(viewer)

    def close_token(self, jti: str, reason: str) -> int:
        closing = [v for v in self.viewers if v.claims.jti == jti]
        for viewer in closing:
            self.viewers.discard(viewer)
            asyncio.create_task(viewer.ws.close(REVOKED_CLOSE, reason))
        return len(closing)

    async def watch_resync(self, every: float = 1.0) -> None:
        """Tell every viewer when the live feed starts or ends re-reading what Redis lost: until it
        ends, the board's picture may be incomplete (a banner says so)."""
        while True:
            try:
                current = await self.live.resync()
            except Exception:  # noqa: BLE001 - Redis away: follow() reports it; keep the last state
                current = self.resync
            if current != self.resync:
                self.resync = current
                frame = text_frame(orjson.dumps({"type": "resync", "resync": current}))
                for viewer in list(self.viewers):
                    if viewer.pending is None:
                        write_frame(viewer.ws, frame)
            await asyncio.sleep(every)

    # --- the one subscription -------------------------------------------------------------------

    async def _catch_up(self, upto: int | None = None) -> None:
        """Deliver changes after `last_seq` from the change log; resync everyone if it has a hole."""
        epoch = await self.live.epoch()
        missed = await self.live.changes_since(self.last_seq) if epoch == self.epoch else None
        if missed is None:
            log.warning("change log does not reach back to seq %d (epoch %s → %s): resending snapshots",
                        self.last_seq, self.epoch, epoch)
            self.epoch = epoch
            self.recent.clear()
            self.last_seq = int(await self.live.redis.get("paodan:seq") or 0)
            for viewer in list(self.viewers):
                if viewer.pending is None:
                    viewer.seq = 0
                    await self._sync(viewer, None)
            return
        for raw in missed:
            if upto is not None and int(orjson.loads(raw)["seq"]) >= upto:
                break
            self.publish(raw)

    async def follow(self) -> None:
        """Forward the channels (changes, revocations, risk updates) to viewers, forever; after losing
        Redis, resubscribe, catch up and close connections whose token was revoked meanwhile."""
        delay = 0.2
        first = True
        while True:
            pubsub = aioredis.Redis.from_url(self.redis_url, socket_connect_timeout=3).pubsub()
            try:
                await pubsub.subscribe(CHANNEL, REVOCATIONS, redis_risk.CHANNEL)
                if first:
                    self.epoch = await self.live.epoch()
                    self.last_seq = int(await self.live.redis.get("paodan:seq") or 0)
                    first = False
                else:
                    await self._catch_up()
                    for viewer in [v for v in self.viewers if await self.is_revoked(v.claims.jti)]:
                        self.close_token(viewer.claims.jti, "token revoked")  # revoked while we were away
                self.ready.set()
                delay = 0.2
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    if message["channel"] == REVOCATIONS.encode():
                        self.close_token(message["data"].decode(), "token revoked")
                        continue
                    if message["channel"] == redis_risk.CHANNEL.encode():
                        self.publish_risk(message["data"])
                        continue
                    seq = int(orjson.loads(message["data"])["seq"])
                    if seq > self.last_seq + 1:
                        await self._catch_up(upto=seq)
                    self.publish(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis gone: retry with backoff
                log.warning("Redis subscription lost (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:  # noqa: BLE001
                    pass

    async def is_revoked(self, jti: str) -> bool:
        return bool(await self.live.redis.hexists(REVOKED, jti))

    async def enforce_expiry(self, every_s: float = 2.0) -> None:
        """Close connections whose token expired while they were open."""
        while True:
            await asyncio.sleep(every_s)
            now = time.time()
            for viewer in [v for v in self.viewers if v.claims.exp < now]:
                self.close_token(viewer.claims.jti, "token expired")
