"""Recurring service jobs run from the reminder loop: the weekly figures and the retention purge.

Each job is an ordinary reminder row, so it shares the sweep's guarantees:
claimed once across any number of workers, retried after a crash, and a
missed run (the bot was down) happens as soon as a sweep runs again. At the
start of every sweep ``ensure`` schedules the next occurrence under a unique
key (``job:weekly_report:2026-11-30``), so scheduling is idempotent.

* ``weekly_report``: at the policy's ``report.weekday``/``report.time`` in the
  policy's time zone; computes the figures of the last whole Monday-to-Sunday
  week before the report day and queues, through the outbox, the summary to
  the managers' channel and then the chart. The chart's intent carries the
  figures, not a PNG: the renderer that uploads it draws it at send time, so
  no chart is drawn inside the sweep's write transaction (it takes a good
  part of a second). A new install's first report is for its first whole
  week. A bot that was down over report days reports each missed week when
  it is back, oldest first, each once (one row per report day: ``ensure``
  schedules every report day since the last one scheduled), going back at
  most ``CATCH_UP_WEEKS``.
* ``retention_purge``: weekly, Sundays at 03:00 local time (a quiet hour that
  exists on both clock-change days); deletes what is past the policy's
  retention (``bot/retention.py``) and audits the counts.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from bot import intents, report, retention
from bot.labels import to_utc
from bot.policy import WEEKDAYS, Policy
from store import repo
from store.models import Reminder

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger("frontdoor.jobs")

REPORT = "weekly_report"
PURGE = "retention_purge"
JOB_SUBJECT = "job"
PURGE_WEEKDAY = 6  # Sunday
PURGE_TIME = time(3, 0)
# A bot down longer than this reports only its last weeks: older figures are likely
# cut by retention, and a flood of reports helps nobody.
CATCH_UP_WEEKS = 8


def next_at(after: datetime, weekday: int, at: time, tz: ZoneInfo) -> datetime:
    """The first local ``weekday`` at ``at`` strictly after ``after``, as an aware UTC time.

    Built from the local date and wall time, so 09:00 stays 09:00 across a
    clock change.
    """
    local = after.astimezone(tz)
    day = local.date() + timedelta(days=(weekday - local.weekday()) % 7)
    for _ in range(3):
        candidate = datetime.combine(day, at, tzinfo=tz).astimezone(UTC)
        if candidate > after:
            return candidate
        day += timedelta(days=7)
    raise AssertionError("unreachable: a week later is always after")


def job_key(kind: str, local_day: date) -> str:
    """``job:weekly_report:2026-11-30``: one row per job per local day."""
    return f"job:{kind}:{local_day.isoformat()}"


def _last_scheduled(session: Session, kind: str) -> datetime | None:
    """When the latest ``kind`` job ever scheduled is (was) due; None: never scheduled."""
    stmt = (select(Reminder.due_at).where(Reminder.subject_type == JOB_SUBJECT)  # type: ignore[arg-type]
            .where(Reminder.kind == kind)  # type: ignore[arg-type]
            .order_by(Reminder.due_at.desc()).limit(1))  # type: ignore[attr-defined]
    return session.exec(stmt).scalar()  # type: ignore[call-overload,no-any-return]


def ensure_weekly_report(session: Session, policy: Policy, now: datetime) -> None:
    """Schedule the next weekly figures, and every report day missed since the last one
    scheduled (a no-op when all are scheduled already).

    The very first report (no weekly report was ever scheduled: a new install)
    is the one for the first whole week the bot runs, not a week it partly
    missed, whose figures would be short. After that each report day has its
    row: a bot down over three Mondays finds the first one's row due and
    schedules the next two (due already, so this sweep sends them, in order)
    and the one to come.
    """
    weekday, tz = WEEKDAYS.index(policy.report.weekday), policy.tz
    due = next_at(now, weekday, policy.report.time, tz)
    last = _last_scheduled(session, REPORT)
    if last is None:
        today = now.astimezone(tz).date()
        while report.week_before(due.astimezone(tz).date()) < today:
            due = next_at(due, weekday, policy.report.time, tz)
    else:
        oldest = next_at(now - timedelta(weeks=CATCH_UP_WEEKS), weekday, policy.report.time, tz)
        missed = next_at(max(to_utc(last), oldest - timedelta(seconds=1)), weekday,
                         policy.report.time, tz)
        while missed < due:
            _schedule_report(session, missed, tz)
            missed = next_at(missed, weekday, policy.report.time, tz)
    _schedule_report(session, due, tz)


def _schedule_report(session: Session, due: datetime, tz: ZoneInfo) -> None:
    day = due.astimezone(tz).date()
    week = report.week_before(day)
    repo.schedule(
        session, key=job_key(REPORT, day), kind=REPORT, subject_type=JOB_SUBJECT, subject_id=0,
        due_at=due, payload={"week_start": week.isoformat(),
                             "week_end": (week + timedelta(days=6)).isoformat()},
    )


def ensure_retention_purge(session: Session, policy: Policy, now: datetime) -> None:
    """Schedule the next weekly retention purge (a no-op when it is already scheduled)."""
    due = next_at(now, PURGE_WEEKDAY, PURGE_TIME, policy.tz)
    day = due.astimezone(policy.tz).date()
    repo.schedule(session, key=job_key(PURGE, day), kind=PURGE, subject_type=JOB_SUBJECT,
                  subject_id=0, due_at=due)


def queue_weekly_report(
    session: Session, policy: Policy, week_start: date, now: datetime, *, key: str
) -> report.WeeklyFigures:
    """Compute a week's figures and queue the summary and the chart for the managers (in
    the managers' channel of each platform the policy names).

    The chart is queued as its figures: the renderer draws the PNG when it uploads it,
    outside this (write) transaction.
    """
    fig = report.weekly_figures(session, policy, week_start, now)
    figures = fig.to_json()
    # The managers on every platform the policy names (both, during a move); the first
    # platform's keys are the ones earlier releases queued.
    for platform in policy.platforms:
        suffix = "" if platform == policy.platforms[0] else f":{platform}"
        to = intents.conversation(policy.channel("mash_managers", platform))
        intents.queue(session, intents.REPORT_SUMMARY, key=f"{key}:summary{suffix}", to=to,
                      data={"figures": figures}, platform=platform)
        intents.queue(session, intents.REPORT_CHART, key=f"{key}:chart{suffix}", to=to, data={
            "filename": report.chart_filename(fig),
            "title": f"Front Door weekly figures from {fig.week_start:%d %b %Y}",
            "alt": "Bar charts of the week's consultations by outcome, referrals by "
                   "rating, SLA clocks met and breached, and agencies.",
            "figures": figures,
        }, platform=platform)
    return fig


def weekly_report(session: Session, sv: Services, r: Reminder, now: datetime) -> bool:
    """The ``weekly_report`` reminder: queue the previous week's figures."""
    raw = r.payload.get("week_start")
    week = date.fromisoformat(raw) if raw else report.previous_week(r.due_at, sv.policy)
    fig = queue_weekly_report(session, sv.policy, week, now, key=r.key)
    log.info("weekly figures for %s queued: %s consultations, %s referrals",
             week, fig.consultations, fig.referrals)
    return True


def retention_purge(session: Session, sv: Services, r: Reminder, now: datetime) -> bool:
    """The ``retention_purge`` reminder: delete what is past retention, audited."""
    result = retention.purge(session, sv.policy, now, actor="frontdoor")
    log.info("retention purge: %s", result.describe())
    return True


NUDGES: dict[str, Any] = {REPORT: weekly_report, PURGE: retention_purge}
RECURRING: list[Any] = [ensure_weekly_report, ensure_retention_purge]
