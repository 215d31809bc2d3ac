"""Repository functions shared by flows, handlers and the reminder loop.

Each takes an open ``Session`` and leaves committing to the caller, so that a
state change, its audit entry and the outgoing messages it causes land in one
transaction (or none).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from store.models import (
    AuditEntry,
    OutboxMessage,
    ProcessedEvent,
    Professional,
    ReferenceCounter,
    Reminder,
)
from store.types import utcnow

REFERENCE_PREFIX = "FD"


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _insert_ignore(session: Session, table: Any) -> Any:
    """An INSERT that does nothing on a unique conflict, for either database."""
    if _dialect(session) == "postgresql":
        return pg_insert(table).on_conflict_do_nothing()
    return sqlite_insert(table).on_conflict_do_nothing()


_INSERT_IGNORE: dict[tuple[str, str], Any] = {}


def _inserted(session: Session, model: Any, **values: Any) -> bool:
    """Insert unless a unique key already exists; True when a row was written.

    ``rowcount`` is not reliable here across drivers, so ask for the key back. The
    statement is a Core one on the table, built once per dialect: these inserts run
    on every answer and every message, and building an ORM statement each time cost
    more than the database work.
    """
    table = model.__table__
    key = (_dialect(session), table.name)
    stmt = _INSERT_IGNORE.get(key)
    if stmt is None:
        pk = sa_inspect(model).primary_key[0]
        stmt = _INSERT_IGNORE[key] = _insert_ignore(session, table).returning(pk)
    return session.execute(stmt, values).first() is not None


def next_reference(session: Session, when: datetime | None = None) -> str:
    """Issue the next reference for the year, e.g. ``FD-2026-000123``.

    The counter row is created if missing and incremented in the caller's
    transaction, so two processes never issue the same number.
    """
    year = (when or utcnow()).year
    session.execute(_insert_ignore(session, ReferenceCounter).values(year=year, last=0))
    last = session.execute(
        update(ReferenceCounter)
        .where(ReferenceCounter.year == year)  # type: ignore[arg-type]
        .values(last=ReferenceCounter.last + 1)
        .returning(ReferenceCounter.last)
    ).scalar_one()
    return f"{REFERENCE_PREFIX}-{year}-{last:06d}"


def _value(v: Any) -> str | None:
    if v is None or isinstance(v, str):
        return v
    return json.dumps(v, sort_keys=True, default=str)


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: Any,
    old: Any = None,
    new: Any = None,
    reason: str | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append an audit entry: who, when, what, from what, to what, why."""
    entry = AuditEntry(
        at=at or utcnow(),
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        old_value=_value(old),
        new_value=_value(new),
        reason=reason,
    )
    session.add(entry)
    return entry


def professional(session: Session, user_id: str, **details: str) -> Professional:
    """The professional with this Slack user ID, created (or updated) with ``details``."""
    row = session.exec(  # type: ignore[call-overload]
        select(Professional).where(Professional.slack_user_id == user_id)
    ).scalar_one_or_none()
    if row is None:
        session.execute(_insert_ignore(session, Professional).values(slack_user_id=user_id))
        row = session.exec(  # type: ignore[call-overload]
            select(Professional).where(Professional.slack_user_id == user_id)
        ).scalar_one()
    changed = {k: v for k, v in details.items() if v and getattr(row, k) != v}
    for k, v in changed.items():
        setattr(row, k, v)
    if changed:
        row.updated_at = utcnow()
        session.add(row)
    return row


def claim_event(session: Session, event_id: str) -> bool:
    """Record a Slack event ID; False when it was already handled (a retry)."""
    return _inserted(session, ProcessedEvent, event_id=event_id, received_at=utcnow())


def enqueue(
    session: Session,
    *,
    key: str,
    method: str,
    payload: dict[str, Any],
    channel: str = "",
    subject_type: str | None = None,
    subject_id: int | None = None,
    not_before: datetime | None = None,
) -> bool:
    """Write an outgoing Slack call to the outbox; False if ``key`` was already queued.

    The idempotency key makes the same cause queue the same message once,
    however often the code path runs (a retried event, a double click).
    """
    now = utcnow()
    return _inserted(
        session,
        OutboxMessage,
        idempotency_key=key,
        method=method,
        channel=channel or payload.get("channel", ""),
        payload=payload,
        status="pending",
        attempts=0,
        next_attempt_at=not_before or now,
        created_at=now,
        subject_type=subject_type,
        subject_id=subject_id,
    )


def schedule(
    session: Session,
    *,
    key: str,
    kind: str,
    subject_type: str,
    subject_id: int,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
) -> bool:
    """Schedule a reminder once per ``key``; False if it already exists."""
    return _inserted(
        session,
        Reminder,
        key=key,
        kind=kind,
        subject_type=subject_type,
        subject_id=subject_id,
        due_at=due_at,
        status="pending",
        payload=payload or {},
        sent_count=0,
        attempts=0,
        created_at=utcnow(),
    )


def cancel_reminders(
    session: Session, subject_type: str, subject_id: int, kinds: tuple[str, ...] | None = None
) -> int:
    """Cancel a subject's pending reminders (its clock stopped); returns how many."""
    stmt = (
        update(Reminder)
        .where(Reminder.subject_type == subject_type)  # type: ignore[arg-type]
        .where(Reminder.subject_id == subject_id)  # type: ignore[arg-type]
        .where(Reminder.status == "pending")  # type: ignore[arg-type]
        .values(status="cancelled", done_at=utcnow())
    )
    if kinds:
        stmt = stmt.where(Reminder.kind.in_(kinds))  # type: ignore[attr-defined]
    return int(session.execute(stmt).rowcount or 0)


__all__ = [
    "audit",
    "cancel_reminders",
    "claim_event",
    "enqueue",
    "next_reference",
    "professional",
    "schedule",
]
