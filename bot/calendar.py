"""Working-time calendar for SLA clocks, in a real time zone with real bank holidays.

A front door's clocks come in three kinds (see :class:`Basis`):

* ``wall``: elapsed real time, 24/7 (a Red "within 4 hours" runs through the night);
* ``working_hours``: only time inside office hours on working days counts;
* ``working_days``: whole working days ("within 3 working days").

Why the care: ``datetime`` arithmetic between two aware datetimes that share a ``tzinfo`` is
*wall-clock* arithmetic, so ``london_dt + timedelta(hours=4)`` across the March change is only 3
real hours, and ``due - now`` is off by an hour across a change. Everything here is therefore
done on UTC instants; local wall time is used only to decide *where* office hours fall. Callers
should compare or subtract the returned datetimes via UTC too (``.astimezone(UTC)``), for the
same reason.

Bank holidays come from the ``holidays`` package for the nation (England, Wales, Scotland or
Northern Ireland), which includes the "(observed)" substitute days (e.g. Boxing Day 2026 is a
Saturday, so Monday 28 December 2026 is a holiday), plus any local ``closures``.
"""

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = ["NATIONS", "Basis", "WorkingCalendar"]

NATIONS: tuple[str, ...] = ("england", "wales", "scotland", "northern_ireland")

# ISO 3166-2 subdivision codes used by holidays.country_holidays("GB", subdiv=...).
_SUBDIVISIONS: dict[str, str] = {
    "england": "ENG",
    "wales": "WLS",
    "scotland": "SCT",
    "northern_ireland": "NIR",
}

# A calendar with this many consecutive days without office time is treated as broken
# (e.g. a closures list covering a whole year) rather than searched forever.
MAX_CLOSED_DAYS = 366

_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)


class Basis(StrEnum):
    """How an SLA clock's duration is measured."""

    WALL = "wall"
    """Elapsed real time, 24/7, regardless of office hours (UTC arithmetic, so DST-correct)."""
    WORKING_HOURS = "working_hours"
    """Only time inside office hours on working days counts."""
    WORKING_DAYS = "working_days"
    """Whole working days; the duration must be a whole number of days."""


