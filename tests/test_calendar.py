"""Tests for bot.calendar: real zones (Europe/London) and real UK bank holidays, no mocks.

Expected datetimes are worked out by hand in the comments. Comparisons of instants go through
UTC (``_u``) because Python compares/subtracts two datetimes that share a tzinfo by wall time,
which is wrong across a DST change.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.calendar import NATIONS, Basis, WorkingCalendar

LONDON = ZoneInfo("Europe/London")

# Cambridgeshire MASH: "8.45am-5.20pm or 4.20pm on a Friday"; closed at weekends.
MON_THU = (time(8, 45), time(17, 20))
FRI = (time(8, 45), time(16, 20))
MASH_HOURS: dict[int, tuple[time, time] | None] = {
    0: MON_THU,
    1: MON_THU,
    2: MON_THU,
    3: MON_THU,
    4: FRI,
    5: None,
    6: None,
}

MASH = WorkingCalendar(MASH_HOURS, nation="england")
MASH_SCOT = WorkingCalendar(MASH_HOURS, nation="scotland")
MASH_NI = WorkingCalendar(MASH_HOURS, nation="northern_ireland")
MASH_WALES = WorkingCalendar(MASH_HOURS, nation="wales")
# A council that also shuts between Christmas and New Year.
MASH_XMAS_SHUT = WorkingCalendar(
    MASH_HOURS,
    nation="england",
    closures=[date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31)],
)

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def lon(y: int, m: int, d: int, hh: int = 0, mm: int = 0, fold: int = 0) -> datetime:
    """Europe/London local wall time."""
    return datetime(y, m, d, hh, mm, tzinfo=LONDON, fold=fold)


def _u(t: datetime) -> datetime:
    """The UTC instant, for comparisons that must be real-time correct."""
    return t.astimezone(UTC)


def assert_instant(got: datetime, expected: datetime) -> None:
    """Same instant, same offset (so e.g. 04:30 BST is not accepted for 04:30 GMT) and in tz."""
    assert got.tzinfo == LONDON
    assert _u(got) == _u(expected), f"{got} != {expected}"
    assert got.utcoffset() == expected.utcoffset()
    assert got.replace(tzinfo=None) == expected.replace(tzinfo=None)


# ---------------------------------------------------------------- bank holiday data


def test_holidays_package_includes_substitute_days() -> None:
    # Boxing Day 2026 is a Saturday; the GB data adds "Boxing Day (observed)" on Mon 28 Dec.
    eng = holidays.country_holidays("GB", subdiv="ENG", years=2026)
    assert date(2026, 12, 28) in eng
    assert "observed" in eng[date(2026, 12, 28)].lower()
    assert not MASH.is_working_day(date(2026, 12, 28))
    assert not MASH.is_working_day(date(2026, 12, 25))
    assert MASH.is_working_day(date(2026, 12, 24))  # Christmas Eve is an ordinary day
    assert MASH.is_working_day(date(2026, 12, 29))
    assert date(2026, 12, 28) in MASH.bank_holidays(2026)


def test_weekends_and_closures_are_not_working_days() -> None:
    assert not MASH.is_working_day(date(2026, 11, 28))  # Saturday
    assert not MASH.is_working_day(date(2026, 11, 29))  # Sunday
    assert MASH.is_working_day(date(2026, 12, 29))
    assert not MASH_XMAS_SHUT.is_working_day(date(2026, 12, 29))


def test_scotland_vs_england_holidays() -> None:
    # 2 January: Scottish "New Year Holiday", not English.
    assert not MASH_SCOT.is_working_day(date(2026, 1, 2))
    assert MASH.is_working_day(date(2026, 1, 2))
    # St Andrew's Day, Monday 30 November 2026: Scotland only.
    assert not MASH_SCOT.is_working_day(date(2026, 11, 30))
    assert MASH.is_working_day(date(2026, 11, 30))
    # Easter Monday, 6 April 2026: England (and Wales, NI), not Scotland.
    assert not MASH.is_working_day(date(2026, 4, 6))
    assert not MASH_WALES.is_working_day(date(2026, 4, 6))
    assert MASH_SCOT.is_working_day(date(2026, 4, 6))
    # Good Friday everywhere.
    for cal in (MASH, MASH_SCOT, MASH_NI, MASH_WALES):
        assert not cal.is_working_day(date(2026, 4, 3))
    # Summer holiday: Scotland first Monday of August, England last Monday.
    assert not MASH_SCOT.is_working_day(date(2026, 8, 3))
    assert MASH_SCOT.is_working_day(date(2026, 8, 31))
    assert not MASH.is_working_day(date(2026, 8, 31))
    assert MASH.is_working_day(date(2026, 8, 3))


def test_scotland_vs_england_due_differs() -> None:
    # 1 working day from Wed 31 Dec 2025 10:00. Thu 1 Jan is a holiday in both.
    # England: Fri 2 Jan is the next working day -> Fri 2 Jan 10:00 (before Friday's 16:20 close).
    # Scotland: Fri 2 Jan is a holiday too, then the weekend -> Mon 5 Jan 10:00.
    start = lon(2025, 12, 31, 10)
    assert_instant(MASH.due(start, DAY, Basis.WORKING_DAYS), lon(2026, 1, 2, 10))
    assert_instant(MASH_SCOT.due(start, DAY, Basis.WORKING_DAYS), lon(2026, 1, 5, 10))
    # The other way round at Easter: 1 working day from Thu 2 Apr 2026 10:00; Fri 3 Apr is
    # Good Friday for both; Mon 6 Apr is Easter Monday in England only.
    start = lon(2026, 4, 2, 10)
    assert_instant(MASH.due(start, DAY, Basis.WORKING_DAYS), lon(2026, 4, 7, 10))
    assert_instant(MASH_SCOT.due(start, DAY, Basis.WORKING_DAYS), lon(2026, 4, 6, 10))


def test_northern_ireland_holidays() -> None:
    ni = holidays.country_holidays("GB", subdiv="NIR", years=2026)
    # St Patrick's Day, Tuesday 17 March 2026.
    assert date(2026, 3, 17) in ni
    assert not MASH_NI.is_working_day(date(2026, 3, 17))
    assert MASH.is_working_day(date(2026, 3, 17))
    # Battle of the Boyne: 12 July 2026 is a Sunday. `holidays` lists both the Sunday itself
    # and "Battle of the Boyne (observed)" on Monday 13 July.
    assert date(2026, 7, 12) in ni
    assert "observed" in ni[date(2026, 7, 13)].lower()
    assert not MASH_NI.is_working_day(date(2026, 7, 13))
    assert MASH.is_working_day(date(2026, 7, 13))
    # 1 working day from Fri 10 Jul 2026 11:00 in NI skips Mon 13 -> Tue 14 Jul 11:00.
    start = lon(2026, 7, 10, 11)
    assert_instant(MASH_NI.due(start, DAY, "working_days"), lon(2026, 7, 14, 11))
    assert_instant(MASH.due(start, DAY, "working_days"), lon(2026, 7, 13, 11))
    # In 2027 the 12th is a Monday: the day itself, no substitute.
    assert not MASH_NI.is_working_day(date(2027, 7, 12))
    assert MASH_NI.is_working_day(date(2027, 7, 13))


# ---------------------------------------------------------------- worked examples


def test_three_working_days_over_christmas() -> None:
    # Start Thu 24 Dec 2026 15:00 GMT (open: Thursday hours 08:45-17:20).
    # Fri 25 Christmas Day, Sat 26 / Sun 27 weekend, Mon 28 Boxing Day (observed).
    # Working days after the 24th: Tue 29 (1), Wed 30 (2), Thu 31 (3) -> Thu 31 Dec 15:00.
    start = lon(2026, 12, 24, 15)
    assert_instant(MASH.due(start, 3 * DAY, Basis.WORKING_DAYS), lon(2026, 12, 31, 15))


def test_three_working_days_over_christmas_with_council_closure() -> None:
    # As above, but 29-31 Dec are closures too. Fri 1 Jan 2027 is New Year's Day, then the
    # weekend. Working days: Mon 4 Jan (1), Tue 5 (2), Wed 6 (3) -> Wed 6 Jan 2027 15:00.
    start = lon(2026, 12, 24, 15)
    due = MASH_XMAS_SHUT.due(start, 3 * DAY, Basis.WORKING_DAYS)
    assert_instant(due, lon(2027, 1, 6, 15))


def test_red_wall_clock_runs_through_friday_evening() -> None:
    # Red: 4 hours wall clock from Fri 27 Nov 2026 16:10 -> Fri 20:10, though the office shut
    # at 16:20 (EDT picks it up).
    start = lon(2026, 11, 27, 16, 10)
    assert_instant(MASH.due(start, 4 * HOUR, Basis.WALL), lon(2026, 11, 27, 20, 10))
    assert_instant(MASH.point(start, 4 * HOUR, "wall", 0.5), lon(2026, 11, 27, 18, 10))


def test_four_working_hours_from_friday_afternoon() -> None:
    # 10 min on Friday (16:10-16:20), then 3h50 from Monday's 08:45 opening -> Mon 30 Nov 12:35.
    start = lon(2026, 11, 27, 16, 10)
    assert_instant(MASH.due(start, 4 * HOUR, Basis.WORKING_HOURS), lon(2026, 11, 30, 12, 35))
    # In Scotland Monday 30 Nov is St Andrew's Day, so the same clock ends Tue 1 Dec 12:35.
    assert_instant(MASH_SCOT.due(start, 4 * HOUR, "working_hours"), lon(2026, 12, 1, 12, 35))


def test_friday_early_close() -> None:
    # 1 working hour from Fri 15:50: 30 min to the 16:20 close, 30 min from Monday 08:45.
    start = lon(2026, 11, 27, 15, 50)
    assert_instant(MASH.due(start, HOUR, Basis.WORKING_HOURS), lon(2026, 11, 30, 9, 15))
    # At 17:00 on a Thursday, 1 working day lands on Friday, clamped to its 16:20 close.
    assert_instant(
        MASH.due(lon(2026, 11, 26, 17), DAY, Basis.WORKING_DAYS), lon(2026, 11, 27, 16, 20)
    )


def test_deadline_exactly_at_close_stays_at_close() -> None:
    # 1 working hour from Fri 15:20 ends at Friday's close, not Monday 08:45.
    due = MASH.due(lon(2026, 11, 27, 15, 20), HOUR, Basis.WORKING_HOURS)
    assert_instant(due, lon(2026, 11, 27, 16, 20))
    assert not MASH.is_open(due)  # [opens, closes): the close instant itself is shut
    assert MASH.remaining(lon(2026, 11, 27, 16), due, "working_hours") == timedelta(minutes=20)


def test_start_outside_hours_begins_at_next_open() -> None:
    # Saturday 10:00: working hours start Monday 08:45.
    sat = lon(2026, 11, 28, 10)
    assert_instant(MASH.next_open(sat), lon(2026, 11, 30, 8, 45))
    assert_instant(MASH.due(sat, 2 * HOUR, Basis.WORKING_HOURS), lon(2026, 11, 30, 10, 45))
    # Working days: effective start Mon 08:45, so 3 working days -> Thu 3 Dec 08:45.
    assert_instant(MASH.due(sat, 3 * DAY, Basis.WORKING_DAYS), lon(2026, 12, 3, 8, 45))
    # Early morning: Tue 07:00 -> Tue 08:45 + 1 working day -> Wed 08:45.
    assert_instant(MASH.due(lon(2026, 12, 1, 7), DAY, "working_days"), lon(2026, 12, 2, 8, 45))


def test_next_open_and_is_open_boundaries() -> None:
    assert MASH.is_open(lon(2026, 11, 30, 8, 45))
    assert not MASH.is_open(lon(2026, 11, 30, 8, 44))
    assert not MASH.is_open(lon(2026, 11, 30, 17, 20))
    assert MASH.is_open(lon(2026, 11, 27, 16, 19))
    assert not MASH.is_open(lon(2026, 11, 27, 16, 20))
    assert not MASH.is_open(lon(2026, 12, 25, 10))  # Christmas Day, a Friday
    # Open: returns the same instant.
    t = lon(2026, 11, 30, 12, 34)
    assert_instant(MASH.next_open(t), t)
    # Closing Thursday -> Friday 08:45; closing Christmas Eve -> Tue 29 Dec 08:45.
    assert_instant(MASH.next_open(lon(2026, 11, 26, 17, 20)), lon(2026, 11, 27, 8, 45))
    assert_instant(MASH.next_open(lon(2026, 12, 24, 17, 20)), lon(2026, 12, 29, 8, 45))


def test_inputs_in_other_zones_are_converted() -> None:
    # 16:10 GMT given as UTC and as New York time gives the same answer, returned in London.
    start_utc = datetime(2026, 11, 27, 16, 10, tzinfo=UTC)
    start_ny = start_utc.astimezone(ZoneInfo("America/New_York"))
    for start in (start_utc, start_ny):
        assert_instant(MASH.due(start, 4 * HOUR, "working_hours"), lon(2026, 11, 30, 12, 35))
        assert MASH.due(start, 4 * HOUR, "wall").tzinfo == LONDON


def test_point_warnings_on_working_days_clock() -> None:
    # 3 working days from Thu 24 Dec 2026 15:00 -> Thu 31 Dec 15:00. Open time in between:
    # Thu 24 15:00-17:20 = 140 min; Tue 29 and Wed 30 = 515 min each (08:45-17:20);
    # Thu 31 08:45-15:00 = 375 min. Total 1545 min.
    start = lon(2026, 12, 24, 15)
    due = MASH.due(start, 3 * DAY, Basis.WORKING_DAYS)
    assert MASH.working_time_between(start, due) == timedelta(minutes=1545)
    # 50% = 772.5 min: 140 (Thu) + 515 (Tue) leaves 117.5 min on Wed -> Wed 30 Dec 10:42:30.
    half = MASH.point(start, 3 * DAY, Basis.WORKING_DAYS, 0.5)
    assert_instant(half, lon(2026, 12, 30, 10, 42) + timedelta(seconds=30))
    # 80% = 1236 min: 140 + 515 + 515 leaves 66 min on Thu 31 -> 09:51.
    assert_instant(MASH.point(start, 3 * DAY, "working_days", 0.8), lon(2026, 12, 31, 9, 51))
    assert_instant(MASH.point(start, 3 * DAY, "working_days", 1.0), due)


def test_point_working_hours() -> None:
    # 4 working hours from Fri 16:10: 50% = 2h -> 10 min Friday + 1h50 Monday -> Mon 10:35.
    start = lon(2026, 11, 27, 16, 10)
    assert_instant(MASH.point(start, 4 * HOUR, "working_hours", 0.5), lon(2026, 11, 30, 10, 35))


def test_long_working_hours_clock() -> None:
    # 100 working hours = 6000 min from Mon 7 Dec 2026 08:45. A Mon-Fri week has
    # 4 x 515 + 455 = 2515 min, two weeks 5030, leaving 970 min from Mon 21 Dec:
    # Mon 515 -> 455 left; Tue 22 Dec 08:45 + 455 min (7h35) = 16:20.
    start = lon(2026, 12, 7, 8, 45)
    assert_instant(MASH.due(start, 100 * HOUR, "working_hours"), lon(2026, 12, 22, 16, 20))


# ---------------------------------------------------------------- DST


def test_wall_clock_across_spring_forward() -> None:
    # Sat 28 Mar 2026 23:30 GMT + 4 real hours = 03:30 UTC = Sun 29 Mar 04:30 BST.
    start = lon(2026, 3, 28, 23, 30)
    due = MASH.due(start, 4 * HOUR, Basis.WALL)
    assert_instant(due, lon(2026, 3, 29, 4, 30))
    assert due.utcoffset() == HOUR
    assert MASH.remaining(start, due, Basis.WALL) == 4 * HOUR
    # The trap this avoids: same-tzinfo subtraction is wall-clock, 5 hours here.
    assert due - start == 5 * HOUR


def test_wall_clock_across_fall_back() -> None:
    # Sat 24 Oct 2026 23:30 BST (22:30 UTC) + 4h = 02:30 UTC = Sun 25 Oct 02:30 GMT.
    start = lon(2026, 10, 24, 23, 30)
    due = MASH.due(start, 4 * HOUR, "wall")
    assert_instant(due, lon(2026, 10, 25, 2, 30))
    assert due.utcoffset() == timedelta(0)
    assert MASH.remaining(start, due, "wall") == 4 * HOUR
    # Halfway is 00:30 UTC = 01:30 BST, the *first* 01:30 of that night.
    half = MASH.point(start, 4 * HOUR, "wall", 0.5)
    assert _u(half) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert half.fold == 0 and half.utcoffset() == HOUR


def test_working_days_keep_local_time_across_dst() -> None:
    # Thu 26 Mar 2026 10:00 GMT + 2 working days: Fri 27 (1), Mon 30 (2) -> Mon 30 Mar
    # 10:00 BST: same local time, though only 4 days minus 1 hour of real time later.
    start = lon(2026, 3, 26, 10)
    due = MASH.due(start, 2 * DAY, Basis.WORKING_DAYS)
    assert_instant(due, lon(2026, 3, 30, 10))
    assert _u(due) - _u(start) == 4 * DAY - HOUR
    # Autumn: Fri 23 Oct 2026 09:00 BST + 1 working day -> Mon 26 Oct 09:00 GMT.
    due = MASH.due(lon(2026, 10, 23, 9), DAY, "working_days")
    assert_instant(due, lon(2026, 10, 26, 9))
    assert due.utcoffset() == timedelta(0)


def test_working_hours_across_dst_weekend() -> None:
    # Fri 27 Mar 2026 16:00 GMT + 2 working hours: 20 min Friday, 1h40 from Mon 08:45 BST.
    start = lon(2026, 3, 27, 16)
    assert_instant(MASH.due(start, 2 * HOUR, "working_hours"), lon(2026, 3, 30, 10, 25))


def test_open_time_on_the_short_and_long_days() -> None:
    # A calendar open 00:00-23:00 every day: on 29 Mar 2026 the hour 01:00-02:00 does not
    # exist, so there are 22 real open hours; on 25 Oct 01:00-02:00 happens twice: 24 hours.
    all_days = {d: (time(0), time(23)) for d in range(7)}
    cal = WorkingCalendar(all_days, nation="england")
    assert cal.working_time_between(lon(2026, 3, 29), lon(2026, 3, 30)) == 22 * HOUR
    assert cal.working_time_between(lon(2026, 10, 25), lon(2026, 10, 26)) == 24 * HOUR
    assert cal.working_time_between(lon(2026, 3, 28), lon(2026, 3, 29)) == 23 * HOUR
    # 2 working hours from Sun 29 Mar 00:30 GMT: 00:30-01:00 GMT, then 01:00 GMT is 02:00 BST,
    # 1.5h more -> 03:30 BST (02:30 UTC).
    due = cal.due(lon(2026, 3, 29, 0, 30), 2 * HOUR, "working_hours")
    assert _u(due) == datetime(2026, 3, 29, 2, 30, tzinfo=UTC)


# ---------------------------------------------------------------- validation


def test_naive_datetimes_raise() -> None:
    naive = datetime(2026, 11, 27, 16, 10)
    aware = lon(2026, 11, 27, 16, 10)
    with pytest.raises(ValueError, match="aware"):
        MASH.due(naive, HOUR, "wall")
    with pytest.raises(ValueError):
        MASH.point(naive, HOUR, "wall", 0.5)
    with pytest.raises(ValueError):
        MASH.is_open(naive)
    with pytest.raises(ValueError):
        MASH.next_open(naive)
    with pytest.raises(ValueError):
        MASH.working_time_between(aware, naive)
    with pytest.raises(ValueError):
        MASH.remaining(naive, aware, "working_hours")
    with pytest.raises(ValueError):
        MASH.is_working_day(naive)


def test_bad_durations_and_bases_raise() -> None:
    start = lon(2026, 11, 27, 10)
    with pytest.raises(ValueError):
        MASH.due(start, timedelta(0), "wall")
    with pytest.raises(ValueError):
        MASH.due(start, -HOUR, "working_hours")
    with pytest.raises(ValueError):
        MASH.due(start, timedelta(days=1, hours=2), "working_days")
    with pytest.raises(ValueError):
        MASH.due(start, HOUR, "fortnights")
    for bad in (0, -0.1, 1.01, float("nan")):
        with pytest.raises(ValueError):
            MASH.point(start, HOUR, "wall", bad)
    # 72 hours *is* 3 days to timedelta, so it is accepted as 3 working days.
    assert MASH.due(start, timedelta(hours=72), "working_days") == MASH.due(
        start, 3 * DAY, "working_days"
    )


def test_bad_calendars_raise() -> None:
    with pytest.raises(ValueError, match="no office hours"):
        WorkingCalendar({})
    with pytest.raises(ValueError, match="no office hours"):
        WorkingCalendar({d: None for d in range(7)})
    with pytest.raises(ValueError):
        WorkingCalendar({0: (time(17), time(9))})  # overnight shift
    with pytest.raises(ValueError):
        WorkingCalendar({7: MON_THU})
    with pytest.raises(ValueError):
        WorkingCalendar(MASH_HOURS, nation="cornwall")
    with pytest.raises(ValueError):
        WorkingCalendar(MASH_HOURS, tz="Europe/Atlantis")
    with pytest.raises(ValueError):
        WorkingCalendar(MASH_HOURS, closures=[lon(2026, 12, 29)])
    assert set(NATIONS) == {"england", "wales", "scotland", "northern_ireland"}


def test_a_year_of_closures_is_an_error_not_a_hang() -> None:
    first = date(2026, 1, 1)
    cal = WorkingCalendar(MASH_HOURS, closures=[first + DAY * i for i in range(400)])
    start = lon(2026, 1, 5, 10)
    with pytest.raises(ValueError, match="no office time"):
        cal.next_open(start)
    for basis, dur in (("working_hours", HOUR), ("working_days", DAY)):
        with pytest.raises(ValueError, match="no office time"):
            cal.due(start, dur, basis)
    # Wall clocks don't care about closures.
    assert _u(cal.due(start, HOUR, "wall")) == _u(start) + HOUR


# ---------------------------------------------------------------- property tests

PROPS = settings(max_examples=200, deadline=None)

_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
_MINUTES = int((datetime(2029, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds() // 60)
_DST_DAYS = [
    date(2025, 3, 30),
    date(2025, 10, 26),
    date(2026, 3, 29),
    date(2026, 10, 25),
    date(2027, 3, 28),
    date(2027, 10, 31),
    date(2028, 3, 26),
    date(2028, 10, 29),
]
_INPUT_ZONES = [LONDON, LONDON, UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")]

# Any minute 2025-2028, plus minutes within the DST weekends (Fri 00:00 UTC .. Tue 00:00 UTC),
# expressed in a mix of zones (the calendar must convert).
_any_minute = st.integers(0, _MINUTES - 1).map(lambda m: _EPOCH + timedelta(minutes=m))
_dst_minute = st.builds(
    lambda d, m: datetime.combine(d - 2 * DAY, time(0), tzinfo=UTC) + timedelta(minutes=m),
    st.sampled_from(_DST_DAYS),
    st.integers(0, 4 * 24 * 60),
)
starts = st.builds(
    lambda u, z: u.astimezone(z),
    st.one_of(_any_minute, _dst_minute),
    st.sampled_from(_INPUT_ZONES),
)
calendars = st.sampled_from([MASH, MASH_SCOT, MASH_NI, MASH_WALES, MASH_XMAS_SHUT])


@st.composite
def clocks(draw: st.DrawFn) -> tuple[Basis | str, timedelta]:
    """A basis (as enum or plain string) and a valid duration for it."""
    basis = draw(st.sampled_from(list(Basis)))
    if basis is Basis.WALL:
        duration = timedelta(minutes=draw(st.integers(1, 30 * 24 * 60)))
    elif basis is Basis.WORKING_HOURS:
        duration = timedelta(minutes=draw(st.integers(1, 60 * 60)))
    else:
        duration = timedelta(days=draw(st.integers(1, 20)))
    return (basis.value if draw(st.booleans()) else basis), duration


def _at_close(cal: WorkingCalendar, t: datetime) -> bool:
    """True if ``t`` is exactly the closing time of a working day."""
    local = t.astimezone(cal.tz)
    hours = cal.office_hours.get(local.weekday())
    return cal.is_working_day(local.date()) and hours is not None and local.time() == hours[1]


@PROPS
@given(cal=calendars, start=starts, clock=clocks())
def test_prop_due_not_before_start_and_in_tz(
    cal: WorkingCalendar, start: datetime, clock: tuple[Basis | str, timedelta]
) -> None:
    basis, duration = clock
    due = cal.due(start, duration, basis)
    assert due.tzinfo == cal.tz
    assert _u(due) > _u(start)
    if Basis(basis) is Basis.WALL:
        assert _u(due) - _u(start) == duration
        assert cal.remaining(start, due, basis) == duration
    else:
        assert cal.is_open(due) or _at_close(cal, due)


@PROPS
@given(cal=calendars, a=starts, b=starts, clock=clocks())
def test_prop_due_monotonic_in_start(
    cal: WorkingCalendar, a: datetime, b: datetime, clock: tuple[Basis | str, timedelta]
) -> None:
    basis, duration = clock
    s1, s2 = sorted((a, b), key=_u)
    assert _u(cal.due(s1, duration, basis)) <= _u(cal.due(s2, duration, basis))


@PROPS
@given(cal=calendars, start=starts, minutes=st.integers(1, 60 * 60))
def test_prop_working_hours_consume_exactly_the_duration(
    cal: WorkingCalendar, start: datetime, minutes: int
) -> None:
    duration = timedelta(minutes=minutes)
    eff = cal.next_open(start)
    assert cal.is_open(eff)
    assert cal.working_time_between(start, eff) == timedelta(0)
    due = cal.due(start, duration, Basis.WORKING_HOURS)
    assert cal.working_time_between(eff, due) == duration
    assert cal.working_time_between(start, due) == duration
    assert cal.remaining(start, due, "working_hours") == duration


@PROPS
@given(
    cal=calendars,
    start=starts,
    clock=clocks(),
    fractions=st.lists(st.floats(0.001, 1.0), min_size=2, max_size=5),
)
def test_prop_point_monotonic_and_ends_at_due(
    cal: WorkingCalendar,
    start: datetime,
    clock: tuple[Basis | str, timedelta],
    fractions: list[float],
) -> None:
    basis, duration = clock
    due = cal.due(start, duration, basis)
    assert cal.point(start, duration, basis, 1.0) == due
    assert _u(cal.point(start, duration, basis, 1.0)) == _u(due)
    points = [_u(cal.point(start, duration, basis, f)) for f in sorted(fractions)]
    assert points == sorted(points)
    assert _u(start) <= points[0] and points[-1] <= _u(due)


@PROPS
@given(cal=calendars, start=starts, days=st.integers(1, 20))
def test_prop_working_days_oracle(cal: WorkingCalendar, start: datetime, days: int) -> None:
    # Independent check: count working days by date with holidays straight from the package.
    sub = {"england": "ENG", "wales": "WLS", "scotland": "SCT", "northern_ireland": "NIR"}
    hol = holidays.country_holidays("GB", subdiv=sub[cal.nation], years=range(2024, 2031))

    def working(d: date) -> bool:
        return d.weekday() < 5 and d not in hol and d not in cal.closures

    eff = cal.next_open(start).astimezone(LONDON)
    d = eff.date()
    for _ in range(days):
        d += DAY
        while not working(d):
            d += DAY
    opens, closes = FRI if d.weekday() == 4 else MON_THU
    want_time = min(max(eff.time(), opens), closes)
    due = cal.due(start, days * DAY, Basis.WORKING_DAYS)
    assert due.date() == d
    assert due.time() == want_time  # the local time-of-day survives DST changes
    assert due.utcoffset() == LONDON.utcoffset(datetime.combine(d, want_time))


def _oracle_open(cal: WorkingCalendar, hol: holidays.HolidayBase, u: datetime) -> bool:
    local = u.astimezone(LONDON)
    if local.weekday() >= 5 or local.date() in hol or local.date() in cal.closures:
        return False
    opens, closes = FRI if local.weekday() == 4 else MON_THU
    return opens <= local.time() < closes


@settings(max_examples=100, deadline=None)
@given(cal=calendars, start=starts, minutes=st.integers(1, 16 * 60))
def test_prop_working_hours_minute_oracle(
    cal: WorkingCalendar, start: datetime, minutes: int
) -> None:
    # Brute force: step minute by minute in UTC, counting open minutes by local wall time.
    sub = {"england": "ENG", "wales": "WLS", "scotland": "SCT", "northern_ireland": "NIR"}
    hol = holidays.country_holidays("GB", subdiv=sub[cal.nation], years=range(2024, 2031))
    t = _u(start)
    counted = 0
    while True:
        if _oracle_open(cal, hol, t):
            counted += 1
            if counted == minutes:
                expected = t + timedelta(minutes=1)
                break
        t += timedelta(minutes=1)
    assert _u(cal.due(start, timedelta(minutes=minutes), Basis.WORKING_HOURS)) == expected


@PROPS
@given(
    cal=calendars,
    start=st.datetimes(datetime(2025, 1, 1), datetime(2028, 12, 31)),
    clock=clocks(),
)
def test_prop_naive_datetimes_raise(
    cal: WorkingCalendar, start: datetime, clock: tuple[Basis | str, timedelta]
) -> None:
    basis, duration = clock
    aware = start.replace(tzinfo=LONDON)
    for call in (
        lambda: cal.due(start, duration, basis),
        lambda: cal.point(start, duration, basis, 0.5),
        lambda: cal.is_open(start),
        lambda: cal.next_open(start),
        lambda: cal.working_time_between(start, aware),
        lambda: cal.working_time_between(aware, start),
        lambda: cal.remaining(start, aware, basis),
        lambda: cal.remaining(aware, start, basis),
    ):
        with pytest.raises(ValueError):
            call()
