"""The gallery's one validation layer for what a request carries: library ids in paths (a bounded converter,
``{image_id:library_id}``), integers and id lists in query strings, text values, numbers and JSON bodies.
Anything out of range is a ``BadRequest`` (HTTP 400) that says what is wanted, before it reaches the
library: a 30-digit id once reached SQLite's binding and answered 500 with an OverflowError.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException

#: The largest id a path or a query names: 18 digits, inside every database's 64-bit integers.
MAX_ID = 10**18 - 1


class BadRequest(HTTPException):
    """A parameter or body the gallery cannot use: 400, with ``detail`` saying what it wants."""

    def __init__(self, detail: str):
        super().__init__(400, detail)


class LibraryId(Convertor[int]):
    """A library id in a path: 1 to 18 digits (a longer one matches no route: 404)."""

    regex = "[0-9]{1,18}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(int(value))


register_url_convertor("library_id", LibraryId())


def text_params(params: Mapping[str, str]) -> dict[str, str]:
    """The query parameters, each one line of text (no NUL and no other control character: no path, search
    or name holds one).

    Raises:
        BadRequest: a value with a control character.
    """
    for name, value in params.items():
        if any(ord(c) < 32 and c not in "\t" for c in value):
            raise BadRequest(f"{name}: control characters are not allowed in a value")
    return dict(params)


def int_param(params: Mapping[str, str], name: str, default: int, *, low: int = 0, high: int = MAX_ID) -> int:
    """An integer query parameter in ``low..high`` (ASCII digits only: ``٣`` and ``1_000`` are not ids).

    Raises:
        BadRequest: not an integer, or out of range.
    """
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip()
    if not re.fullmatch(r"-?[0-9]{1,19}", value) or not low <= int(value) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {raw[:40]!r}")
    return int(value)


def id_list(params: Mapping[str, str], name: str) -> list[int]:
    """A comma-separated list of library ids (``?ids=3,7``).

    Raises:
        BadRequest: any item that is not an id.
    """
    found = []
    for part in params.get(name, "").split(","):
        if part.strip():
            found.append(int_param({name: part}, name, 0, low=1))
    return found


def number(value: Any, name: str, low: float, high: float) -> float:
    """A finite JSON number in ``low..high`` (``true`` is not a number; nor is an integer too large for a
    float, NaN or Infinity).

    Raises:
        BadRequest: anything else.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"{name} must be a number from {low:g} to {high:g}")
    try:
        found = float(value)
    except OverflowError:
        found = math.inf
    if not (math.isfinite(found) and low <= found <= high):
        raise BadRequest(f"{name} must be a number from {low:g} to {high:g}, not {str(value)[:40]}")
    return found


def json_object(body: bytes) -> dict[str, Any]:
    """A request body that is one JSON object (an empty body is ``{}``).

    Raises:
        BadRequest: not JSON, not an object, or nested too deep to decode.
    """
    try:
        found = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        found = None
    if not isinstance(found, dict):
        raise BadRequest('send a JSON object: {"stars": 4}')
    return found
