"""Open311 GeoReport v2 bodies as JSON or XML, and its errors.

The spec names the format by the path's extension (``services.json``,
``requests/C00000012.xml``). JSON is a list (or, for a service definition, an object);
XML wraps the same fields in the spec's elements: ``<services><service>``,
``<service_requests><request>``, ``<service_definition>``, ``<errors><error>``; lists
inside an item repeat the singular (``<attributes><attribute>``, ``<values><value>``).
A None is an empty element, booleans are ``true``/``false``.

Errors are ``[{"code": 400, "description": "..."}]`` (XML ``<errors><error><code>``...):
`Open311Error` carries them from wherever a request is found wanting. Descriptions are
English: GeoReport clients are programs.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

import pydantic_core
from fastapi.responses import Response


class Format(StrEnum):
    JSON = "json"
    XML = "xml"


#: a list element -> the element of each of its items
_ITEMS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
}
#: characters XML 1.0 cannot carry (control characters but tab, newline, return)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class Open311Error(Exception):
    """A refusal: the HTTP status and the (code, description) pairs of the error body."""

    def __init__(self, status: int, *descriptions: str, code: int | None = None) -> None:
        super().__init__("; ".join(descriptions))
        self.status = status
        self.errors = [(code or status, d) for d in descriptions]


def parse_format(extension: str) -> Format:
    """The format the path's extension names; 404 (as the spec's routes do not exist
    with other extensions) for any other."""
    try:
        return Format(extension.lower())
    except ValueError:
        raise Open311Error(404, f"no format {extension[:20]!r}: use .json or .xml") from None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return _NOT_XML.sub("", str(value))


def _element(name: str, value: Any) -> ET.Element:
    element = ET.Element(name)
    if isinstance(value, dict):
        element.extend(_element(key, item) for key, item in value.items())
    elif isinstance(value, list | tuple):
        child = _ITEMS.get(name, "item")
        element.extend(_element(child, item) for item in value)
    else:
        element.text = _text(value)
    return element


def to_xml(root: str, body: Any) -> bytes:
    return ET.tostring(_element(root, body), encoding="utf-8", xml_declaration=True)


def render(fmt: Format, root: str, body: Any, status: int = 200) -> Response:
    """``body`` (a list of items, or one object) as JSON, or as XML under ``root``."""
    if fmt is Format.XML:
        return Response(to_xml(root, body), status, media_type="text/xml; charset=utf-8")
    return Response(_json(body), status, media_type="application/json")


def error_response(fmt: Format, error: Open311Error) -> Response:
    body = [{"code": code, "description": text} for code, text in error.errors]
    return render(fmt, "errors", body, error.status)


def _json(body: Any) -> bytes:
    return pydantic_core.to_json(body)


def require_none(problems: Sequence[str], status: int = 400) -> None:
    """Raise the problems found (all of them, one error each), if any."""
    if problems:
        raise Open311Error(status, *problems)
