"""What the guided flows schedule: nothing but their own expiry.

A flow untouched for the policy's ``flow_timeout`` is expired by the reminder sweep
(``bot.reminders``) calling :func:`expire_idle_flows` (``FlowService.expire`` does the
work, one transaction per flow); no reminder rows are written for it. A finished or
expired flow's row is purged later by ``bot/retention.py``. The clocks of the card a
``/refer`` flow writes are triage's (``bot.flows.triage.scheduled``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.flows.guided.models import Step
from store.models import FlowSession
from store.tx import Tx

if TYPE_CHECKING:
    from bot.services import Services


def expire_idle_flows(sv: Services, now: datetime) -> int:
    """Expire the flows idle at ``now``, telling each professional; returns how many."""

    def expired(tx: Tx, step: Step) -> None:
        # In the expiry's own transaction, so the message exists iff the flow expired.
        flow = tx.session.get(FlowSession, step.flow_id)
        if flow is not None:
            sv.guided_messaging.flow_step(tx, flow.user_id, step, now)

    return len(sv.flows.expire(now, effects=expired))
