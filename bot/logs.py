"""The log: human-readable by default, one JSON object a line with ``FRONTDOOR_LOG_FORMAT=json``.

Each request a chat platform sends gets an id (``request_id``), carried in a context
variable to everything that request runs, the work after its ack included (asyncio
copies the context into the tasks it starts); a line about a card carries the card's
reference (``card``). The JSON lines hold the message the code wrote and nothing
of the record's arguments beyond it; an exception is given by its type and where
it was raised, never its message, which may quote what someone typed.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import os
import traceback
import uuid
from datetime import UTC, datetime

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
card_ref: contextvars.ContextVar[str] = contextvars.ContextVar("card_ref", default="")

HUMAN = "%(asctime)s %(levelname)s %(name)s %(message)s"


def new_request_id(key: str | None = None) -> str:
    """An id for a request: a digest of ``key``, what its platform sends once per delivery
    (the platform's endpoint picks it, so that a retry, sent anew, gets a new id), or
    random when there is none."""
    if key:
        return hashlib.sha256(key.encode()).hexdigest()[:16]
    return uuid.uuid4().hex[:16]


def start_request(key: str | None = None) -> str:
    """Give the current task (and the tasks it starts) a new request id (from ``key``,
    see ``new_request_id``); returns it."""
    rid = new_request_id(key)
    request_id.set(rid)
    card_ref.set("")
    return rid


def about_card(reference: str) -> None:
    """Say which card the current work is about (its reference, e.g. ``FD-2026-0042``)."""
    card_ref.set(reference)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (ISO 8601, UTC), level, logger, message, request id,
    card reference, and an exception's type and frames (never its text)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid, card = request_id.get(), card_ref.get()
        if rid:
            line["request_id"] = rid
        if card:
            line["card"] = card
        if record.exc_info and record.exc_info[0] is not None:
            tb = traceback.extract_tb(record.exc_info[2])
            line["exception"] = record.exc_info[0].__name__
            line["frames"] = [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} {f.name}" for f in tb]
        return json.dumps(line, ensure_ascii=False)


def configure(fmt: str | None = None, level: int | None = None) -> None:
    """Set up the root logger: ``fmt`` (default ``FRONTDOOR_LOG_FORMAT``) is ``json`` or
    ``text``; anything else is refused with a clear message. ``level`` defaults to
    ``FRONTDOOR_LOG_LEVEL`` (``info``, or ``debug``, ``warning``, ``error``)."""
    from bot.config import load_env_file

    load_env_file()  # the format may be set in .env, read before the settings are
    fmt = (fmt if fmt is not None else os.environ.get("FRONTDOOR_LOG_FORMAT", "")).lower()
    if fmt not in ("", "text", "json"):
        raise SystemExit(f"FRONTDOOR_LOG_FORMAT must be text or json, not {fmt!r}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(HUMAN))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    if level is None:
        name = os.environ.get("FRONTDOOR_LOG_LEVEL", "info").strip().upper() or "INFO"
        if name not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SystemExit(f"FRONTDOOR_LOG_LEVEL must be debug, info, warning or error, "
                             f"not {name.lower()!r}")
        level = getattr(logging, name)
    root.setLevel(level)
    # Alembic's INFO lines (plugins set up, each revision run) buried the sandbox's address
    # and say nothing an operator acts on: shown only when debugging.
    logging.getLogger("alembic").setLevel(logging.DEBUG if level <= logging.DEBUG
                                          else max(level, logging.WARNING))
