"""The CAF consultation log: queries, filters and the CSV export.

One log entry is one ``Consultation`` row with its professional: the reference,
when it was received, who asked (name, role, agency, contact: recorded on the entry
from the chat platform's profile at the time, by :meth:`LogService.record_asker`;
"not available" when the platform did not answer; an entry never looked up shows
the professional's details as last recorded), the age band
and categories, the suggested and the given outcome, the advisor, whether the
professional followed the advice (and why not), and the earlier references it
is linked to. Never a child's details: the log holds only what the no-names
flows stored, and the free-text answers of the consultation are not exported.

Filters (dates, outcome, category, agency, advisor) are one small value
(:class:`LogFilter`) with a text form used by ``/caflog`` and by its buttons
(``since:2026-11-01 until:2026-11-30 outcome:early_help category:neglect
agency:education advisor:<user id>``; the chat listener turns a mention into the plain
user id first). Dates are whole days in the policy's
time zone; both ends are included. Any other word (no ``key:``) searches the
consultation's free text (the professional's answers, the advice given and the
reason advice was not followed) for that word, case-insensitively; with several
words, all must appear (``/caflog attendance since:2026-11-01``). A search word
that the no-names guard reads as identifying is refused, not searched: the log
holds no names, and the word is not echoed. The words are shown back privately
to the person searching but never audited (the audit has the filter and how many
words, not the words).

CSV: RFC 4180 (``csv`` module, CRLF line ends, quoting where a value holds a
comma, a quote or a line break), UTF-8. Its columns, in this order (stable: new
columns are only ever added at the end), say things in the words people use,
from the labels the bot shows everywhere else (outcomes, categories, agencies, age
bands); ids are kept in their own columns:

 1. Reference                 ``FD-2026-000123``
 2. Received                  local time with its offset
 3. Professional              the professional's name, as recorded
 4. Role                      as recorded
 5. Agency                    ``Education`` (a label, never a key)
 6. Contact                   as recorded
 7. Age band                  ``5–10`` (an en dash: a spreadsheet reads ``5-10`` as a date)
 8. Categories                ``Neglect; Domestic abuse``
 9. Suggested outcome         ``Start an Early Help Assessment (with consent)``
10. Given outcome             the advisor's, in the same words; empty until advised
11. Advisor                   the advisor's name, from their profile when they advised
12. Advised                   local time
13. Followed advice           ``yes``, ``no`` or empty
14. Not followed reason       as typed (after the no-names guard)
15. Linked references         the earlier references, newest first, ``; ``-separated
16. Repeat count              how many consultations in the chain
17. Status                    ``open``, ``advised`` or ``closed``
18. Advisor id                the advisor's user id, on the platform in column 20
19. Professional id           the professional's user id, on the same platform
20. Platform                  the chat platform those ids are on: ``slack`` or ``teams``

Values come from people, so a cell that a spreadsheet would run as a formula
(starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) is prefixed
with a single quote (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlmodel import Session

from bot import nonames
from bot.flows.guided.rules import CATEGORIES
from bot.flows.guided.scripts import AGE_BANDS, AGENCIES, ROLES
from bot.labels import OUTCOME_LABELS
from bot.policy import ID_SHAPES, id_example, id_fits
from store import repo
from store.models import Consultation, Professional
from store.runner import TxRunner, threaded
from store.types import DEFAULT_PLATFORM

# A spreadsheet runs a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# C0 controls other than tab, newline and carriage return, and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MAX_CHAIN = 1000

AGENCY_LABELS: dict[str, str] = {o.value: o.label for o in AGENCIES}
ROLE_LABELS: dict[str, str] = {o.value: o.label for o in ROLES}
# What the log records for a detail the chat platform did not give.
NOT_AVAILABLE = "not available"
_DETAIL = 200  # the columns' width
AGE_BAND_LABELS: dict[str, str] = {o.value: o.label for o in AGE_BANDS}
FILTER_KEYS = ("since", "until", "outcome", "category", "agency", "advisor")

# In the module docstring's order; see there.
HEADER: tuple[str, ...] = (
    "Reference",
    "Received",
    "Professional",
    "Role",
    "Agency",
    "Contact",
    "Age band",
    "Categories",
    "Suggested outcome",
    "Given outcome",
    "Advisor",
    "Advised",
    "Followed advice",
    "Not followed reason",
    "Linked references",
    "Repeat count",
    "Status",
    "Advisor id",
    "Professional id",
    "Platform",
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
    advisor: str | None = None  # a user id of the platform asking
    words: tuple[str, ...] = ()  # free-text search: lower-case words, all must appear

    def is_empty(self) -> bool:
        """True when nothing is filtered."""
        return all(getattr(self, k) is None for k in FILTER_KEYS) and not self.words

    def to_query(self, *, words: bool = True) -> str:
        """The text form (``since:2026-11-01 outcome:early_help attendance``); see
        :func:`parse_query`. ``words=False`` leaves out the search words (for the audit)."""
        parts = []
        for key in FILTER_KEYS:
            value = getattr(self, key)
            if value is not None:
                parts.append(f"{key}:{value.isoformat() if isinstance(value, date) else value}")
        if words:
            parts += self.words
        return " ".join(parts)

    def matches_text(self, texts: Iterable[str]) -> bool:
        """Whether every search word appears in ``texts`` (case-insensitive)."""
        if not self.words:
            return True
        haystack = "\n".join(texts).casefold()
        return all(w in haystack for w in self.words)

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
        if self.words:
            parts.append("containing " + " and ".join(f'"{w}"' for w in self.words))
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


def make_filter(labels: Mapping[str, str] | None = None, *, platform: str | None = None,
                **values: Any) -> LogFilter:
    """A checked filter from loose values (strings or dates; empty means "any").

    ``labels`` names the fields in the problems as the person saw them (the modal's
    "From" and "To"); by default a field is named by its key (``since``), as typed.
    ``advisor`` is a plain user id of ``platform`` (its listener has parsed any mention);
    with no platform, an id of any platform the policy knows.
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
    if advisor and not any(id_fits(p, "user", advisor)
                           for p in ((platform,) if platform else tuple(ID_SHAPES))):
        what = " such as ".join(id_example(platform)) if platform else "a user id"
        problems.append(f"advisor: must be {what}; the Filter… button has a people picker")
    if out.get("since") and out.get("until") and out["since"] > out["until"]:
        problems.append(f"{name['since']}: must not be after {name['until']}")
    words: list[str] = []
    for n, word in enumerate(values.get("words") or (), start=1):
        if nonames.scan(word):  # not echoed: it may be a child's name
            problems.append(f"search word {n} could identify someone, and the log holds no "
                            "names: search for what the worry is about (e.g. attendance)")
        elif word.casefold() not in words:
            words.append(word.casefold())
    if problems:
        raise FilterError(problems)
    return LogFilter(outcome=outcome, category=category, agency=agency, advisor=advisor,
                     words=tuple(words), **out)


