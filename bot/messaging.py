"""From state changes to outbox rows: the intents each change causes (``bot.intents``).

Called inside the transaction that changed the state (the flows' ``effects``
hook), so a message exists if and only if its cause was committed. Nothing here
is drawn: the platform's renderer draws each intent when it is sent, cards from
the rows as they are then (an update delayed by an outage shows the card as it
is, not as it was), the rest from the data queued with them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot import delivered, intents
from bot.flows.advice import AdviceResult
from bot.flows.api import Status, Step
from bot.flows.triage.messaging import TriageMessaging
from bot.policy import Policy
from store import sql
from store.models import (
    Referral,
)
from store.tx import Tx, as_tx
from store.types import DEFAULT_PLATFORM

_FLOW_STATUS = {
    Status.REDIRECTED: (intents.FLOW_REDIRECTED, "redirected"),
    Status.CANCELLED: (intents.FLOW_CANCELLED, "cancelled"),
    Status.EXPIRED: (intents.FLOW_EXPIRED, "expired"),
}


class Messaging:
    """Queues the bot's messages and prepares them for sending."""

    def __init__(self, policy: Policy, triage: TriageMessaging) -> None:
        self.policy = policy
        self.triage = triage

    # --- queueing (inside the caller's transaction) ----------------------

    def dm(self, db: Session | Tx, user_id: str, message: dict[str, Any], key: str, *,
           claim: bool = False, platform: str = DEFAULT_PLATFORM) -> None:
        """Plain words (``{"text": ...}``) to a person. Anything richer is an intent."""
        if set(message) - {"text"}:
            raise ValueError("a direct message is plain words; queue an intent for more")
        intents.queue(db, intents.NOTICE, key=key, to=intents.person(user_id),
                      data=dict(message), claim=claim, platform=platform)

    def ask_again(self, tx: Tx, user_id: str, step: Step, key: str) -> None:
        """The flow's current question, posted again (a second click, a flow already
        running): the same intent as the first time, so it is redrawn once answered."""
        if step.status == Status.ASKING and step.prompt is not None:
            intents.queue(tx, intents.FLOW_QUESTION, key=key, to=intents.person(user_id),
                          claim=True, subject_type="flow", subject_id=step.flow_id,
                          platform=step.platform,
                          data={"step": intents.step_data(step, about=step.prompt.id)})

    def flow_step(self, tx: Tx, user_id: str, step: Step, now: datetime) -> None:
        """Queue what a flow step shows: the next question, the outcome, the urgent advice.

        The professional's DM is queued for this process to send at once (``claim``): it
        is what they are waiting for. Everything here needs only the fast statements.
        """
        base = f"flow:{step.flow_id}:v{step.version}"
        # Read before this step's question is queued: the message of the question before.
        asked = self._question_message(tx, user_id, step.flow_id, step.platform)
        to = intents.person(user_id)
        platform = step.platform

        def say(intent: str, what: str, about: str | None = None, **data: Any) -> None:
            intents.queue(tx, intent, key=f"{base}:{what}", to=to, claim=True,
                          data={"step": intents.step_data(step, about=about), **data},
                          subject_type="flow", subject_id=step.flow_id, platform=platform)

        if step.status == Status.ASKING and step.prompt is not None:
            say(intents.FLOW_QUESTION, f"q:{step.prompt.id}", about=step.prompt.id)
        elif step.status == Status.COMPLETED:
            referral = (sql.load(tx.cx, Referral, step.referral_id) if step.referral_id
                        else None)
            say(intents.FLOW_COMPLETED, "done", referral=intents.snapshot(referral))
            if step.consultation_id:
                self.post_consultation(tx, step.consultation_id, platform)
            if step.card_id:
                self.triage.new_card(tx, step.card_id)
        elif step.status == Status.URGENT:
            say(intents.FLOW_URGENT, "urgent", at=now.isoformat())
            if step.card_id:
                self.triage.new_card(tx, step.card_id)
        elif step.status in _FLOW_STATUS:
            say(*_FLOW_STATUS[step.status])
        if asked is not None:
            # The question before loses its buttons and shows the answer given. Queued after
            # what the professional waits for, which goes first.
            ts, original = asked
            qid = _moved_on(original, step)
            if qid is not None:
                intents.queue(tx, intents.FLOW_QUESTION_CLOSED, key=f"{base}:closed:{ts}",
                              to=to, data={"question": original, "message": ts,
                                           "step": intents.step_data(step, about=qid)},
                              subject_type="flow", subject_id=step.flow_id,
                              platform=platform)

    @staticmethod
    def _question_message(tx: Tx, user_id: str, flow_id: int | None, platform: str
                          ) -> tuple[str, Any] | None:
        """(message id, step asked) of the flow's question message now on screen, if known."""
        if not flow_id:
            return None
        _, ts = delivered.where_is(tx.cx, "flow", flow_id, platform=platform)
        if not ts:
            return None
        original = delivered.posted(tx.cx, user_id, ts, intents.FLOW_QUESTION)
        return (ts, original["step"]) if original and "step" in original else None

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


def _moved_on(asked: Any, step: Step) -> str | None:
    """The id of the question ``asked`` (a step's data) when it is no longer the one
    waiting; None while it is (or it is no question of this flow)."""
    a = intents.step_from(asked)
    if a.flow_id != step.flow_id or a.prompt is None:
        return None
    if step.status == Status.ASKING and step.prompt is not None and step.prompt.id == a.prompt.id:
        return None
    return a.prompt.id
