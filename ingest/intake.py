"""Order and HR intake over HTTP: `POST /orders` → `crm.orders`, `POST /hr` → `hr.events`.

A CRM/ERP or HR system posts one JSON event or a JSON array of them with `Authorization: Bearer
<PAODAN_INTAKE_TOKEN>`. Each event is checked against the published JSON Schema
(`config/schemas/order.schema.json`, `hr_event.schema.json`, CONTRACT.md §4/§5 — direct producers can
use the same files); the valid ones are produced keyed by `employee_id` and acknowledged by Kafka
before the answer, the invalid ones are reported by index with every reason:

    200 {"accepted": 2, "rejected": 0, "errors": []}
    207 {"accepted": 1, "rejected": 1, "errors": [{"index": 1, "errors": ["amount: '12,5' does not match …"]}]}
    422 every event invalid (same body), 400 not JSON, 401 bad token, 413 too large, 503 Kafka down
    (nothing was produced: send the whole request again).
"""

from __future__ import annotations

import hmac
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from jsonschema import Draft202012Validator

from config.settings import CONFIG_DIR
from config.wecom import IngestSettings
from formats.topics import HR, ORDERS
from ingest.httpbody import Refused, read_body, refusal
from ingest.producer import BrokerUnavailable, Producer, Record

SCHEMA_DIR = CONFIG_DIR / "schemas"
ENDPOINTS = {"/orders": (ORDERS, "order.schema.json"), "/hr": (HR, "hr_event.schema.json")}
MAX_BATCH = 10_000


@lru_cache(maxsize=None)
def validator(schema_file: str) -> Draft202012Validator:
    path = Path(SCHEMA_DIR / schema_file)
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def problems(schema_file: str, event: Any) -> list[str]:
    """Every reason `event` breaks the schema, as `field.path: message` (empty when it is valid)."""
    found = []
    for err in sorted(validator(schema_file).iter_errors(event), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(p) for p in err.absolute_path) or "(event)"
        found.append(f"{where}: {err.message}")
    return found


def _events(body: bytes) -> list[Any]:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, f"body is not JSON: {exc}") from None
    events = parsed if isinstance(parsed, list) else [parsed]
    if not events:
        raise Refused(400, "empty batch")
    if len(events) > MAX_BATCH:
        raise Refused(413, f"more than {MAX_BATCH} events in one request")
    return events


class Intake:
    def __init__(self, token: str, producer: Producer, max_bytes: int):
        self._token = token.encode()
        self.producer = producer
        self.max_bytes = max_bytes

    def _authorize(self, request: web.Request) -> None:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if not self._token:
            raise Refused(503, "intake disabled: set PAODAN_INTAKE_TOKEN on the ingest server")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), self._token):
            raise Refused(401, "missing or wrong bearer token")

    async def handle(self, request: web.Request) -> web.Response:
        topic, schema_file = ENDPOINTS[request.path]
        try:
            self._authorize(request)
            events = _events(await read_body(request, self.max_bytes))
            records, errors = [], []
            for index, event in enumerate(events):
                reasons = problems(schema_file, event)
                if reasons:
                    errors.append({"index": index, "errors": reasons})
                else:
                    records.append(Record(topic, event["employee_id"].encode(), orjson.dumps(event)))
            try:
                await self.producer.send_all(records)
            except BrokerUnavailable as exc:
                raise Refused(503, f"{exc}; nothing was accepted, send the request again") from None
        except Refused as exc:
            resp = refusal(request, exc)
            if exc.status == 401:
                resp.headers["WWW-Authenticate"] = 'Bearer realm="paodan-intake"'
            return resp
        status = 200 if not errors else (207 if records else 422)
        return web.json_response({"accepted": len(records), "rejected": len(errors), "errors": errors},
                                 status=status, dumps=lambda v: orjson.dumps(v).decode())


def add_routes(app: web.Application, settings: IngestSettings, producer: Producer) -> None:
    for _, schema_file in ENDPOINTS.values():
        validator(schema_file)  # a broken schema file fails the start-up, not the first request
    intake = Intake(settings.intake_token, producer, settings.max_intake_bytes)
    for path in ENDPOINTS:
        app.router.add_post(path, intake.handle)