def parse_query(text: str, *, platform: str | None = None) -> LogFilter:
    """Parse ``key:value`` words (``since:2026-11-01 advisor:<user id>``) into a filter;
    a word without a colon is a search word (``attendance``). ``platform`` as for
    :func:`make_filter`."""
    values: dict[str, Any] = {}
    words: list[str] = []
    problems: list[str] = []
    for n, word in enumerate((text or "").split(), start=1):
        key, sep, value = word.partition(":")
        key = key.lower()
        if not sep:
            words.append(word)
            continue
        if key not in FILTER_KEYS:
            # The word is not echoed: it may be a name typed in the wrong place.
            problems.append(
                f"word {n}: filters are {', '.join(k + ':' for k in FILTER_KEYS)} "
                "(e.g. since:2026-11-01 outcome:early_help)"
            )
            continue
        values[key] = value
    if problems:
        raise FilterError(problems)
    return make_filter(platform=platform, **values, words=words)


@dataclass(frozen=True)
class Person:
    """A professional as their chat platform's profile describes them (plain values)."""

    name: str = ""
    title: str = ""  # their job title
    contact: str = ""  # e-mail address and/or phone number


def _detail(*values: str | None) -> str:
    """The first value given, cut to the column, or "not available"."""
    return next((v.strip()[:_DETAIL] for v in values if v and v.strip()), NOT_AVAILABLE)


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
    advisor_name: str = ""  # as recorded for the advisor's user id; empty when unknown
    platform: str = DEFAULT_PLATFORM  # the chat platform the user ids are on


