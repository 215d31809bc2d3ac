"""A triage card's SLA clocks as reminder rows: warnings at the policy's fractions and a
breach, and the reminder kinds the sweep (``bot.reminders``) runs for them.

A clock is started by writing its reminders in the same transaction as the
state change that starts it, and stopped by cancelling them (``store.repo.stop_all``),
so nothing depends on a process staying up (DESIGN.md principle 4).

* ``sla_warning``: a share of a clock's time has gone: a note in the card's thread to
  the managers, and the card redrawn.
* ``sla_breach``: the clock is due: the note, the escalation channel told, the card
  redrawn, and to the EDT out of office hours.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlmodel import Session

from bot import intents, logs
from bot.flows.triage.messaging import card_channel
from bot.labels import to_utc
from bot.policy import Policy
from store import repo, sql
from store.models import Referral, Reminder, TriageCard
from store.tx import Db, as_tx

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger("frontdoor.reminders")  # the sweep's log, as before the move

# The phase of a card's decision clock (``start_clock``'s ``phase``): its reminders are
# told apart from the rating's clock of the same name by it.
DECIDE = "decide-"


def decision_clock(card: TriageCard) -> str:
    """The clock that runs until a decision: a suggested Red cannot wait a working day."""
    return "red" if card.suggested_rating == "red" else "contact_decision"


def start_card_clocks(db: Db, policy: Policy, card: TriageCard, referral: Referral) -> None:
    """Start a new card's decision clock (and a phone referral's confirmation clock).

    Called by the domain in the transaction that writes the card, never by a renderer:
    a card has its clock and reminders whoever shows it. ``card`` gets its clock and due
    time, here and in the database.
    """
    assert card.id is not None
    name = decision_clock(card)
    card.clock = name
    card.due_at = start_clock(
        db, policy, subject_type="card", subject_id=card.id, clock=name,
        start=card.received_at, phase=DECIDE,
    )
    if referral.phone_referral and referral.phoned_at:
        start_clock(
            db, policy, subject_type="card", subject_id=card.id,
            clock="written_confirmation", start=referral.phoned_at,
        )
    sql.update(as_tx(db).cx, TriageCard, card.id, clock=card.clock, due_at=card.due_at)


def start_clock(
    db: Db,
    policy: Policy,
    *,
    subject_type: str,
    subject_id: int,
    clock: str,
    start: datetime,
    phase: str = "",
) -> datetime:
    """Schedule a clock's warnings and breach; return its due time.

    ``phase`` keeps apart two runs of one clock that could start at the same instant
    (a suggested Red's decision clock and the Red action clock after the decision).

    Idempotent: the reminder keys are unique, so starting a clock twice from
    a retried event schedules nothing new.
    """
    spec = policy.clock(clock)
    cal = policy.calendar
    due = cal.due(start, spec.duration, spec.basis)
    # The start is part of the key: the same start never schedules twice (a retried
    # event), while the same clock restarted later (a re-rating) gets fresh reminders.
    stamp = start.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    prefix = f"{repo.key_prefix(subject_type, subject_id, clock)}{phase}{stamp}:"
    payload = {"clock": clock, "start": start.isoformat(), "due": due.isoformat()}
    for fraction in spec.warn_at:
        at = cal.point(start, spec.duration, spec.basis, fraction)
        repo.schedule(
            db,
            key=f"{prefix}warn:{fraction:g}",
            kind="sla_warning",
            subject_type=subject_type,
            subject_id=subject_id,
            due_at=at,
            payload={**payload, "fraction": fraction},
        )
    repo.schedule(
        db,
        key=f"{prefix}breach",
        kind="sla_breach",
        subject_type=subject_type,
        subject_id=subject_id,
        due_at=due,
        payload=payload,
    )
    return due


def snooze(session: Session, *, subject_type: str, subject_id: int, until: datetime) -> int:
    """Move a subject's pending warnings due before ``until`` to ``until``; returns how many."""
    result = session.execute(
        update(Reminder)
        .where(Reminder.subject_type == subject_type)  # type: ignore[arg-type]
        .where(Reminder.subject_id == subject_id)  # type: ignore[arg-type]
        .where(Reminder.status == "pending")  # type: ignore[arg-type]
        .where(Reminder.kind == "sla_warning")  # type: ignore[arg-type]
        .where(Reminder.due_at < until)  # type: ignore[arg-type]
        .values(due_at=until)
    )
    return int(result.rowcount or 0)


# --- a card's clocks as of the last sweep ---------------------------------------------


@dataclass(frozen=True, slots=True)
class ReminderRow:
    """What a clock's state is read from: one reminder row of a card."""

    key: str
    kind: str
    status: str
    due_at: datetime
    done_at: datetime | None


@dataclass(frozen=True, slots=True)
class ClockState:
    """One clock of a card as the reminder rows say it is: what the sweep has announced
    (a warning, the breach) or a decision stopped, never what the time is when the card
    is drawn. A card drawn from it says nothing that the passing of time makes false."""

    clock: str
    due: datetime
    warned_at: datetime | None = None  # the newest warning the sweep sent
    breached: bool = False  # the sweep announced the breach (at ``due``)
    met_at: datetime | None = None  # a decision stopped it at this time
    late: bool = False  # ... after the sweep had announced its breach

    def words(self, at: Callable[[datetime], str]) -> str:
        """"Due Thu 3 Dec 14:32 · on time" ("· warning sent …", "· overdue since …",
        "· met …"); ``at`` draws an instant as the platform shows it to each reader."""
        if self.met_at is not None:
            state = f"decided {at(self.met_at)}, late" if self.late else f"met {at(self.met_at)}"
        elif self.breached:
            state = f"overdue since {at(self.due)}"
        elif self.warned_at is not None:
            state = f"warning sent {at(self.warned_at)}"
        else:
            state = "on time"
        return f"Due {at(self.due)} · {state}"


def _run_of(key: str) -> str:
    """The part of a reminder key naming one run of one clock (its start stamp included)."""
    for tail in (":breach", ":warn:"):
        if tail in key:
            return key.split(tail, 1)[0]
    return key


def card_clocks(card: TriageCard, rows: Sequence[ReminderRow],
                first_decided: datetime | None = None) -> list[ClockState]:
    """The clocks a card shows, from its reminder rows: the decision clock once a decision
    met it (at ``first_decided``, the card's first decision), then the running clock.

    Pure: the same rows give the same states whenever the card is drawn."""
    out: list[ClockState] = []
    breaches = sorted((r for r in rows if r.kind == "sla_breach"), key=lambda r: r.key)
    if first_decided is not None:
        decide = next((r for r in breaches if f":{DECIDE}" in r.key), None)
        if decide is not None and decide.status in ("cancelled", "done"):
            out.append(ClockState(clock=decide.key.split(":")[2], due=decide.due_at,
                                  met_at=first_decided, late=decide.status == "done"))
    if card.status == "closed" or not card.clock or card.due_at is None:
        return out
    prefix = repo.key_prefix("card", card.id or 0, card.clock)
    due = to_utc(card.due_at)
    run = next((r for r in reversed(breaches) if r.key.startswith(prefix)
                and to_utc(r.due_at) == due and r.status != "cancelled"), None)
    if run is None:  # no rows to read (a card drawn on its own): what the card says
        out.append(ClockState(card.clock, card.due_at, breached=bool(card.breached)))
        return out
    name = _run_of(run.key)
    warned = [r.done_at or r.due_at for r in rows if r.kind == "sla_warning"
              and r.status == "done" and _run_of(r.key) == name]
    out.append(ClockState(card.clock, card.due_at, warned_at=max(warned, default=None),
                          breached=run.status == "done" or bool(card.breached)))
    return out


def read_card_clocks(cx: sql.Cx, card: TriageCard) -> list[ClockState]:
    """A card's clocks as its reminder rows and first decision say (for its renderers)."""
    cur = cx.execute(
        "SELECT key, kind, status, due_at, done_at FROM reminder "
        "WHERE subject_type = 'card' AND subject_id = :id", {"id": card.id or 0})
    rows = [ReminderRow(k, kind, status, _when(due), cx.read_when(done))
            for k, kind, status, due, done in cur.fetchall()]
    first = cx.first("SELECT min(at) FROM decision WHERE card_id = :id", {"id": card.id or 0})
    return card_clocks(card, rows, cx.read_when(first[0]) if first else None)


def _when(value: Any) -> datetime:
    at = sql.Cx.read_when(value)
    assert at is not None  # due_at is NOT NULL
    return at


# The one table of clock names in words, for cards, reminders and the weekly figures.
CLOCK_LABELS: dict[str, str] = {
    "contact_decision": "Decision on the contact",
    "red": "Red response",
    "amber_sh": "Amber (significant harm) response",
    "amber_cin": "Amber (child in need) response",
    "green": "Early help response",
    "strategy_discussion": "Strategy discussion",
    "written_confirmation": "Written confirmation of the phone referral",
    "lado": "LADO referral",
    "sw_visit": "Social worker visit",
}


def clock_label(name: str | None) -> str:
    """A clock's name in words ("Decision on the contact")."""
    if not name:
        return "Deadline"
    return CLOCK_LABELS.get(name, name.replace("_", " ").capitalize())


# --- the reminder kinds of the SLA clocks (run by the sweep, ``bot.reminders``) --------


def sla_nudge(s: Session, sv: Services, r: Reminder, now: datetime) -> bool:
    """A clock's warning or breach, in the sweep's transaction; False when it no longer
    applies (the card closed, the written referral came)."""
    if r.subject_type != "card":
        log.warning("reminder %s has unknown kind %s", r.id, r.kind)
        return False
    card = s.get(TriageCard, r.subject_id)
    if card is None or card.status == "closed":
        return False  # closed items are never nudged
    logs.about_card(card.reference)
    clock = str(r.payload.get("clock", ""))
    if clock == "written_confirmation":
        referral = s.get(Referral, card.referral_id)
        if referral is None or referral.written_confirmed_at is not None:
            return False
    policy, msg = sv.policy, sv.triage_messaging
    label = clock_label(clock)
    due = datetime.fromisoformat(str(r.payload["due"])).astimezone(policy.tz)
    if r.kind == "sla_warning":
        pct = round(float(r.payload.get("fraction", 0)) * 100)
        text = (f"{card.reference}: {label}: {pct}% of the time has gone; "
                f"due {due:%H:%M %a %d %b}.")
        msg.card_thread(s, card, text, key=f"reminder:{r.id}", notify_managers=True)
        _redraw(s, sv, card, clock)
        return True
    if r.kind == "sla_breach":
        text = (f"{card.reference}: {label}: due {due:%H:%M %a %d %b}, now breached.")
        msg.card_thread(s, card, text, key=f"reminder:{r.id}", notify_managers=True)
        sv.metrics.breach(clock)
        log.info("SLA breach announced: %s", label)  # the card's reference goes with it
        intents.queue(s, intents.SLA_ESCALATION, key=f"reminder:{r.id}:escalate",
                      to=intents.conversation(policy.channel("escalation", card.platform)),
                      data={"text": text,
                            "card": intents.conversation(card_channel(s, card))},
                      subject_type="card", subject_id=card.id, platform=card.platform)
        if clock == card.clock:
            card.breached = True
        _redraw(s, sv, card, clock)
        msg.edt_alert(s, card, now)
        return True
    return False


def _redraw(s: Session, sv: Services, card: TriageCard, clock: str) -> None:
    """The card says its clock's state (``card_clocks``): the clock it shows changed, so
    it is redrawn, in the transaction that marks the reminder done (a sweep run again
    finds nothing to claim and redraws nothing)."""
    if clock != card.clock:
        return  # a clock the card does not show (a phone referral's confirmation)
    card.version += 1
    s.add(card)
    sv.triage_messaging.update_card(s, card)


NUDGES: dict[str, Callable[[Session, Any, Reminder, datetime], bool]] = {
    "sla_warning": sla_nudge, "sla_breach": sla_nudge}
