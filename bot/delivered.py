"""Where the platform put what was delivered: the one place that reads and writes it.

A card or consultation card is *placed* in a conversation when it is queued
(``place``), and a delivered card, consultation card or flow question is remembered
on its domain row (``card.channel``/``ts``, ``consultation.card_channel``/
``card_ts``, ``flow_session.channel``/``message_ts``), any row's delivery on the
outbox row (``result_ts``). ``place`` and ``remember`` write them, ``where_is`` and
``where_row_put`` read them, ``posted`` finds what a delivered row said; nothing
else touches those columns (a message-reference table replaces them here alone).
"""

from __future__ import annotations

from typing import Any

from bot import intents
from store import sql
from store.models import Consultation, FlowSession, TriageCard
from store.tx import Tx

# The intents whose delivery is their subject's message (redrawn, or answered in its
# thread, later).
_SUBJECT_MESSAGE = {
    intents.TRIAGE_CARD: "card",
    intents.CONSULTATION_CARD: "consultation",
    intents.FLOW_QUESTION: "flow",
}


def place(cx: sql.Cx, subject_type: str, subject_id: int, conversation: str) -> None:
    """The conversation the subject's message is queued for (before it is delivered)."""
    if subject_type == "card":
        sql.update(cx, TriageCard, subject_id, channel=conversation)
    elif subject_type == "consultation":
        sql.update(cx, Consultation, subject_id, card_channel=conversation)
    else:
        raise ValueError(f"a {subject_type} is not placed")


def remember(tx: Tx, intent: str, subject_type: str | None, subject_id: int | None,
             conversation: str | None, message_id: str | None) -> None:
    """After ``intent`` was delivered as ``message_id`` in ``conversation``: remember it
    where its subject's later messages look (a card's first post wins)."""
    if not message_id or not subject_id or _SUBJECT_MESSAGE.get(intent) != subject_type:
        return
    if subject_type == "card":
        card = sql.load(tx.cx, TriageCard, subject_id)
        if card is not None and not card.ts:
            sql.update(tx.cx, TriageCard, subject_id, ts=message_id,
                       channel=conversation or card.channel)
    elif subject_type == "flow":
        # The question now on screen: the next step redraws it with the answer.
        sql.update(tx.cx, FlowSession, subject_id, message_ts=message_id,
                   channel=conversation or "")
    elif subject_type == "consultation":
        c = sql.load(tx.cx, Consultation, subject_id)
        if c is not None and not c.card_ts:
            sql.update(tx.cx, Consultation, subject_id, card_ts=message_id,
                       card_channel=conversation or c.card_channel)


def where_is(cx: sql.Cx, subject_type: str, subject_id: int) -> tuple[str | None, str | None]:
    """(conversation, message id) of the subject's own message; None, None until known."""
    if subject_type == "card":
        card = sql.load(cx, TriageCard, subject_id)
        return (card.channel, card.ts or None) if card else (None, None)
    if subject_type == "consultation":
        c = sql.load(cx, Consultation, subject_id)
        return (c.card_channel, c.card_ts or None) if c else (None, None)
    if subject_type == "flow":
        fs = sql.load(cx, FlowSession, subject_id)
        return (fs.channel or None, fs.message_ts or None) if fs else (None, None)
    raise ValueError(f"no message is remembered for a {subject_type}")


def where_row_put(cx: sql.Cx, key: str) -> tuple[str | None, str | None]:
    """(status, message id) of the row queued under ``key`` (see ``sql.sent_ts``)."""
    return sql.sent_ts(cx, key)


def posted(cx: sql.Cx, conversation: str, message_id: str, intent: str
           ) -> dict[str, Any] | None:
    """The data of the ``intent`` row delivered as ``message_id`` in ``conversation``."""
    return sql.posted_payload(cx, conversation, message_id, intent)
