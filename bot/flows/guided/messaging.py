"""What the guided flows queue: the next question, the outcome, the urgent advice, and
the question before redrawn with the answer given (``bot.intents``).

Called inside the transaction of the flow's step (its ``effects``), so a message exists
if and only if the step was committed. A finished flow's card and consultation are
posted by their own domains' messaging.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot import delivered, intents
from bot.flows.consultation.messaging import ConsultationMessaging
from bot.flows.guided.models import Status, Step
from bot.flows.triage.messaging import TriageMessaging
from store import sql
from store.models import Referral
from store.tx import Tx

_FLOW_STATUS = {
    Status.REDIRECTED: (intents.FLOW_REDIRECTED, "redirected"),
    Status.CANCELLED: (intents.FLOW_CANCELLED, "cancelled"),
    Status.EXPIRED: (intents.FLOW_EXPIRED, "expired"),
}


class GuidedMessaging:
    """Queues the guided flows' messages."""

    def __init__(self, triage: TriageMessaging, consultation: ConsultationMessaging) -> None:
        self.triage = triage
        self.consultation = consultation

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
                self.consultation.post_consultation(tx, step.consultation_id, platform)
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


def _moved_on(asked: Any, step: Step) -> str | None:
    """The id of the question ``asked`` (a step's data) when it is no longer the one
    waiting; None while it is (or it is no question of this flow)."""
    a = intents.step_from(asked)
    if a.flow_id != step.flow_id or a.prompt is None:
        return None
    if step.status == Status.ASKING and step.prompt is not None and step.prompt.id == a.prompt.id:
        return None
    return a.prompt.id
