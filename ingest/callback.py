"""`paodan ingest callback`: WeCom's callback receiver, plus order and HR intake, on one HTTP server.

`/wecom/callback` speaks WeCom's protocol (WECOM.md §1, CONTRACT.md §9):
- `GET ?msg_signature&timestamp&nonce&echostr` — URL verification: answer the decrypted echostr.
- `POST ?msg_signature&timestamp&nonce` with the encrypted XML envelope — an event.

Every request passes the same gate, cheapest and safest checks first: parameters present, timestamp
within ±window of our clock, body under the cap, signature (constant time) — only then is anything
decrypted — nonce not seen before in the window, ciphertext decrypts to our corpid. A refusal is a
4xx with a short reason, is logged without secrets or query string, and produces nothing.

A decrypted event is routed by its `Event` (formats.topics.EVENT_TOPICS): `change_external_contact` to
`wecom.contacts` keyed by `UserID` (CONTRACT.md §3), the other 客户联系/archive/approval events to
`wecom.events.*`. The answer is 200 only after Kafka acknowledged (acks=all, idempotent producer),
503 when it did not, so WeCom's retries cover a broker outage; a retry of an event already produced is
answered 200 without producing it again (dedup key per WECOM.md §1, also sent as a record header so
downstream stores can deduplicate across receiver restarts). An authentic event we cannot route goes
to `paodan.deadletter` with the reason, and WeCom gets its 200.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
import time
from collections import OrderedDict
from typing import Any, Awaitable, Callable

import orjson
from aiohttp import web

from config.wecom import IngestSettings
from formats.deadletter import dead_letter
from formats.topics import CALLBACK_SOURCE, CONTACTS, DEADLETTER, EVENT_TOPICS
from ingest import intake, wecom_xml
from ingest.httpbody import Refused, read_body, refusal
from ingest.producer import BrokerUnavailable, Producer, Record
from ingest.wecom_crypto import CryptoError, WecomCrypto

log = logging.getLogger("paodan.ingest")

DEDUP_HEADER = "paodan-dedup"


class NonceWindow:
    """Nonces seen within the replay window. A nonce is held while its request is in flight and kept
    once it succeeded; a request that failed on our side (503) releases it so WeCom's retry passes."""

    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def claim(self, nonce: str, expires_at: float, now: float) -> bool:
        while self._heap and self._heap[0][0] < now:
            at, old = heapq.heappop(self._heap)
            if self._expiry.get(old) == at:
                del self._expiry[old]
        if nonce in self._expiry:
            return False
        self._expiry[nonce] = expires_at
        heapq.heappush(self._heap, (expires_at, nonce))
        return True

    def release(self, nonce: str) -> None:
        self._expiry.pop(nonce, None)


class OnceOnly:
    """Runs an action at most once per key within `ttl_s`. A duplicate arriving while the first is in
    flight waits for its outcome: done → nothing to do; failed → it tries itself."""

    def __init__(self, ttl_s: float = 600.0, max_keys: int = 1_000_000):
        self.ttl_s, self.max_keys = ttl_s, max_keys
        self._done: OrderedDict[str, float] = OrderedDict()
        self._inflight: dict[str, asyncio.Future] = {}

    async def run(self, key: str, action: Callable[[], Awaitable[None]]) -> bool:
        """True when `action` ran and succeeded now; False when the key was already done."""
        now = time.monotonic()
        while self._done and (next(iter(self._done.values())) < now or len(self._done) > self.max_keys):
            self._done.popitem(last=False)
        while True:
            if key in self._done:
                return False
            pending = self._inflight.get(key)
            if pending is None:
                break
            await pending
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            await action()
            self._done[key] = time.monotonic() + self.ttl_s
        finally:
            del self._inflight[key]
            fut.set_result(None)
        return True


