"""Response media types: which documented one to serve, and a body's bytes in it.

- The media type follows the request's ``Accept`` (by q-value, ranges included) among those the
  response documents, else the first JSON one, else the first.
- A documented range (``*/*``, ``image/*``) is served as a concrete type inside it.
- Bodies: JSON for JSON types; XML for ``application/xml``, ``text/xml`` and ``+xml``, shaped by
  the schema's ``xml`` object (``name``, ``attribute``, ``wrapped``, ``prefix``/``namespace``);
  text for ``text/*``; bytes for everything else (binary).

Hand-written XML because the standard library's ElementTree builds and escapes the document,
and the mapping from a JSON value through OpenAPI's ``xml`` object is what no library does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from xml.etree import ElementTree as ET

__all__ = ["choose_media", "concrete", "encode_body", "is_xml_media"]

Resolve = Callable[[Any], Any]  # a schema, maybe a $ref, to the schema it names
_CONCRETE = {"*/*": "application/json", "*": "application/json", "text/*": "text/plain"}


def _base(media_type: str) -> str:
    return media_type.split(";", 1)[0].strip().lower()


def is_xml_media(media_type: str) -> bool:
    """``application/xml``, ``text/xml``, ``application/atom+xml`` …"""
    base = _base(media_type)
    return base.endswith(("/xml", "+xml"))


def concrete(media_type: str) -> str:
    """A media type to put in ``Content-Type`` for a documented one, which may be a range."""
    base = _base(media_type)
    if base in _CONCRETE:
        return _CONCRETE[base]
    kind, _, sub = base.partition("/")
    if sub == "*":
        return {"image": "image/png", "audio": "audio/mpeg", "video": "video/mp4"}.get(
            kind, f"{kind}/octet-stream"
        )
    return media_type


def _accepted(accept: str) -> list[str]:
    """The ranges of an ``Accept`` header, best first (q=0 left out)."""
    ranked = []
    for position, part in enumerate(accept.split(",")):
        fields = [f.strip() for f in part.split(";")]
        q = 1.0
        for field in fields[1:]:
            if field.startswith("q="):
                try:
                    q = float(field[2:])
                except ValueError:
                    q = 0.0
        if fields[0] and q > 0:
            ranked.append((-q, position, fields[0].lower()))
    return [name for _, _, name in sorted(ranked)]


def choose_media(documented: list[str], accept: str | None) -> str | None:
    """The documented media type the ``Accept`` header prefers; None when it names none."""
    if not accept:
        return None
    for wanted in _accepted(accept):
        if wanted == "*/*":
            return None  # anything goes: the default choice (JSON first)
        kind, _, sub = wanted.partition("/")
        for media in documented:
            have = _base(media)
            if wanted == have or (sub == "*" and have.startswith(kind + "/")):
                return media
    return None


def encode_body(value: Any, media_type: str, schema: Any, resolve: Resolve) -> bytes:
    """``value`` as the bytes of ``media_type`` (for non-JSON types; see the module doc)."""
    if is_xml_media(media_type):
        return _xml(value, schema, resolve)
    if isinstance(value, bytes):
        return value
    text = value if isinstance(value, str) else json.dumps(value)
    return text.encode()


def _xml_info(schema: Any) -> Mapping[str, Any]:
    info = schema.get("xml") if isinstance(schema, dict) else None
    return info if isinstance(info, dict) else {}


# Characters XML 1.0 cannot carry at all, not even as references (its `Char` production).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NAME = re.compile(r"[A-Za-z_][\w.-]*")


def _tag(info: Mapping[str, Any], default: str) -> str:
    name = str(info.get("name") or default)
    if not _NAME.fullmatch(name):
        # A JSON key need not be an XML name ("0a", "a b"): keep it recognisable, but legal.
        name = "_" + re.sub(r"[^\w.-]", "_", name)
    prefix = info.get("prefix")
    return f"{prefix}:{name}" if prefix else name


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else _NOT_XML.sub("\ufffd", str(value))


def _xml(value: Any, schema: Any, resolve: Resolve) -> bytes:
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    default = ref.rsplit("/", 1)[-1] if isinstance(ref, str) else "root"
    resolved = resolve(schema)
    info = _xml_info(resolved)
    root = ET.Element(_tag(info, default))
    if info.get("namespace"):
        attr = f"xmlns:{info['prefix']}" if info.get("prefix") else "xmlns"
        root.set(attr, str(info["namespace"]))
    if isinstance(value, list):
        items = resolved.get("items", {}) if isinstance(resolved, dict) else {}
        item_name = _xml_info(resolve(items)).get("name") or _xml_info(items).get("name")
        for item in value:
            _fill(ET.SubElement(root, str(item_name or "item")), item, items, resolve)
    else:
        _fill(root, value, schema, resolve)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def _fill(element: ET.Element, value: Any, schema: Any, resolve: Resolve) -> None:
    resolved = resolve(schema)
    if isinstance(value, dict):
        props = resolved.get("properties", {}) if isinstance(resolved, dict) else {}
        for name, item in value.items():
            sub = props.get(name, {})
            info = _xml_info(resolve(sub)) or _xml_info(sub)
            if info.get("attribute") and not isinstance(item, dict | list):
                element.set(_tag(info, name), _scalar(item))
            elif isinstance(item, list):
                _array(element, name, item, sub, resolve)
            else:
                _fill(ET.SubElement(element, _tag(info, name)), item, sub, resolve)
    elif isinstance(value, list):
        _array(element, "item", value, schema, resolve)
    else:
        element.text = _scalar(value)


def _array(parent: ET.Element, name: str, values: list[Any], schema: Any, resolve: Resolve) -> None:
    resolved = resolve(schema)
    info = _xml_info(resolved) or _xml_info(schema)
    items = resolved.get("items", {}) if isinstance(resolved, dict) else {}
    item_info = _xml_info(resolve(items)) or _xml_info(items)
    # OpenAPI's rules: the array's `xml.name` names only the wrapper (when `wrapped`); items
    # repeat under their own `xml.name`, else the property's name.
    holder = ET.SubElement(parent, _tag(info, name)) if info.get("wrapped") else parent
    item_tag = _tag(item_info, name)
    for value in values:
        _fill(ET.SubElement(holder, item_tag), value, items, resolve)
