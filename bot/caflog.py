"""The CAF consultation log: queries, filters and the CSV export.

One log entry is one ``Consultation`` row with its professional: the reference,
when it was received, who asked (name, role, agency, contact), the age band
and categories, the suggested and the given outcome, the advisor, whether the
professional followed the advice (and why not), and the earlier references it
is linked to. Never a child's details: the log holds only what the no-names
flows stored, and the free-text answers of the consultation are not exported.

Filters (dates, outcome, category, agency, advisor) are one small value
(:class:`LogFilter`) with a text form used by ``/caflog`` and by its buttons
(``since:2026-11-01 until:2026-11-30 outcome:early_help category:neglect
agency:education advisor:U0ADVISOR``). Dates are whole days in the policy's
time zone; both ends are included.

CSV: RFC 4180 (``csv`` module, CRLF line ends, quoting where a value holds a
comma, a quote or a line break), UTF-8. Values come from people, so a cell
that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return) is prefixed with a single quote (OWASP
"CSV injection").
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session

from bot.flows.rules import CATEGORIES
from bot.flows.scripts import AGENCIES
from bot.labels import OUTCOME_LABELS
from store import repo
from store.models import Consultation, Professional

# A spreadsheet runs a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# C0 controls other than tab, newline and carriage return, and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_USER = re.compile(r"^<?@?([UW][A-Z0-9]{2,31})(?:\|[^>]*)?>?$")
_MAX_CHAIN = 1000

AGENCY_LABELS: dict[str, str] = {o.value: o.label for o in AGENCIES}
FILTER_KEYS = ("since", "until", "outcome", "category", "agency", "advisor")

HEADER: tuple[str, ...] = (
    "reference",
    "received",
    "professional",
    "role",
    "agency",
    "contact",
    "age_band",
    "categories",
    "suggested_outcome",
    "given_outcome",
    "advisor",
    "advised",
    "followed_advice",
    "not_followed_reason",
    "linked_references",
    "repeat_count",
    "status",
)


class FilterError(ValueError):
    """A filter that cannot be used; ``problems`` are lines to show the person."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class LogFilter:
    """Which consultations to show: every field is optional; dates are local days, inclusive."""

    since: date | None = None
    until: date | None = None
    outcome: str | None = None  # the given outcome, or the suggested one until advised
    category: str | None = None  # a category key (``neglect``)
    agency: str | None = None  # an agency key (``education``)
    advisor: str | None = None  # a Slack user ID

    def is_empty(self) -> bool:
        """True when nothing is filtered."""
        return all(getattr(self, k) is None for k in FILTER_KEYS)

    def to_query(self) -> str:
        """The text form (``since:2026-11-01 outcome:early_help``); see :func:`parse_query`."""
        parts = []
        for key in FILTER_KEYS:
            value = getattr(self, key)
            if value is not None:
                parts.append(f"{key}:{value.isoformat() if isinstance(value, date) else value}")
        return " ".join(parts)

    def describe(self) -> str:
        """In words, for a message ("from 1 Nov 2026 · outcome: Early help"); not escaped."""
        parts = []
        if self.since and self.until:
            parts.append(f"{_day(self.since)} to {_day(self.until)}")
        elif self.since:
            parts.append(f"from {_day(self.since)}")
        elif self.until:
            parts.append(f"up to {_day(self.until)}")
        if self.outcome:
            parts.append(f"outcome: {OUTCOME_LABELS.get(self.outcome, self.outcome)}")
        if self.category:
            parts.append(f"category: {CATEGORIES.get(self.category, self.category)}")
        if self.agency:
            parts.append(f"agency: {AGENCY_LABELS.get(self.agency, self.agency)}")
        if self.advisor:
            parts.append(f"advisor: {self.advisor}")
        return " · ".join(parts) if parts else "all consultations"

    def window(self, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
        """``[start, end)`` as aware instants: local midnight of ``since`` and after ``until``."""
        return day_window(self.since, self.until, tz)


def _day(d: date) -> str:
    return f"{d.day} {d:%b %Y}"


def day_window(
    since: date | None, until: date | None, tz: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """Local days (both included) as a half-open ``[start, end)`` of aware instants."""
    start = datetime.combine(since, time(0), tzinfo=tz) if since else None
    end = datetime.combine(until + timedelta(days=1), time(0), tzinfo=tz) if until else None
    return start, end


def parse_date(value: str, what: str) -> date:
    """An ISO date (``2026-11-30``); a readable error otherwise."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise FilterError([f"{what}: not a date like 2026-11-30"]) from None


def make_filter(labels: Mapping[str, str] | None = None, **values: Any) -> LogFilter:
    """A checked filter from loose values (strings or dates; empty means "any").

    ``labels`` names the fields in the problems as the person saw them (the modal's
    "From" and "To"); by default a field is named by its key (``since``), as typed.
    """
    name = {**{k: k for k in FILTER_KEYS}, **(labels or {})}
    problems: list[str] = []
    out: dict[str, Any] = {}
    for key in ("since", "until"):
        v = values.get(key)
        if isinstance(v, date):
            out[key] = v
        elif v:
            try:
                out[key] = parse_date(str(v), name[key])
            except FilterError as exc:
                problems += exc.problems
    outcome = (values.get("outcome") or "").strip() or None
    if outcome and outcome not in OUTCOME_LABELS:
        problems.append(f"outcome: must be one of {', '.join(OUTCOME_LABELS)}")
    category = (values.get("category") or "").strip() or None
    if category and category not in CATEGORIES:
        problems.append(f"category: must be one of {', '.join(CATEGORIES)}")
    agency = (values.get("agency") or "").strip().lower() or None
    if agency and agency not in AGENCY_LABELS:
        by_label = {label.lower(): key for key, label in AGENCY_LABELS.items()}
        if agency in by_label:
            agency = by_label[agency]
        else:
            problems.append(f"agency: must be one of {', '.join(AGENCY_LABELS)}")
    advisor = (values.get("advisor") or "").strip() or None
    if advisor:
        m = _USER.match(advisor)
        if m is None:
            problems.append("advisor: must be a Slack user ID (U…); the Filter… "
                            "button has a people picker")
        else:
            advisor = m.group(1)
    if out.get("since") and out.get("until") and out["since"] > out["until"]:
        problems.append(f"{name['since']}: must not be after {name['until']}")
    if problems:
        raise FilterError(problems)
    return LogFilter(outcome=outcome, category=category, agency=agency, advisor=advisor, **out)


def parse_query(text: str) -> LogFilter:
    """Parse ``key:value`` words (``since:2026-11-01 advisor:<@U0ADVISOR>``) into a filter."""
    values: dict[str, str] = {}
    problems: list[str] = []
    for n, word in enumerate((text or "").split(), start=1):
        key, sep, value = word.partition(":")
        key = key.lower()
        if not sep or key not in FILTER_KEYS:
            # The word is not echoed: it may be a name typed in the wrong place.
            problems.append(
                f"word {n}: filters are {', '.join(k + ':' for k in FILTER_KEYS)} "
                "(e.g. since:2026-11-01 outcome:early_help)"
            )
            continue
        values[key] = value
    if problems:
        raise FilterError(problems)
    return make_filter(**values)


@dataclass(frozen=True)
class LogEntry:
    """One row of the CAF consultation log, as shown and exported."""

    id: int
    reference: str
    received_at: datetime
    professional: str
    role: str
    agency: str
    contact: str
    professional_user_id: str
    age_band: str
    categories: tuple[str, ...]
    suggested_outcome: str
    given_outcome: str | None
    advisor: str | None
    advised_at: datetime | None
    followed_advice: bool | None
    not_followed_reason: str | None
    linked_references: tuple[str, ...]
    repeat_count: int
    status: str


@dataclass
class _Chains:
    """Earlier references of a consultation, walked up ``linked_reference`` (cached)."""

    session: Session
    parents: dict[str, str | None] = field(default_factory=dict)

    def earlier(self, linked: str | None) -> tuple[str, ...]:
        out: list[str] = []
        seen: set[str] = set()
        ref = linked
        while ref and ref not in seen and len(out) < _MAX_CHAIN:
            out.append(ref)
            seen.add(ref)
            if ref not in self.parents:
                self.parents[ref] = self.session.exec(  # type: ignore[call-overload]
                    select(Consultation.linked_reference).where(Consultation.reference == ref)
                ).scalar_one_or_none()
            ref = self.parents[ref]
        return tuple(out)


def _statement(f: LogFilter, tz: ZoneInfo, *, newest_first: bool) -> Any:
    stmt = select(Consultation, Professional).join(
        Professional,
        Consultation.professional_id == Professional.id,  # type: ignore[arg-type]
    )
    start, end = f.window(tz)
    if start is not None:
        stmt = stmt.where(Consultation.created_at >= start)  # type: ignore[arg-type,operator]
    if end is not None:
        stmt = stmt.where(Consultation.created_at < end)  # type: ignore[arg-type,operator]
    if f.outcome:
        effective = func.coalesce(Consultation.advice_outcome, Consultation.suggested_outcome)
        stmt = stmt.where(effective == f.outcome)
    if f.agency:
        label = AGENCY_LABELS.get(f.agency, f.agency)
        stmt = stmt.where(func.lower(Professional.agency) == label.lower())
    if f.advisor:
        stmt = stmt.where(Consultation.advisor_user_id == f.advisor)  # type: ignore[arg-type]
    order = Consultation.created_at.desc() if newest_first else Consultation.created_at.asc()  # type: ignore[attr-defined]
    tie = Consultation.id.desc() if newest_first else Consultation.id.asc()  # type: ignore[union-attr]
    return stmt.order_by(order, tie)


def iter_entries(
    session: Session, f: LogFilter, tz: ZoneInfo, *, newest_first: bool = False
) -> Iterator[LogEntry]:
    """Every consultation matching ``f``, oldest first unless ``newest_first``.

    The category filter is applied here rather than in SQL: categories are a
    JSON list, which SQLite and PostgreSQL query differently.
    """
    chains = _Chains(session)
    result = session.exec(_statement(f, tz, newest_first=newest_first))  # type: ignore[call-overload]
    for c, p in result.yield_per(500):
        if f.category and f.category not in (c.categories or []):
            continue
        yield LogEntry(
            id=int(c.id or 0),
            reference=c.reference,
            received_at=c.created_at,
            professional=p.name,
            role=p.role,
            agency=p.agency,
            contact=p.contact,
            professional_user_id=p.slack_user_id,
            age_band=c.age_band,
            categories=tuple(str(x) for x in c.categories or ()),
            suggested_outcome=c.suggested_outcome,
            given_outcome=c.advice_outcome,
            advisor=c.advisor_user_id,
            advised_at=c.advised_at,
            followed_advice=c.followed_advice,
            not_followed_reason=c.not_followed_reason,
            linked_references=chains.earlier(c.linked_reference),
            repeat_count=c.repeat_count,
            status=c.status,
        )


def latest(session: Session, f: LogFilter, tz: ZoneInfo, limit: int = 10) -> tuple[
    list[LogEntry], int
]:
    """The newest ``limit`` entries matching ``f`` and how many match in all."""
    shown: list[LogEntry] = []
    total = 0
    for entry in iter_entries(session, f, tz, newest_first=True):
        total += 1
        if len(shown) < limit:
            shown.append(entry)
    return shown, total


# --------------------------------------------------------------------------- CSV


def safe_cell(value: Any) -> str:
    """A CSV cell: text without control characters, never read as a formula."""
    if value is None:
        return ""
    s = _CONTROL.sub("", str(value))
    if s.startswith(_FORMULA_START):
        s = "'" + s
    return s


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """RFC 4180 CSV (CRLF line ends, minimal quoting), every cell through :func:`safe_cell`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return buf.getvalue()


def excel_bytes(text: str) -> bytes:
    """UTF-8 with a byte-order mark, so a spreadsheet opened by double-click reads "ë" right."""
    return ("\ufeff" + text).encode("utf-8")


def local_time(value: datetime | None, tz: ZoneInfo) -> str:
    """``2026-11-24 10:00:00+00:00``: the local time with its offset (unambiguous in autumn)."""
    if value is None:
        return ""
    return value.astimezone(tz).isoformat(sep=" ", timespec="seconds")


def entry_row(e: LogEntry, tz: ZoneInfo) -> list[Any]:
    """One entry as CSV values, in :data:`HEADER` order."""
    followed = {True: "yes", False: "no", None: ""}[e.followed_advice]
    return [
        e.reference,
        local_time(e.received_at, tz),
        e.professional,
        e.role,
        e.agency,
        e.contact,
        e.age_band,
        "; ".join(e.categories),
        e.suggested_outcome,
        e.given_outcome or "",
        e.advisor or "",
        local_time(e.advised_at, tz),
        followed,
        e.not_followed_reason or "",
        "; ".join(e.linked_references),
        e.repeat_count,
        e.status,
    ]


def export_csv(session: Session, f: LogFilter, tz: ZoneInfo) -> tuple[str, int]:
    """The log as CSV text (oldest first) and how many entries it holds."""
    count = 0

    def rows() -> Iterator[list[Any]]:
        nonlocal count
        for e in iter_entries(session, f, tz):
            count += 1
            yield entry_row(e, tz)

    text = csv_text(HEADER, rows())
    return text, count


def audit_access(
    session: Session, *, actor: str, action: str, f: LogFilter, count: int, at: datetime
) -> None:
    """Record who looked at or exported the log, with the filter and a count (no contents)."""
    repo.audit(
        session, actor=actor, action=action, subject_type="caflog", subject_id="-",
        new={"filter": f.to_query(), "entries": count}, at=at,
    )


def export_filename(f: LogFilter, now: datetime, tz: ZoneInfo) -> str:
    """``caf-consultation-log-2026-11-24.csv`` (with the date range when filtered by dates)."""
    if f.since or f.until:
        span = f"{f.since or 'start'}-to-{f.until or now.astimezone(tz).date()}"
    else:
        span = now.astimezone(tz).date().isoformat()
    return f"caf-consultation-log-{span}.csv"


__all__ = [
    "HEADER",
    "FilterError",
    "LogEntry",
    "LogFilter",
    "csv_text",
    "day_window",
    "entry_row",
    "excel_bytes",
    "export_csv",
    "iter_entries",
    "latest",
    "make_filter",
    "parse_query",
    "safe_cell",
]
