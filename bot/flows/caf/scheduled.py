"""Reminder kinds for CAF episodes, run by the reminder sweep (``bot.reminders``). Their
rows are written by the actions of ``service.py`` (and a manager's QA, ``qa.py``, which
has its own ``caf_qa_due`` kind), in the transaction of the change that starts them.

Each function gets the open session, the services, the claimed reminder and
the sweep's ``now``, queues its messages in that transaction and returns True
when the nudge was sent, False when it no longer applies (the episode closed,
the meeting it was about was held or moved, a lead professional was found).

* ``tac_overdue``: the family planning / TAC meeting due by ``payload.due`` was
  not recorded: a DM with buttons to the lead professional and the co-ordinator,
  repeated every ``caf.tac_nudge_every`` (the next nudge is a reminder row queued
  with this one's messages); after ``caf.tac_nudge_escalate_after`` nudges the
  co-ordinator is asked to follow it up and the escalation channel is told.
* ``caf_reassess``: still open at the policy's ``reassess_after`` (12 months).
* ``caf_no_lead``: a step of the MASH-to-CAF guidance's route for finding a lead
  professional, posted to the escalation channel (and DMed to the co-ordinator).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlmodel import Session

from bot import intents
from bot.flows.caf.messaging import nudge_dms, post, recipients, say
from bot.flows.caf.service import KIND_NO_LEAD, KIND_REASSESS, KIND_TAC
from store.models import CafEpisode, Reminder

if TYPE_CHECKING:
    from bot.services import Services


def _open(s: Session, r: Reminder) -> CafEpisode | None:
    ep = s.get(CafEpisode, r.subject_id) if r.subject_type == "caf" else None
    return ep if ep is not None and ep.status == "open" else None


def tac_overdue(s: Session, sv: Services, r: Reminder, now: datetime) -> bool:
    """The meeting due by ``payload.due`` is overdue: DM the lead professional and
    co-ordinator (escalated after the policy's count), and queue the next nudge."""
    ep = _open(s, r)
    if ep is None:
        return False
    due = date.fromisoformat(str(r.payload.get("due", "")))
    if ep.next_meeting_due != due:
        return False  # held or rearranged since: that moved the reminder, this one is stale
    nudge = int(str(r.payload.get("nudge") or 1))
    today = now.astimezone(sv.policy.tz).date()
    data = {"due": due.isoformat(), "today": today.isoformat(), "nudge": nudge}
    escalating = nudge > sv.policy.caf.tac_nudge_escalate_after
    coordinator = ep.coordinator_user_id
    for user in recipients(ep):
        to_coordinator = escalating and user == coordinator
        say(s, ep, intents.CAF_TAC_OVERDUE, intents.person(user), f"{r.key}:act:{user}",
            **data, escalated="coordinator" if to_coordinator else "")
    if not recipients(ep) or nudge == sv.policy.caf.tac_nudge_escalate_after + 1:
        post(s, sv.policy.channel("escalation", ep.platform), ep, intents.CAF_TAC_OVERDUE,
             f"{r.key}:escalation", **data, escalated="channel" if escalating else "")
    sv.caf.schedule_tac_nudge(s, ep, due, nudge + 1, now)  # in this transaction: once, kept
    return True


def caf_reassess(s: Session, sv: Services, r: Reminder, now: datetime) -> bool:
    """Still open at the reassessment date: the lead professional reassesses with the TAF."""
    ep = _open(s, r)
    if ep is None:
        return False
    if not nudge_dms(s, ep, intents.CAF_REASSESS, r.key):
        post(s, sv.policy.channel("escalation", ep.platform), ep, intents.CAF_REASSESS,
             f"{r.key}:escalation")
    return True


def caf_no_lead(s: Session, sv: Services, r: Reminder, now: datetime) -> bool:
    """A step of the route for a CAF with no lead professional (MASH-to-CAF guidance)."""
    ep = _open(s, r)
    if ep is None or ep.lead_user_id:
        return False
    stage = str(r.payload.get("stage", "link_worker"))
    post(s, sv.policy.channel("escalation", ep.platform), ep, intents.CAF_NO_LEAD,
         f"{r.key}:escalation",
         stage=stage)
    if ep.coordinator_user_id:
        say(s, ep, intents.CAF_NO_LEAD, intents.person(ep.coordinator_user_id),
            f"{r.key}:act:{ep.coordinator_user_id}", stage=stage)
    return True


NudgeFn = Callable[[Session, "Services", Reminder, datetime], bool]

NUDGES: dict[str, NudgeFn] = {
    KIND_TAC: tac_overdue,
    KIND_REASSESS: caf_reassess,
    KIND_NO_LEAD: caf_no_lead,
}
