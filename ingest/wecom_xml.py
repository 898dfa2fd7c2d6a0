"""WeCom's callback XML, parsed safely: the POST envelope and the decrypted message.

Both are parsed with defusedxml with DTDs forbidden outright, so entity-expansion bombs ("billion
laughs"), external entities and DTD tricks are refused before any expansion happens. CDATA and bare
text are accepted alike in every element (WECOM.md §1).
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring


class XmlError(ValueError):
    """Unparseable or unsafe XML; str(exc) is a short reason."""


def parse(raw: bytes | str) -> Element:
    try:
        return fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise XmlError(f"unsafe XML refused ({type(exc).__name__})") from None
    except (ParseError, ValueError) as exc:
        raise XmlError(f"not well-formed XML ({exc})") from None


def envelope_encrypt(raw: bytes) -> str:
    """The <Encrypt> text of an event POST body `<xml><ToUserName/><AgentID/><Encrypt/></xml>`."""
    root = parse(raw)
    node = root.find("Encrypt")
    if node is None or not (node.text or "").strip():
        raise XmlError("no <Encrypt> element")
    return node.text.strip()


def _value(node: Element) -> Any:
    children = list(node)
    if not children:
        return node.text or ""
    out: dict[str, Any] = {}
    for child in children:
        value = _value(child)
        if child.tag in out:  # repeated elements (e.g. <Item>…</Item><Item>…</Item>) become a list
            prev = out[child.tag]
            out[child.tag] = prev + [value] if isinstance(prev, list) else [prev, value]
        else:
            out[child.tag] = value
    return out


def message(raw: bytes) -> dict[str, Any]:
    """The decrypted message as a JSON-ready dict, element names unchanged (CONTRACT.md §3).

    Leaf elements become strings, nested elements objects, repeated elements lists. `CreateTime`
    becomes an integer (epoch seconds) when it is one, so consumers can compare times directly.
    """
    value = _value(parse(raw))
    if not isinstance(value, dict):
        raise XmlError("message has no elements")
    created = value.get("CreateTime")
    if isinstance(created, str) and created.strip().isdigit():
        value["CreateTime"] = int(created)
    return value
