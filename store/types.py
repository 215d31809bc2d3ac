"""Column types shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# The platform of a row that names none: every row written before Teams was Slack's
# (migration 0005), and each platform's listeners say theirs.
DEFAULT_PLATFORM = "slack"


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC.

    SQLite keeps no offset, so values are normalised to UTC on the way in and
    marked UTC on the way out; a naive datetime is refused rather than guessed
    (naive datetimes are how SLA clocks go wrong by an hour in March).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = to_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else from_stored(value)


def to_utc(value: datetime) -> datetime:
    """An aware datetime in UTC, as stored; a naive one is refused, not guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: store aware datetimes only")
    return value.astimezone(UTC)


def from_stored(value: datetime) -> datetime:
    """A stored datetime as aware UTC (SQLite keeps no offset: its values are UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, aware, in UTC."""
    return datetime.now(UTC)