class WorkingCalendar:
    """Office hours + bank holidays + local closures for one front door, in one time zone.

    All datetime arguments must be timezone-aware (naive ones raise ``ValueError``); they may be
    in any zone. Returned datetimes are aware and expressed in :attr:`tz`.

    Office hours are local wall-clock ``(opens, closes)`` per weekday (0=Monday .. 6=Sunday),
    half-open ``[opens, closes)``, with ``opens < closes`` on the same day (overnight shifts
    are out of scope: out-of-hours is EDT's job, and Red clocks use ``wall`` anyway).
    """

    tz: ZoneInfo

    def __init__(
        self,
        office_hours: Mapping[int, tuple[time, time] | None],
        nation: str = "england",
        closures: Iterable[date] = (),
        tz: str = "Europe/London",
    ) -> None:
        """Validate and store the calendar.

        Raises ``ValueError`` for an unknown nation or zone, malformed hours, hours that are
        never open (every clock would search forever), or datetimes given as closures.
        """
        if nation not in _SUBDIVISIONS:
            raise ValueError(f"unknown nation {nation!r}; expected one of {NATIONS}")
        try:
            self.tz = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {tz!r}") from exc
        self.nation = nation
        self._subdiv = _SUBDIVISIONS[nation]

        hours: dict[int, tuple[time, time]] = {}
        for weekday, span in office_hours.items():
            if not isinstance(weekday, int) or isinstance(weekday, bool) or not 0 <= weekday <= 6:
                raise ValueError(f"office_hours key must be a weekday 0..6, got {weekday!r}")
            if span is None:
                continue
            opens, closes = span
            if not isinstance(opens, time) or not isinstance(closes, time):
                raise ValueError(f"office hours for weekday {weekday} must be two times")
            if opens.tzinfo is not None or closes.tzinfo is not None:
                # Office hours are local wall time in self.tz; a zone here would be ambiguous.
                raise ValueError("office hours must be naive local times")
            if not opens < closes:
                raise ValueError(
                    f"weekday {weekday}: opening {opens} must be before closing {closes}"
                )
            hours[weekday] = (opens, closes)
        if not hours:
            raise ValueError("calendar has no office hours at all; working clocks would never end")
        self.office_hours: dict[int, tuple[time, time]] = hours

        closed: set[date] = set()
        for d in closures:
            # A datetime is a date subclass but never equals a date, so it would silently miss.
            if isinstance(d, datetime) or not isinstance(d, date):
                raise ValueError(f"closures must be dates, got {d!r}")
            closed.add(d)
        self.closures: frozenset[date] = frozenset(closed)

        self._holiday_cache: dict[int, frozenset[date]] = {}
        self._interval_cache: dict[date, tuple[datetime, datetime] | None] = {}

    def __repr__(self) -> str:
        return (
            f"WorkingCalendar(nation={self.nation!r}, tz={self.tz.key!r}, "
            f"days={sorted(self.office_hours)}, closures={len(self.closures)})"
        )

    # ------------------------------------------------------------------ public API

    def bank_holidays(self, year: int) -> frozenset[date]:
        """The nation's bank holidays in ``year`` (substitute "(observed)" days included)."""
        cached = self._holiday_cache.get(year)
        if cached is None:
            found = holidays.country_holidays("GB", subdiv=self._subdiv, years=year)
            cached = frozenset(d for d in found if d.year == year)
            self._holiday_cache[year] = cached
        return cached

    def is_working_day(self, d: date) -> bool:
        """True if ``d`` has office hours, is not a bank holiday and is not a closure.

        An aware datetime is accepted and converted to its local date in :attr:`tz`.
        """
        if isinstance(d, datetime):
            d = self._to_utc(d).astimezone(self.tz).date()
        return (
            d.weekday() in self.office_hours
            and d not in self.closures
            and d not in self.bank_holidays(d.year)
        )

    def is_open(self, t: datetime) -> bool:
        """True if ``t`` is inside office hours ``[opens, closes)`` on a working day."""
        u = self._to_utc(t)
        d = u.astimezone(self.tz).date()
        # The day before too, in case a DST-shifted interval spills past local midnight.
        for day in (d - _ONE_DAY, d):
            iv = self._interval(day)
            if iv is not None and iv[0] <= u < iv[1]:
                return True
        return False

    def next_open(self, t: datetime) -> datetime:
        """``t`` itself if open, otherwise the next opening instant (in :attr:`tz`)."""
        return self._next_open_utc(self._to_utc(t)).astimezone(self.tz)

    def due(self, start: datetime, duration: timedelta, basis: Basis | str) -> datetime:
        """When a clock started at ``start`` with ``duration`` on ``basis`` falls due.

        * ``wall``: ``start + duration`` in real (UTC) time, ignoring office hours.
        * ``working_hours``: the clock starts at ``next_open(start)`` and consumes open time.
          A deadline landing exactly on a closing instant stays there (it is not rolled to the
          next morning), so the returned instant may be a close, where ``is_open`` is False.
        * ``working_days`` (N days): let ``s = next_open(start)`` (the effective start). The due
          instant is the same local time-of-day as ``s`` on the N-th working day after ``s``'s
          local date, clamped into that day's office hours: no later than its closing time
          (e.g. Thursday 17:00 + 1 working day = Friday 16:20, Friday's early close) and no
          earlier than its opening time. Keeping local time (not elapsed time) means a clock
          across a DST change still falls due at e.g. 15:00. Known limit: if office hours
          covered the repeated autumn hour (01:00-02:00), two starts in that hour could map
          out of order; real office hours never do.
        """
        b = Basis(basis)
        s = self._to_utc(start, "start")
        _check_duration(duration, b)
        return self._due_utc(s, duration, b).astimezone(self.tz)

    def point(
        self, start: datetime, duration: timedelta, basis: Basis | str, fraction: float
    ) -> datetime:
        """The instant ``fraction`` (0 < fraction <= 1) of the way through the clock.

        Measured in the clock's own time: real time for ``wall``; open time between the
        effective start and the due instant for ``working_hours`` and ``working_days``.
        ``point(..., 1.0) == due(...)``. Used for "warn at 50% and 80%".
        """
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
            raise ValueError(f"fraction must be a number, got {fraction!r}")
        if not (math.isfinite(fraction) and 0 < fraction <= 1):
            raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
        b = Basis(basis)
        s = self._to_utc(start, "start")
        _check_duration(duration, b)
        if b is Basis.WALL:
            return (s + duration * fraction).astimezone(self.tz)
        due = self._due_utc(s, duration, b)
        if fraction == 1:
            # Exactly due: a working-days due clamped to a day's opening is not reachable by
            # consuming open time (it equals the previous close in open time), so don't try.
            return due.astimezone(self.tz)
        eff = self._next_open_utc(s)
        total = duration if b is Basis.WORKING_HOURS else self._working_between(eff, due)
        return self._add_working(eff, total * fraction).astimezone(self.tz)

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Open time in ``[a, b)`` (zero if ``b <= a``)."""
        return self._working_between(self._to_utc(a, "a"), self._to_utc(b, "b"))

    def remaining(self, now: datetime, due: datetime, basis: Basis | str) -> timedelta:
        """Time left on a clock.

        ``wall``: ``due - now`` in real time (negative once overdue). Working bases: open time
        from ``now`` to ``due`` (zero once past).
        """
        b = Basis(basis)
        n = self._to_utc(now, "now")
        d = self._to_utc(due, "due")
        if b is Basis.WALL:
            return d - n
        return self._working_between(n, d)

    # ------------------------------------------------------------------ internals (UTC)

    def _to_utc(self, t: datetime, name: str = "t") -> datetime:
        if not isinstance(t, datetime):
            raise ValueError(f"{name} must be a datetime, got {type(t).__name__}")
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware, got naive {t!r}")
        return t.astimezone(UTC)

    def _interval(self, d: date) -> tuple[datetime, datetime] | None:
        """The UTC ``[open, close)`` instants of local date ``d``, or None if closed."""
        try:
            return self._interval_cache[d]
        except KeyError:
            pass
        iv: tuple[datetime, datetime] | None = None
        if self.is_working_day(d):
            opens, closes = self.office_hours[d.weekday()]
            # combine(..., tzinfo) then astimezone(UTC) resolves local wall time; a time in a
            # spring-forward gap resolves (fold=0) to the instant an hour later on the clock.
            o = datetime.combine(d, opens, tzinfo=self.tz).astimezone(UTC)
            c = datetime.combine(d, closes, tzinfo=self.tz).astimezone(UTC)
            if o < c:  # only false for hours squeezed inside a DST gap: treat as closed
                iv = (o, c)
        if len(self._interval_cache) > 50_000:  # long-running bot: keep memory bounded
            self._interval_cache.clear()
        self._interval_cache[d] = iv
        return iv

    def _closed_run_check(self, run: int, since: date) -> None:
        if run > MAX_CLOSED_DAYS:
            raise ValueError(
                f"no office time in the {MAX_CLOSED_DAYS} days from {since}; "
                "check office hours and closures"
            )

    def _next_open_utc(self, u: datetime) -> datetime:
        d = u.astimezone(self.tz).date() - _ONE_DAY
        first = d
        run = 0
        while True:
            iv = self._interval(d)
            if iv is None:
                run += 1
                self._closed_run_check(run, first)
            else:
                run = 0
                if u < iv[1]:
                    return max(u, iv[0])
            d += _ONE_DAY

    def _add_working(self, s: datetime, amount: timedelta) -> datetime:
        """The instant at which ``amount`` of open time has elapsed from ``s``.

        Walks whole days (each costs O(1)), so long clocks stay cheap. Lands exactly on a
        close rather than rolling over when the amount is used up at a close.
        """
        if amount <= _ZERO:
            return s
        remaining = amount
        d = s.astimezone(self.tz).date() - _ONE_DAY
        first = d
        run = 0
        while True:
            iv = self._interval(d)
            if iv is None:
                run += 1
                self._closed_run_check(run, first)
            else:
                run = 0
                seg = max(iv[0], s)
                if seg < iv[1]:
                    avail = iv[1] - seg
                    if remaining <= avail:
                        return seg + remaining
                    remaining -= avail
            d += _ONE_DAY

    def _working_between(self, a: datetime, b: datetime) -> timedelta:
        if b <= a:
            return _ZERO
        total = _ZERO
        d = a.astimezone(self.tz).date() - _ONE_DAY
        last = b.astimezone(self.tz).date()
        while d <= last:
            iv = self._interval(d)
            if iv is not None:
                lo = max(iv[0], a)
                hi = min(iv[1], b)
                if hi > lo:
                    total += hi - lo
            d += _ONE_DAY
        return total

    def _nth_working_day_after(self, d: date, n: int) -> date:
        first = d
        run = 0
        while n > 0:
            d += _ONE_DAY
            if self._interval(d) is None:
                run += 1
                self._closed_run_check(run, first)
            else:
                run = 0
                n -= 1
        return d

    def _due_utc(self, s: datetime, duration: timedelta, basis: Basis) -> datetime:
        if basis is Basis.WALL:
            return s + duration  # s is UTC, so this is real elapsed time
        eff = self._next_open_utc(s)
        if basis is Basis.WORKING_HOURS:
            return self._add_working(eff, duration)
        local = eff.astimezone(self.tz)
        target = self._nth_working_day_after(local.date(), duration.days)
        iv = self._interval(target)
        if iv is None:  # cannot happen: _nth_working_day_after only returns open days
            raise RuntimeError(f"{target} has no office time")
        # Same local time-of-day on the target day (DST-safe), clamped into its office hours.
        candidate = datetime.combine(target, local.time(), tzinfo=self.tz).astimezone(UTC)
        return min(max(candidate, iv[0]), iv[1])


def _check_duration(duration: timedelta, basis: Basis) -> None:
    if not isinstance(duration, timedelta):
        raise ValueError(f"duration must be a timedelta, got {type(duration).__name__}")
    if duration <= _ZERO:
        raise ValueError(f"duration must be positive, got {duration}")
    if basis is Basis.WORKING_DAYS and duration % _ONE_DAY:
        raise ValueError(f"working_days clocks need a whole number of days, got {duration}")