def dedup_key(event: dict[str, Any]) -> str:
    """WeCom's retries of one event share this key (WECOM.md §1): FromUserName is always `sys` for
    客户联系 events, so the change's own fields identify it; other events are identified by content."""
    if event.get("Event") == "change_external_contact":
        parts = [event.get(k, "") for k in ("ToUserName", "CreateTime", "ChangeType", "UserID", "ExternalUserID")]
        return "contact|" + "|".join(str(p) for p in parts)
    return "event|" + hashlib.sha1(orjson.dumps(event, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _dig(event: dict[str, Any], *path: str) -> str:
    node: Any = event
    for name in path:
        node = node.get(name) if isinstance(node, dict) else None
    return node if isinstance(node, str) else ""


def route(event: dict[str, Any]) -> tuple[str, str]:
    """(topic, key) for a decrypted event; ValueError with the reason when it has no route."""
    name = event.get("Event")
    topic = EVENT_TOPICS.get(name) if isinstance(name, str) else None
    if topic is None:
        raise ValueError(f"no topic for MsgType={event.get('MsgType')!r} Event={name!r}")
    corp = _dig(event, "ToUserName")
    if topic == CONTACTS:
        key = _dig(event, "UserID")
        if not key:
            raise ValueError("change_external_contact without UserID")
    elif name == "change_external_chat":
        key = _dig(event, "ChatId") or corp
    elif name == "change_external_tag":
        key = _dig(event, "Id") or corp
    elif name == "sys_approval_change":  # keyed by the employee who applied, like the input topics
        key = _dig(event, "ApprovalInfo", "Applyer", "UserId") or _dig(event, "ApprovalInfo", "SpNo") or corp
    else:
        key = corp
    return topic, key


class CallbackReceiver:
    def __init__(self, settings: IngestSettings, producer: Producer, clock: Callable[[], float] = time.time):
        self.settings = settings
        self.crypto = WecomCrypto(settings.token, settings.aes_key, settings.corpid)
        self.producer = producer
        self.clock = clock
        self.nonces = NonceWindow()
        self.once = OnceOnly()

    def _gate(self, request: web.Request, signed: str | None) -> tuple[str, str, str]:
        """Check parameters, timestamp and signature; returns (timestamp, nonce, signed value)."""
        q = request.query
        sig, ts, nonce = q.get("msg_signature"), q.get("timestamp"), q.get("nonce")
        if not sig or not ts or not nonce or signed is None:
            raise Refused(400, "missing msg_signature, timestamp, nonce or ciphertext")
        try:
            ts_value = int(ts)
        except ValueError:
            raise Refused(400, "timestamp is not an integer") from None
        if abs(self.clock() - ts_value) > self.settings.replay_window_s:
            raise Refused(403, "stale timestamp")
        try:
            self.crypto.verify(sig, ts, nonce, signed)
        except CryptoError as exc:
            raise Refused(403, str(exc)) from None
        if not self.nonces.claim(nonce, ts_value + self.settings.replay_window_s, self.clock()):
            raise Refused(409, "replayed nonce")
        return ts, nonce, signed

    def _decrypt(self, ciphertext: str) -> bytes:
        try:
            return self.crypto.decrypt(ciphertext)
        except CryptoError as exc:
            raise Refused(403 if "corpid" in str(exc) else 400, str(exc)) from None

    async def verify_url(self, request: web.Request) -> web.Response:
        try:
            # A '+' sent unencoded arrives as a space after URL-decoding; base64 has no spaces.
            echostr = request.query.get("echostr", "").replace(" ", "+") or None
            _, _, echostr = self._gate(request, echostr)
            return web.Response(body=self._decrypt(echostr), content_type="text/plain")
        except Refused as exc:
            return refusal(request, exc)

    async def event(self, request: web.Request) -> web.Response:
        nonce = None
        try:
            body = await read_body(request, self.settings.max_callback_bytes)
            try:
                ciphertext = wecom_xml.envelope_encrypt(body)
            except wecom_xml.XmlError as exc:
                raise Refused(400, str(exc)) from None
            _, nonce, _ = self._gate(request, ciphertext)
            plaintext = self._decrypt(ciphertext)
            try:
                event = wecom_xml.message(plaintext)
            except wecom_xml.XmlError as exc:
                raise Refused(400, f"decrypted message: {exc}") from None
            key = dedup_key(event)
            await self.once.run(key, lambda: self._produce(event, plaintext, key))
            return web.Response(status=200)
        except Refused as exc:
            return refusal(request, exc)
        except BrokerUnavailable as exc:
            if nonce is not None:
                self.nonces.release(nonce)  # WeCom's retry may reuse it
            return refusal(request, Refused(503, str(exc)))
        except Exception:  # a bug of ours: let WeCom's retry try again rather than lose the event
            if nonce is not None:
                self.nonces.release(nonce)
            log.exception("callback event failed")
            return web.Response(status=500, text="internal error\n")

    async def _produce(self, event: dict[str, Any], plaintext: bytes, dedup: str) -> None:
        headers = ((DEDUP_HEADER, dedup.encode()),)
        try:
            topic, key = route(event)
            record = Record(topic, key.encode(), orjson.dumps(event), headers)
        except ValueError as exc:
            log.warning("authentic event without a route, dead-lettered: %s", exc)
            value = dead_letter(CALLBACK_SOURCE, None, None, str(exc), plaintext)
            record = Record(DEADLETTER, None, orjson.dumps(value), headers)
        await self.producer.send_all([record])


def make_app(settings: IngestSettings, kafka: str, clock: Callable[[], float] = time.time) -> web.Application:
    """The ingest server: WeCom callback and, when PAODAN_INTAKE_TOKEN is set, order/HR intake."""
    producer = Producer(kafka)
    app = web.Application(client_max_size=max(settings.max_callback_bytes, settings.max_intake_bytes))
    receiver = CallbackReceiver(settings, producer, clock)
    app.router.add_get("/wecom/callback", receiver.verify_url)
    app.router.add_post("/wecom/callback", receiver.event)
    intake.add_routes(app, settings, producer)
    from metrics.servers import install

    install(app)  # GET /metrics (docs/metrics.md)

    async def close(_app: web.Application) -> None:
        await producer.close()

    app.on_cleanup.append(close)
    return app


def run(settings: IngestSettings, kafka: str, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM. The access log is off: query strings carry signatures and nonces."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"[ingest] WeCom callback on http://{host}:{port}/wecom/callback"
          + (f", intake on http://{host}:{port}/orders and /hr" if settings.intake_token else
             " (intake off: set PAODAN_INTAKE_TOKEN to enable POST /orders and /hr)")
          + f"; producing to {kafka}", flush=True)
    web.run_app(make_app(settings, kafka), host=host, port=port, access_log=None, print=None,
                handle_signals=True)
