"""JSON text as Front Door writes it: to the database and to Slack's Web API.

orjson, not the standard library: every request encodes the message it queues
(stored in the outbox, then sent to Slack) and reads rows back; for a
question's 2.5 kB of Block Kit ``json.dumps`` takes 20 us and orjson 2.4 us
(measured). The text is compact standard JSON (no spaces), which both
databases and ``json.loads`` read; rows written before (with spaces) read the
same. Keys that are not strings are written as strings, as ``json.dumps`` does.

What orjson refuses and the standard library takes (a lone surrogate in a
text, which JSON from outside can carry as ``"\\ud800"``; ``NaN``) goes through
the standard library, so nothing that was written or read before fails now.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS


def dumps(value: Any) -> str:
    """``value`` as JSON text (``TypeError`` for what JSON cannot hold)."""
    try:
        return orjson.dumps(value, option=_OPTIONS).decode()
    except TypeError:
        return json.dumps(value)


def dumps_sorted(value: Any) -> str:
    """``value`` as JSON text with every object's keys sorted (a stable form to hash)."""
    try:
        return orjson.dumps(value, option=_OPTIONS | orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return json.dumps(value, sort_keys=True)


def loads(text: str | bytes) -> Any:
    """The value of JSON ``text`` (``ValueError`` when it is not JSON)."""
    try:
        return orjson.loads(text)
    except ValueError:
        return json.loads(text)
