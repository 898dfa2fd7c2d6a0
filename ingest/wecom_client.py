"""Build callback requests the way WeCom sends them — for tests, benchmarks and checking a deployment.

`event_xml()` renders an event's fields as WeCom's plaintext XML (CDATA strings, bare numbers),
`signed_post()` encrypts and signs it into the query and body of a `POST /wecom/callback`, and
`signed_get()` makes a URL-verification request. Only the receiver's side lives in ingest.callback.
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from xml.sax.saxutils import escape

from ingest.wecom_crypto import WecomCrypto


def _element(name: str, value: Any) -> str:
    if isinstance(value, dict):
        return f"<{name}>{''.join(_element(k, v) for k, v in value.items())}</{name}>"
    if isinstance(value, list):
        return "".join(_element(name, v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"<{name}>{value}</{name}>"
    text = str(value).replace("]]>", "]]]]><![CDATA[>")
    return f"<{name}><![CDATA[{text}]]></{name}>"


def event_xml(fields: dict[str, Any]) -> bytes:
    """WeCom's plaintext message XML for `fields` (nested dicts and lists render as nested elements)."""
    return ("<xml>" + "".join(_element(k, v) for k, v in fields.items()) + "</xml>").encode()


def contact_event(corpid: str, change_type: str, user_id: str, external_user_id: str,
                  create_time: int | None = None, **extra: Any) -> dict[str, Any]:
    """A 客户联系 change event's fields (WECOM.md §2)."""
    return {"ToUserName": corpid, "FromUserName": "sys",
            "CreateTime": int(time.time()) if create_time is None else create_time,
            "MsgType": "event", "Event": "change_external_contact", "ChangeType": change_type,
            "UserID": user_id, "ExternalUserID": external_user_id, **extra}


def signed_post(crypto: WecomCrypto, corpid: str, plaintext: bytes, timestamp: int | None = None,
                nonce: str | None = None, agent_id: str | None = "1000002") -> tuple[dict[str, str], bytes]:
    """(query, body) of an encrypted event POST, as WeCom would send it now (or at `timestamp`)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(8)
    encrypted = crypto.encrypt(plaintext)
    agent = f"<AgentID><![CDATA[{escape(agent_id)}]]></AgentID>" if agent_id is not None else ""
    body = (f"<xml><ToUserName><![CDATA[{escape(corpid)}]]></ToUserName>{agent}"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>").encode()
    query = {"msg_signature": crypto.signature(ts, nonce, encrypted), "timestamp": ts, "nonce": nonce}
    return query, body


def signed_get(crypto: WecomCrypto, echo: bytes, timestamp: int | None = None,
               nonce: str | None = None) -> dict[str, str]:
    """The query of a URL-verification GET whose decrypted echostr is `echo`."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(8)
    echostr = crypto.encrypt(echo)
    return {"msg_signature": crypto.signature(ts, nonce, echostr), "timestamp": ts, "nonce": nonce,
            "echostr": echostr}
