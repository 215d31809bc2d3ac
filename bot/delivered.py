"""Where the platform put what was delivered: the one place that reads and writes it.

A card or consultation card is *placed* in a conversation when it is queued
(``place``), and a delivered card, consultation card or flow question is remembered
in ``message_ref`` (subject, purpose, platform, conversation, message id); any row's
delivery on the outbox row (``message_id``). ``place`` and ``remember`` write them,
``where_is`` and ``where_row_put`` read them, ``posted`` finds what a delivered row
said; nothing else touches them.
"""

from __future__ import annotations

from typing import Any

from bot import intents
from store import sql
from store.tx import Tx
from store.types import DEFAULT_PLATFORM, utcnow

# The intents whose delivery is their subject's message (redrawn, or answered in its
# thread, later).
_SUBJECT_MESSAGE = {
    intents.TRIAGE_CARD: "card",
    intents.CONSULTATION_CARD: "consultation",
    intents.FLOW_QUESTION: "flow",
}


_PURPOSE = {"card": "post", "consultation": "post", "flow": "question"}


def place(cx: sql.Cx, subject_type: str, subject_id: int, conversation: str, *,
          platform: str = DEFAULT_PLATFORM) -> None:
    """The conversation the subject's message is queued for (before it is delivered)."""
    if subject_type not in ("card", "consultation"):
        raise ValueError(f"a {subject_type} is not placed")
    sql.place(cx, subject_type, subject_id, "post", conversation, utcnow(), platform=platform)


def remember(tx: Tx, intent: str, subject_type: str | None, subject_id: int | None,
             conversation: str | None, message_id: str | None, *,
             platform: str = DEFAULT_PLATFORM) -> None:
    """After ``intent`` was delivered as ``message_id`` in ``conversation``: remember it
    where its subject's later messages look (a card's first post wins; a flow's question
    on screen is always the newest)."""
    if not message_id or not subject_id or _SUBJECT_MESSAGE.get(intent) != subject_type:
        return
    purpose = _PURPOSE[subject_type]
    sql.delivered(tx.cx, subject_type, subject_id, purpose, conversation or "", message_id,
                  utcnow(), platform=platform, replace=purpose == "question")


def where_is(cx: sql.Cx, subject_type: str, subject_id: int, *, platform: str = DEFAULT_PLATFORM
             ) -> tuple[str | None, str | None]:
    """(conversation, message id) of the subject's own message; None, None until known."""
    if subject_type not in _PURPOSE:
        raise ValueError(f"no message is remembered for a {subject_type}")
    at = sql.where(cx, subject_type, subject_id, _PURPOSE[subject_type], platform=platform)
    return (at.conversation or None, at.message_id) if at else (None, None)


def where_row_put(cx: sql.Cx, key: str) -> tuple[str | None, str | None]:
    """(status, message id) of the row queued under ``key`` (see ``sql.sent_ts``)."""
    return sql.sent_ts(cx, key)


def posted(cx: sql.Cx, conversation: str, message_id: str, intent: str
           ) -> dict[str, Any] | None:
    """The data of the ``intent`` row delivered as ``message_id`` in ``conversation``."""
    return sql.posted_payload(cx, conversation, message_id, intent)
