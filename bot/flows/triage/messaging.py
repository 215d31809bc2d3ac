"""What the triage domain queues: a new card (and the EDT's alert out of hours), its
redraws, notes in its thread, and the referrer's messages after a decision.

Called inside the transaction that changed the card (the actions' ``effects``), so a
message exists if and only if its cause was committed. Nothing here is drawn: each
platform's renderer draws a card from the rows as they are when it is sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot import delivered, intents
from bot.flows.triage.models import CardResult
from bot.policy import Policy
from store import sql
from store.models import TriageCard
from store.tx import Tx, as_tx


class TriageMessaging:
    """Queues the triage cards' messages."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def new_card(self, db: Session | Tx, card_id: int) -> None:
        """Post a new triage card (and to the EDT out of hours); its clocks were started
        by the domain when it was written."""
        cx = as_tx(db).cx
        card = sql.load(cx, TriageCard, card_id)
        if card is None:
            raise LookupError(f"card {card_id} not found")
        rating = self.policy.rating(card.suggested_rating)
        channel = self.policy.channel(rating.card_channel, card.platform)
        delivered.place(cx, "card", card_id, channel, platform=card.platform)
        intents.queue(db, intents.TRIAGE_CARD, key=f"card:{card_id}:post",
                      to=intents.conversation(channel), subject_type="card", subject_id=card_id,
                      platform=card.platform)
        self.edt_alert(db, card, card.received_at)

    def edt_alert(self, db: Session | Tx, card: TriageCard, at: datetime) -> None:
        """Out of office hours at ``at``, a card whose rating goes to the EDT (Red and
        significant harm) is posted to the EDT channel now; otherwise nothing."""
        key = card.rating or card.suggested_rating
        rating = self.policy.rating(key)
        if not rating.edt_out_of_hours or self.policy.calendar.is_open(at):
            return
        intents.queue(
            db, intents.EDT_ALERT, key=f"card:{card.id}:edt:{key}",
            to=intents.conversation(self.policy.channel("edt", card.platform)),
            data={"reference": card.reference, "rating": key,
                  "card": intents.conversation(card_channel(db, card))},
            subject_type="card", subject_id=card.id, platform=card.platform,
        )

    def update_card(self, s: Session, card: TriageCard) -> None:
        """Redraw a card (after any change); nothing for a card never queued for posting."""
        channel = card_channel(s, card)
        if not channel:
            return
        intents.queue(s, intents.TRIAGE_CARD_UPDATE, key=f"card:{card.id}:update:v{card.version}",
                      to=intents.conversation(channel), subject_type="card", subject_id=card.id,
                      platform=card.platform)

    def card_thread(self, s: Session, card: TriageCard, text: str, key: str, *,
                    notify_managers: bool = False, by: str = "") -> None:
        """A note in the card's thread (requests, replies, warnings); ``text`` is words (the
        renderer escapes them), after a mention of ``by`` (who did it) when given."""
        managers = self.policy.people(card.platform).roles.managers
        data: dict[str, Any] = {"text": text}
        if notify_managers:
            data["notify"] = [intents.person(u) for u in managers.users]
            data["groups"] = [intents.group(g) for g in managers.usergroups]
        if by:
            data["by"] = intents.person(by)
        intents.queue(s, intents.CARD_NOTE, key=key,
                      to=intents.conversation(card_channel(s, card)), data=data,
                      subject_type="card", subject_id=card.id, platform=card.platform)

    def card_result(self, s: Session, result: CardResult) -> None:
        """Queue what a triage action shows: the redrawn card, the referrer's DM, notes."""
        card, referral = result.card, result.referral
        if card is None or referral is None:
            return
        self.update_card(s, card)
        key = f"card:{card.id}:v{card.version}"
        to = intents.person(card.referrer_user_id)
        about = {"subject_type": "card", "subject_id": card.id, "platform": card.platform}
        if result.action in ("approve", "change", "close"):
            what = "closed" if result.action == "close" else "outcome"
            intents.queue(s, intents.REFERRER_OUTCOME, key=f"{key}:{what}", to=to,
                          data={"card": intents.snapshot(card),
                                "referral": intents.snapshot(referral)}, **about)
            if result.action != "close":
                self.edt_alert(s, card, card.decided_at or card.received_at)
        elif result.action == "request_info":
            intents.queue(s, intents.REFERRER_INFO_REQUEST, key=f"{key}:info", to=to,
                          data={"card": intents.snapshot(card), "question": result.note},
                          **about)
            self.card_thread(s, card, f"More information requested:\n{result.note}", f"{key}:ask")
        elif result.action == "info_reply":
            self.card_thread(s, card, f"The referrer answered:\n{result.note}", f"{key}:reply")
        elif result.action in ("snooze", "written_received"):
            self.card_thread(s, card, result.note, f"{key}:snooze", by=result.by)


def card_channel(db: Session | Tx, card: TriageCard) -> str:
    """The conversation a card was placed in ("" before it was queued for posting)."""
    return delivered.where_is(as_tx(db).cx, "card", card.id or 0, platform=card.platform)[0] or ""