@dataclass
class _Names:
    """People's recorded names by user id (cached): the log's advisors."""

    session: Session
    names: dict[str, str] = field(default_factory=dict)

    def of(self, user: str | None) -> str:
        if not user:
            return ""
        if user not in self.names:
            self.names[user] = self.session.exec(  # type: ignore[call-overload]
                select(Professional.name).where(Professional.user_id == user)
            ).scalar_one_or_none() or ""
        return self.names[user]


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


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a JSON value (the answers are a dict of strings and lists)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _free_text(c: Consultation) -> Iterator[str]:
    """What a search word is looked for in: the answers, the advice, the reason not followed."""
    yield from _strings((c.summary or {}).get("answers"))
    for text in (c.advice_text, c.not_followed_reason):
        if text:
            yield text


def iter_entries(
    session: Session, f: LogFilter, tz: ZoneInfo, *, newest_first: bool = False
) -> Iterator[LogEntry]:
    """Every consultation matching ``f``, oldest first unless ``newest_first``.

    The category filter and the search words are applied here rather than in SQL:
    categories and answers are JSON, which SQLite and PostgreSQL query differently
    (and store non-ASCII text escaped or not).
    """
    chains = _Chains(session)
    names = _Names(session)
    result = session.exec(_statement(f, tz, newest_first=newest_first))  # type: ignore[call-overload]
    for c, p in result.yield_per(500):
        if f.category and f.category not in (c.categories or []):
            continue
        if not f.matches_text(_free_text(c)):
            continue
        # Recorded on the entry at the time; an entry never looked up (from before
        # 0007, or another platform) has the professional's details as last recorded.
        def asked(at_the_time: str | None, recorded: str) -> str:
            return recorded if at_the_time is None else at_the_time

        yield LogEntry(
            id=int(c.id or 0),
            reference=c.reference,
            received_at=c.created_at,
            professional=asked(c.asker_name, p.name),
            role=asked(c.asker_role, p.role),
            agency=asked(c.asker_agency, p.agency),
            contact=asked(c.asker_contact, p.contact),
            professional_user_id=p.user_id,
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
            advisor_name=asked(c.advisor_name, names.of(c.advisor_user_id)),
            platform=c.platform,
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
    """One entry as CSV values, in :data:`HEADER` order: stored keys as their labels."""
    followed = {True: "yes", False: "no", None: ""}[e.followed_advice]
    return [
        e.reference,
        local_time(e.received_at, tz),
        e.professional,
        e.role,
        AGENCY_LABELS.get(e.agency, e.agency),
        e.contact,
        AGE_BAND_LABELS.get(e.age_band, e.age_band),
        "; ".join(CATEGORIES.get(c, c) for c in e.categories),
        OUTCOME_LABELS.get(e.suggested_outcome, e.suggested_outcome),
        OUTCOME_LABELS.get(e.given_outcome, e.given_outcome) if e.given_outcome else "",
        e.advisor_name,
        local_time(e.advised_at, tz),
        followed,
        e.not_followed_reason or "",
        "; ".join(e.linked_references),
        e.repeat_count,
        e.status,
        e.advisor or "",
        e.professional_user_id,
        e.platform,
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
    new: dict[str, Any] = {"filter": f.to_query(words=False), "entries": count}
    if f.words:  # how many, never which: the audit trail is kept for ever
        new["search_words"] = len(f.words)
    repo.audit(
        session, actor=actor, action=action, subject_type="caflog", subject_id="-",
        new=new, at=at,
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
    "Person",
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


class LogService:
    """The log as ``/caflog`` reads it: every read, export and refusal audited in the same
    transaction (the filter and a count, never the contents)."""

    def __init__(self, tx: TxRunner, tz: ZoneInfo, clock: Callable[[], datetime]) -> None:
        self.tx, self.tz, self.clock = tx, tz, clock

    def denied(self, user: str, what: str) -> None:
        """Someone without the role tried to ``what`` (view, export, filter)."""
        with self.tx.session(write=True) as s:
            repo.audit(s, actor=user, action="denied.caflog", subject_type="caflog",
                       subject_id=what, at=self.clock())

    def read(self, user: str, f: LogFilter, shown: int) -> tuple[list[LogEntry], int]:
        """The newest ``shown`` entries matching ``f`` and how many match in all."""
        with self.tx.session(write=True) as s:
            entries, total = latest(s, f, self.tz, shown)
            audit_access(s, actor=user, action="caflog.viewed", f=f, count=total,
                         at=self.clock())
            return entries, total

    def export(self, user: str, f: LogFilter) -> tuple[str, int]:
        """The entries matching ``f`` as CSV text, and how many."""
        with self.tx.session(write=True) as s:
            text, count = export_csv(s, f, self.tz)
            audit_access(s, actor=user, action="caflog.exported", f=f, count=count,
                         at=self.clock())
            return text, count

    def record_asker(self, consultation_id: int, person: Person | None) -> bool:
        """Record who asked, from their profile (None: the platform did not answer). Role:
        their job title, else the role they chose in the flow; agency: the one they chose.
        The first record stands (a retry changes nothing); False if there was one."""
        with self.tx.session(write=True) as s:
            c = s.get(Consultation, consultation_id)
            if c is None or c.asker_name is not None:
                return False
            answers = (c.summary or {}).get("answers") or {}
            who = person or Person()
            values = {
                "asker_name": _detail(who.name),
                "asker_role": _detail(who.title, ROLE_LABELS.get(str(answers.get("role")))),
                "asker_agency": _detail(AGENCY_LABELS.get(str(answers.get("agency")))),
                "asker_contact": _detail(who.contact),
            }
            if not _first_record(s, consultation_id, Consultation.asker_name, values):
                return False
            user = s.get(Professional, c.professional_id)
            if person is not None and user is not None:  # their row, as now known
                repo.professional_id(s, user.user_id, platform=user.platform,
                                     name=person.name[:_DETAIL],
                                     contact=person.contact[:_DETAIL])
            return True

    def record_advisor(self, consultation_id: int, advisor: str, person: Person | None,
                       ) -> bool:
        """Record who advised (``advisor``'s profile; None: not available); first stands."""
        with self.tx.session(write=True) as s:
            c = s.get(Consultation, consultation_id)
            who = person or Person()
            values = {"advisor_name": _detail(who.name), "advisor_role": _detail(who.title)}
            if c is None or not _first_record(s, consultation_id, Consultation.advisor_name,
                                              values, Consultation.advisor_user_id == advisor):
                return False
            if person is not None and person.name:
                repo.professional_id(s, advisor, platform=c.platform,
                                     name=person.name[:_DETAIL])
            return True

    # The same as coroutines, for code on the event loop (``store.runner``).
    arecord_asker = threaded(record_asker)
    arecord_advisor = threaded(record_advisor)
    adenied = threaded(denied)
    aread = threaded(read)
    aexport = threaded(export)


def _first_record(s: Session, consultation_id: int, column: Any, values: dict[str, str],
                  *where: Any) -> bool:
    """Set ``values`` on the consultation unless ``column`` holds a record already."""
    done = s.exec(update(Consultation).where(  # type: ignore[call-overload]
        Consultation.id == consultation_id, column.is_(None), *where).values(**values))
    return bool(done.rowcount)
