"""The reminder sweep: due reminder rows are claimed, turned into outbox rows, and done.

Claiming uses ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL and a
``BEGIN IMMEDIATE`` transaction on SQLite, so any number of ``serve`` and
``worker`` processes can sweep without double-sending. The query reads the
``(status, due_at)`` index, so a sweep costs what is due, not what is open.
Processing a reminder and queueing its messages is one transaction: a crash
before commit leaves the reminder to be claimed again when its lease ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from bot import intents, logs, replay
from bot.flows.api import Step
from bot.flows.clocks import clock_label
from bot.messaging import card_channel
from bot.policy import Policy
from bot.services import Services
from store import claims, sql
from store.db import session_scope
from store.models import FlowSession, Referral, Reminder, TriageCard
from store.tx import Tx
from store.types import utcnow

log = logging.getLogger("frontdoor.reminders")
LEASE = timedelta(minutes=5)


@dataclass
class SweepStats:
    """What one sweep did."""

    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    expired_flows: int = 0


class ReminderSweep:
    """One sweep over due reminders (and expired flows) as of a given time."""

    def __init__(self, sv: Services, *, worker_id: str | None = None, batch: int = 500) -> None:
        self.sv = sv
        self.worker_id = worker_id or claims.worker_id(self)
        self.batch = batch

    def run(self, now: datetime) -> SweepStats:
        """Process everything due at ``now``; returns counts."""
        stats = SweepStats()
        with session_scope(self.sv.engine, write=True) as s:
            for ensure in recurring_jobs():
                ensure(s, self.sv.policy, now)
            # Replay keys are about Slack's signature window, which runs on real time
            # whatever time this sweep is run as of.
            replay.purge(sql.Cx.of(s), utcnow())
        while True:
            ids = self.claim(now)
            if not ids:
                break
            stats.claimed += len(ids)
            for rid in ids:
                if self.process(rid, now):
                    stats.sent += 1
                else:
                    stats.skipped += 1
        def expired(tx: Tx, step: Step) -> None:
            # In the expiry's own transaction, so the message exists iff the flow expired.
            flow = tx.session.get(FlowSession, step.flow_id)
            if flow is not None:
                self.sv.messaging.flow_step(tx, flow.user_id, step, now)

        stats.expired_flows += len(self.sv.flows.expire(now, effects=expired))
        return stats

    def claim(self, now: datetime) -> list[int]:
        """Claim up to ``batch`` due reminders for this worker; returns their ids."""
        ids, _ = self.sv.tx.run_full(lambda tx: claims.claim_reminders(
            tx.cx, now, self.worker_id, now + LEASE, self.batch))
        return ids

    def process(self, reminder_id: int, now: datetime) -> bool:
        """Turn one claimed reminder into its messages; False when it no longer applies."""
        token = logs.card_ref.set("")  # the log names the card this reminder is about
        try:
            return self._process(reminder_id, now)
        finally:
            logs.card_ref.reset(token)

    def _process(self, reminder_id: int, now: datetime) -> bool:
        with session_scope(self.sv.engine, write=True) as s:
            r = s.get(Reminder, reminder_id)
            if r is None or r.status != "claimed" or r.claimed_by != self.worker_id:
                return False  # another worker took it over after our lease ended
            sent = self._nudge(s, r, now)
            r.status = "done" if sent else "cancelled"
            r.sent_count += 1 if sent else 0
            r.done_at, r.claimed_until = now, None
            s.add(r)
        if sent:
            self.sv.sender.kick()
        return sent

    def _nudge(self, s: Session, r: Reminder, now: datetime) -> bool:
        if r.kind in ("sla_warning", "sla_breach") and r.subject_type == "card":
            return self._sla(s, r, now)
        handler = nudge_handlers().get(r.kind)
        if handler is None:
            log.warning("reminder %s has unknown kind %s", r.id, r.kind)
            return False
        return handler(s, self.sv, r, now)

    def _sla(self, s: Session, r: Reminder, now: datetime) -> bool:
        card = s.get(TriageCard, r.subject_id)
        if card is None or card.status == "closed":
            return False  # closed items are never nudged
        logs.about_card(card.reference)
        clock = str(r.payload.get("clock", ""))
        if clock == "written_confirmation":
            referral = s.get(Referral, card.referral_id)
            if referral is None or referral.written_confirmed_at is not None:
                return False
        policy, msg = self.sv.policy, self.sv.messaging
        label = clock_label(clock)
        due = datetime.fromisoformat(str(r.payload["due"])).astimezone(policy.tz)
        if r.kind == "sla_warning":
            pct = round(float(r.payload.get("fraction", 0)) * 100)
            text = (f"{card.reference}: {label}: {pct}% of the time has gone; "
                    f"due {due:%H:%M %a %d %b}.")
            msg.card_thread(s, card, text, key=f"reminder:{r.id}", notify_managers=True)
            self._redraw(s, card, clock)
            return True
        if r.kind == "sla_breach":
            text = (f"{card.reference}: {label}: due {due:%H:%M %a %d %b}, now breached.")
            msg.card_thread(s, card, text, key=f"reminder:{r.id}", notify_managers=True)
            self.sv.metrics.breach(clock)
            log.info("SLA breach announced: %s", label)  # the card's reference goes with it
            intents.queue(s, intents.SLA_ESCALATION, key=f"reminder:{r.id}:escalate",
                          to=intents.conversation(policy.channel("escalation", card.platform)),
                          data={"text": text,
                                "card": intents.conversation(card_channel(s, card))},
                          subject_type="card", subject_id=card.id, platform=card.platform)
            if clock == card.clock:
                card.breached = True
            self._redraw(s, card, clock)
            msg.edt_alert(s, card, now)
            return True
        return False

    def _redraw(self, s: Session, card: TriageCard, clock: str) -> None:
        """The card says its clock's state (``bot.flows.clocks.card_clocks``): the clock it
        shows changed, so it is redrawn, in the transaction that marks the reminder done
        (a sweep run again finds nothing to claim and redraws nothing)."""
        if clock != card.clock:
            return  # a clock the card does not show (a phone referral's confirmation)
        card.version += 1
        s.add(card)
        self.sv.messaging.update_card(s, card)




NudgeFn = Callable[[Session, Services, Reminder, datetime], bool]
EnsureFn = Callable[[Session, Policy, datetime], None]


def nudge_handlers() -> dict[str, NudgeFn]:
    """Reminder kinds beyond the SLA clocks: CAF meetings and QA, weekly jobs."""
    from bot import jobs
    from bot.caf import nudges, qa

    return {**nudges.NUDGES, **qa.NUDGES, **jobs.NUDGES}


def recurring_jobs() -> list[EnsureFn]:
    """Functions that make sure the next occurrence of a recurring job is scheduled."""
    from bot import jobs

    return list(jobs.RECURRING)


class ReminderLoop:
    """Sweeps every ``interval`` seconds until stopped (in ``serve`` and ``worker``)."""

    def __init__(self, sv: Services, *, interval: float = 30.0) -> None:
        self.sweep = ReminderSweep(sv)
        self.interval = interval
        self.sv = sv

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Sweep as of the service clock's now, until ``stop`` is set."""
        await claims.release(self.sv.tx, "reminder", self.sv.clock())
        while not stop.is_set():
            try:
                stats = await asyncio.to_thread(self.sweep.run, self.sv.clock())
                if stats.claimed or stats.expired_flows:
                    log.info("sweep: %s", stats)
            except Exception:  # noqa: BLE001 - keep sweeping; the rows are still there
                log.exception("reminder sweep failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
            except TimeoutError:
                pass


__all__ = ["ReminderLoop", "ReminderSweep"]
