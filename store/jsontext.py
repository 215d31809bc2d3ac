"""JSON text as Front Door writes it: to the database and to the platforms' APIs.

orjson, not the standard library: every request encodes the message it queues
(stored in the outbox, then sent to a platform) and reads rows back; for a
question's 2.5 kB of Block Kit ``json.dumps`` takes 20 us and orjson 2.4 us
(measured). The text is compact standard JSON (no spaces), which both
databases and ``json.loads`` read; rows written before (with spaces) read the
same. Keys that are not strings are written as strings, as ``json.dumps`` does.

What orjson refuses and the standard library takes (a lone surrogate in a
text, which JSON from outside can carry as ``"\\ud800"``; ``NaN``) goes through
the standard library, so nothing that was written or read before fails now.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    """``value`` as JSON text (``TypeError`` for what JSON cannot hold)."""
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:
        return json.dumps(value, default=_plain)


def dumps_sorted(value: Any) -> str:
    """``value`` as JSON text with every object's keys sorted (a stable form to hash)."""
    try:
        return orjson.dumps(value, option=_OPTIONS | orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return json.dumps(value, sort_keys=True, default=_plain)


def _plain(value: Any) -> Any:
    """What orjson writes for a dataclass (an intent's data may hold one), for the
    standard library's fallback; anything else it cannot hold is still a ``TypeError``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def loads(text: str | bytes) -> Any:
    """The value of JSON ``text`` (``ValueError`` when it is not JSON)."""
    try:
        return orjson.loads(text)
    except ValueError:
        return json.loads(text)
