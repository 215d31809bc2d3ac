"""SLA clocks as reminder rows: warnings at the policy's fractions and a breach.

A clock is started by writing its reminders in the same transaction as the
state change that starts it, and stopped by cancelling them, so nothing
depends on a process staying up (DESIGN.md principle 4).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session

from bot.policy import Policy
from store import repo
from store.models import Reminder
from store.tx import Db
from store.types import utcnow


def key_prefix(subject_type: str, subject_id: int, clock: str) -> str:
    """The reminder-key prefix of one clock on one subject."""
    return f"{subject_type}:{subject_id}:{clock}:"


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
    prefix = f"{key_prefix(subject_type, subject_id, clock)}{phase}{stamp}:"
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


def _pending(subject_type: str, subject_id: int) -> Any:
    """Cancelling a subject's pending reminders (narrowed by the caller)."""
    return (
        update(Reminder)
        .where(Reminder.subject_type == subject_type)  # type: ignore[arg-type]
        .where(Reminder.subject_id == subject_id)  # type: ignore[arg-type]
        .where(Reminder.status == "pending")  # type: ignore[arg-type]
        .values(status="cancelled", done_at=utcnow())
    )


def stop_clock(session: Session, *, subject_type: str, subject_id: int, clock: str) -> int:
    """Cancel a clock's pending reminders (its work is done); returns how many."""
    prefix = key_prefix(subject_type, subject_id, clock)
    stmt = _pending(subject_type, subject_id).where(
        Reminder.key.startswith(prefix, autoescape=True))  # type: ignore[attr-defined]
    return int(session.execute(stmt).rowcount or 0)


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


def stop_all(
    session: Session, *, subject_type: str, subject_id: int, keep: tuple[str, ...] = (),
    kinds: tuple[str, ...] | None = None,
) -> int:
    """Cancel a subject's pending reminders (it was closed or decided), except the
    clocks named in ``keep``, or only those of ``kinds``; returns how many.

    The one way reminders are cancelled (cards, CAF episodes, their nudges)."""
    stmt = _pending(subject_type, subject_id)
    if kinds:
        stmt = stmt.where(Reminder.kind.in_(kinds))  # type: ignore[attr-defined]
    for clock in keep:
        prefix = key_prefix(subject_type, subject_id, clock)
        stmt = stmt.where(~Reminder.key.startswith(prefix, autoescape=True))  # type: ignore[attr-defined]
    return int(session.execute(stmt).rowcount or 0)


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
