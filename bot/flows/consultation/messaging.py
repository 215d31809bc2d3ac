"""What the consultation domain queues: a new consultation's card for the duty
advisors, its redraws, the advice DM to the professional and that DM redrawn once
answered (``bot.intents``).

Called inside the transaction that changed the consultation (the actions' ``effects``),
so a message exists if and only if its cause was committed. Nothing here is drawn: each
platform's renderer draws the card from the rows as they are when it is sent.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session

from bot import delivered, intents
from bot.flows.consultation.models import AdviceResult
from bot.policy import Policy
from store.tx import Tx, as_tx
from store.types import DEFAULT_PLATFORM


class ConsultationMessaging:
    """Queues the consultations' messages."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def post_consultation(self, db: Session | Tx, consultation_id: int, platform: str) -> None:
        """Post a new consultation card to the consultation duty channel of ``platform``
        (the consultation's own)."""
        channel = self.policy.channel("consultation_duty", platform)
        delivered.place(as_tx(db).cx, "consultation", consultation_id, channel,
                        platform=platform)
        intents.queue(db, intents.CONSULTATION_CARD, key=f"consultation:{consultation_id}:post",
                      to=intents.conversation(channel), subject_type="consultation",
                      subject_id=consultation_id, platform=platform)

    def advice_result(self, s: Session, result: AdviceResult) -> None:
        """Redraw the consultation card; on advice, DM the professional."""
        c, prof = result.consultation, result.professional
        if c is None or prof is None:
            return
        stamp = f"{c.advised_at.isoformat() if c.advised_at else ''}:{c.followed_advice}"
        if result.action == "respond":
            # An answer can be changed, and changed back, within one tick of the clock:
            # each is its own redraw (queued once, in the transaction that recorded it).
            stamp += f":{uuid.uuid4().hex}"
        intents.queue(s, intents.CONSULTATION_CARD_UPDATE,
                      key=f"consultation:{c.id}:update:{result.action}:{stamp}",
                      to=intents.conversation(
                          delivered.where_is(as_tx(s).cx, "consultation", c.id or 0,
                                             platform=c.platform)[0] or ""),
                      subject_type="consultation", subject_id=c.id, platform=c.platform)
        if result.action == "advise":
            intents.queue(s, intents.ADVICE, key=advice_dm_key(c.id or 0),
                          to=intents.person(prof.user_id),
                          data={"consultation": intents.snapshot(c)},
                          subject_type="consultation", subject_id=c.id, platform=c.platform)
        elif result.action == "respond":
            # The advice DM is redrawn with the answer: its buttons go, so a later click
            # cannot overwrite the answer by accident.
            self.redraw_advice_dm(s, c.id or 0, prof.user_id, f"answered:{stamp}",
                                  platform=c.platform)

    def redraw_advice_dm(self, db: Session | Tx, consultation_id: int, user_id: str,
                         what: str, *, changing: bool = False,
                         platform: str = DEFAULT_PLATFORM) -> None:
        """Redraw the advice DM as the consultation is when sent (``changing``: with the
        buttons again, for a professional who asked to change their answer)."""
        intents.queue(db, intents.ADVICE_REDRAW, key=f"consultation:{consultation_id}:dm:{what}",
                      to=intents.person(user_id), data={"changing": True} if changing else {},
                      of_key=advice_dm_key(consultation_id), subject_type="consultation",
                      subject_id=consultation_id, platform=platform)


def advice_dm_key(consultation_id: int) -> str:
    """The outbox key of the advice DM (its later redraws find it by this key)."""
    return f"consultation:{consultation_id}:advice"
