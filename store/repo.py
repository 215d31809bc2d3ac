"""Repository functions shared by flows, handlers and the reminder loop.

Each takes an open ``Session`` and leaves committing to the caller, so that a
state change, its audit entry and the outgoing messages it causes land in one
transaction (or none). The writes made on every request are ``store.sql``'s,
run on the session's connection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session

from store import sql
from store.models import Professional, Reminder
from store.tx import Db, as_tx
from store.types import DEFAULT_PLATFORM, utcnow

REFERENCE_PREFIX = "FD"


def next_reference(db: Db, when: datetime | None = None) -> str:
    """Issue the next reference for the year, e.g. ``FD-2026-000123``.

    The counter row is created if missing and incremented in the caller's
    transaction, so two processes never issue the same number.
    """
    year = (when or utcnow()).year
    return f"{REFERENCE_PREFIX}-{year}-{sql.next_number(as_tx(db).cx, year):06d}"


def audit(
    db: Db,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: Any,
    old: Any = None,
    new: Any = None,
    reason: str | None = None,
    at: datetime | None = None,
) -> None:
    """Append an audit entry: who, when, what, from what, to what, why."""
    as_tx(db).audit(at=at or utcnow(), actor=actor, action=action, subject_type=subject_type,
                    subject_id=subject_id, old=old, new=new, reason=reason)


def professional(session: Session, user_id: str, **details: str) -> Professional:
    """The professional with this platform user id, created (or updated) with ``details``."""
    pid = professional_id(session, user_id, **details)
    row = session.get(Professional, pid, populate_existing=True)  # after the update above
    assert row is not None
    return row


def professional_id(db: Db, user_id: str, *, platform: str = DEFAULT_PLATFORM,
                    **details: str) -> int:
    """Like ``professional``, the id only (no ORM object to load)."""
    return sql.professional(as_tx(db).cx, user_id, details, utcnow(), platform=platform)


def claim_event(db: Db, event_id: str) -> bool:
    """Record a platform's event id; False when it was already handled (a retry)."""
    return as_tx(db).claim_event(event_id)


def enqueue(
    db: Db,
    *,
    key: str,
    intent: str,
    payload: dict[str, Any],
    channel: str = "",
    subject_type: str | None = None,
    subject_id: int | None = None,
    not_before: datetime | None = None,
    platform: str = DEFAULT_PLATFORM,
) -> bool:
    """Write an outgoing message to the outbox; False if ``key`` was already queued.

    The idempotency key makes the same cause queue the same message once,
    however often the code path runs (a retried event, a double click).
    """
    return as_tx(db).enqueue(key=key, intent=intent, payload=payload, channel=channel,
                             subject_type=subject_type, subject_id=subject_id,
                             not_before=not_before, platform=platform)


def schedule(
    db: Db,
    *,
    key: str,
    kind: str,
    subject_type: str,
    subject_id: int,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Schedule a reminder once per ``key``; False if it already exists."""
    return sql.schedule(as_tx(db).cx, key=key, kind=kind, subject_type=subject_type,
                        subject_id=subject_id, due_at=due_at, payload=payload or {},
                        now=utcnow())


def key_prefix(subject_type: str, subject_id: int, clock: str) -> str:
    """The reminder-key prefix of one clock on one subject."""
    return f"{subject_type}:{subject_id}:{clock}:"


def cancelling(subject_type: str, subject_id: int) -> Any:
    """The statement cancelling a subject's pending reminders (narrowed by the caller)."""
    return (
        update(Reminder)
        .where(Reminder.subject_type == subject_type)  # type: ignore[arg-type]
        .where(Reminder.subject_id == subject_id)  # type: ignore[arg-type]
        .where(Reminder.status == "pending")  # type: ignore[arg-type]
        .values(status="cancelled", done_at=utcnow())
    )


def stop_all(
    session: Session, *, subject_type: str, subject_id: int, keep: tuple[str, ...] = (),
    kinds: tuple[str, ...] | None = None, only: str | None = None,
) -> int:
    """Cancel a subject's pending reminders (it was closed or decided), except the
    clocks named in ``keep``, or only those of ``kinds``, or only the clock ``only`` (its
    work is done); returns how many.

    The one way reminders are cancelled (cards, CAF episodes, their nudges)."""
    stmt = cancelling(subject_type, subject_id)
    if kinds:
        stmt = stmt.where(Reminder.kind.in_(kinds))  # type: ignore[attr-defined]
    if only is not None:
        prefix = key_prefix(subject_type, subject_id, only)
        stmt = stmt.where(Reminder.key.startswith(prefix, autoescape=True))  # type: ignore[attr-defined]
    for clock in keep:
        prefix = key_prefix(subject_type, subject_id, clock)
        stmt = stmt.where(~Reminder.key.startswith(prefix, autoescape=True))  # type: ignore[attr-defined]
    return int(session.execute(stmt).rowcount or 0)


__all__ = [
    "audit",
    "cancelling",
    "claim_event",
    "enqueue",
    "key_prefix",
    "next_reference",
    "professional",
    "schedule",
    "stop_all",
]
