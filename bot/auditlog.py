"""The audit trail as CSV, for a DPIA review or an inspection.

Who did what, when, to what, from what value to what value, and why: one
row per ``audit`` entry, oldest first. The table is append-only (the database
refuses UPDATE and DELETE), so an export is a faithful copy. Entries carry
references, ratings and outcomes, never a child's details; the CSV goes
through the same formula-injection guard as the consultation log.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from bot.flows.consultation.log import csv_text, day_window, local_time
from store import repo
from store.models import AuditEntry

HEADER: tuple[str, ...] = (
    "id",
    "at",
    "at_utc",
    "actor",
    "action",
    "subject_type",
    "subject_id",
    "old_value",
    "new_value",
    "reason",
)


def iter_entries(
    session: Session, since: date | None, until: date | None, tz: ZoneInfo
) -> Iterator[AuditEntry]:
    """Audit entries from local day ``since`` to local day ``until`` (both included)."""
    start, end = day_window(since, until, tz)
    stmt = select(AuditEntry)
    if start is not None:
        stmt = stmt.where(AuditEntry.at >= start)  # type: ignore[arg-type,operator]
    if end is not None:
        stmt = stmt.where(AuditEntry.at < end)  # type: ignore[arg-type,operator]
    stmt = stmt.order_by(AuditEntry.at, AuditEntry.id)  # type: ignore[arg-type]
    yield from session.exec(stmt).scalars().yield_per(1000)  # type: ignore[call-overload]


def entry_row(e: AuditEntry, tz: ZoneInfo) -> list[Any]:
    """One entry as CSV values, in :data:`HEADER` order."""
    return [
        e.id,
        local_time(e.at, tz),
        e.at.isoformat(timespec="seconds"),
        e.actor,
        e.action,
        e.subject_type,
        e.subject_id,
        e.old_value,
        e.new_value,
        e.reason,
    ]


def export_csv(
    session: Session, since: date | None, until: date | None, tz: ZoneInfo
) -> tuple[str, int]:
    """The audit trail as CSV text and how many entries it holds."""
    count = 0

    def rows() -> Iterator[list[Any]]:
        nonlocal count
        for e in iter_entries(session, since, until, tz):
            count += 1
            yield entry_row(e, tz)

    return csv_text(HEADER, rows()), count


def record_export(
    session: Session, *, actor: str, since: date | None, until: date | None, count: int,
    at: datetime,
) -> None:
    """The export itself is an access to personal data: audit it (after reading, so the
    export does not contain its own entry)."""
    repo.audit(
        session, actor=actor, action="audit.exported", subject_type="audit", subject_id="-",
        new={"since": since.isoformat() if since else None,
             "until": until.isoformat() if until else None, "entries": count},
        at=at,
    )


__all__ = ["HEADER", "entry_row", "export_csv", "iter_entries", "record_export"]
