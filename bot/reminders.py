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

from bot import logs, replay
from bot.flows.guided.scheduled import expire_idle_flows
from bot.policy import Policy
from bot.services import Services
from store import claims, sql
from store.models import Reminder
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
        with self.sv.tx.session(write=True) as s:
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
        stats.expired_flows += expire_idle_flows(self.sv, now)
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
        with self.sv.tx.session(write=True) as s:
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
        handler = nudge_handlers().get(r.kind)
        if handler is None:
            log.warning("reminder %s has unknown kind %s", r.id, r.kind)
            return False
        return handler(s, self.sv, r, now)


NudgeFn = Callable[[Session, Services, Reminder, datetime], bool]
EnsureFn = Callable[[Session, Policy, datetime], None]


def nudge_handlers() -> dict[str, NudgeFn]:
    """Every reminder kind, from each domain's ``scheduled``: the triage cards' SLA clocks,
    CAF meetings and QA, weekly jobs."""
    from bot import jobs
    from bot.flows.caf import qa
    from bot.flows.caf import scheduled as caf
    from bot.flows.triage import scheduled as triage

    return {**triage.NUDGES, **caf.NUDGES, **qa.NUDGES, **jobs.NUDGES}


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
