"""The weekly figures on a seeded week with known answers; the chart; the weekly job.

The seeded week is Monday 23 to Sunday 29 November 2026 (Cambridgeshire,
Europe/London, GMT). Every number asserted below is worked out by hand in the
comments next to the rows that produce it. All names are fictional.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot import intents, jobs, report
from bot.cli import main
from bot.config import Settings
from bot.handlers.slack.blocks import report as slack_report
from bot.policy import load_policy
from bot.reminders import ReminderSweep
from bot.sandbox.webapi import FakeSlack
from bot.services import Services
from store import repo
from store.db import session_scope
from store.models import (
    Consultation,
    Decision,
    OutboxMessage,
    Referral,
    Reminder,
    TriageCard,
)
from tests.helpers import LONDON, at
from tests.slackenv import Clock

CAMBS = load_policy("cambridgeshire")
MANAGERS = CAMBS.channel("mash_managers")
WEEK = dt.date(2026, 11, 23)
AS_OF = dt.datetime(2026, 11, 30, 9, 0, tzinfo=LONDON)


def prof(s: Any, user: str, name: str, agency: str) -> int:
    p = repo.professional(s, user, name=name, role="Teacher", agency=agency)
    s.flush()
    return int(p.id or 0)


def consult(s: Any, pid: int, when: dt.datetime, cats: list[str], advice: str | None,
            repeat: int = 1, linked: str | None = None) -> str:
    ref = repo.next_reference(s, when)
    s.add(Consultation(reference=ref, professional_id=pid, categories=cats,
                       suggested_outcome="early_help", advice_outcome=advice,
                       status="advised" if advice else "open", repeat_count=repeat,
                       linked_reference=linked, created_at=when, last_contact_at=when))
    s.flush()
    return ref


def card(s: Any, pid: int, received: dt.datetime, cats: list[str], suggested: str = "green",
         kind: str = "checklist") -> int:
    ref = repo.next_reference(s, received)
    r = Referral(reference=ref, kind=kind, professional_id=pid, categories=cats,
                 created_at=received, last_contact_at=received)
    s.add(r)
    s.flush()
    c = TriageCard(referral_id=r.id or 0, reference=ref, referrer_user_id="U0TEACHER",
                   suggested_rating=suggested, received_at=received)
    s.add(c)
    s.flush()
    return int(c.id or 0)


def decide(s: Any, cid: int, when: dt.datetime, rating: str) -> None:
    c = s.get(TriageCard, cid)
    s.add(Decision(card_id=cid, actor="U0MANAGER", at=when, action="approve",
                   old_rating=c.rating or c.suggested_rating, new_rating=rating))
    c.rating, c.status, c.decided_at, c.decided_by = rating, "decided", when, "U0MANAGER"
    s.add(c)


def breach(s: Any, cid: int, clock: str, due: dt.datetime, status: str) -> None:
    """A clock's breach reminder as the SLA code writes it; ``status`` says what happened."""
    payload = {"clock": clock, "start": due.isoformat(), "due": due.isoformat()}
    repo.schedule(s, key=f"card:{cid}:{clock}:breach", kind="sla_breach", subject_type="card",
                  subject_id=cid, due_at=due, payload=payload)
    # A warning of the same clock is not a clock of its own.
    repo.schedule(s, key=f"card:{cid}:{clock}:warn:0.5", kind="sla_warning",
                  subject_type="card", subject_id=cid, due_at=due - dt.timedelta(hours=1),
                  payload={**payload, "fraction": 0.5})
    s.flush()
    for r in s.exec(select(Reminder).where(Reminder.subject_id == cid)).scalars():
        if r.key == f"card:{cid}:{clock}:breach":
            r.status = status
        elif r.status == "pending":
            r.status = "done"  # warnings have fired; they are not clocks of their own
        s.add(r)


def seed_week(engine: Engine, overdue: str = "pending") -> dict[str, str]:
    """The seeded week; returns the references the figures should name.

    ``overdue`` is the status of the one breach reminder not yet swept: left
    pending past its deadline, or ``done`` (fired), it counts as breached either way.
    """
    with session_scope(engine, write=True) as s:
        ada = prof(s, "U0TEACHER", "Ada Teacher", "Education")
        hal = prof(s, "U0HEALTH", "Hal Visitor", "Health")
        pat = prof(s, "U0POLICE", "Pat Constable", "Police")
        unknown = prof(s, "U0OTHER", "", "")

        # Consultations: five in the week, one before, one after.
        c0 = consult(s, ada, at(2026, 11, 18, 10, 0), ["neglect"], "early_help")  # last week
        consult(s, ada, at(2026, 11, 23, 10, 0), ["neglect", "domestic_abuse"], "early_help")
        consult(s, hal, at(2026, 11, 24, 11, 0), ["neglect"], "signpost")
        c3 = consult(s, ada, at(2026, 11, 25, 14, 0), ["emotional_abuse"], None,
                     repeat=2, linked=c0)
        c4 = consult(s, pat, at(2026, 11, 26, 9, 30), ["domestic_abuse"], "early_help",
                     repeat=3, linked=c3)
        consult(s, hal, at(2026, 11, 29, 23, 30), [], "advice_only")  # Sunday night: in
        consult(s, hal, at(2026, 11, 30, 0, 0), ["neglect"], None)  # Monday 00:00: next week

        # Referrals and cards.
        k0 = card(s, ada, at(2026, 11, 16, 10, 0), ["neglect"])  # the week before: not counted
        decide(s, k0, at(2026, 11, 16, 11, 0), "green")
        breach(s, k0, "contact_decision", at(2026, 11, 17, 10, 0), "cancelled")

        k1 = card(s, ada, at(2026, 11, 23, 10, 0), ["neglect"])
        decide(s, k1, at(2026, 11, 23, 12, 0), "green")  # 120 min
        breach(s, k1, "contact_decision", at(2026, 11, 24, 10, 0), "cancelled")  # met
        breach(s, k1, "green", at(2026, 11, 26, 12, 0), "cancelled")  # met

        k2 = card(s, hal, at(2026, 11, 24, 9, 0), ["neglect", "school"])
        decide(s, k2, at(2026, 11, 25, 15, 0), "amber_cin")  # 1800 min: after its due
        breach(s, k2, "contact_decision", at(2026, 11, 25, 9, 0), "done")  # breached
        decide(s, k2, at(2026, 11, 26, 10, 0), "green")  # re-rated: first decision counts

        k3 = card(s, pat, at(2026, 11, 25, 16, 0), ["physical_abuse"], suggested="red")
        decide(s, k3, at(2026, 11, 25, 17, 0), "red")  # 60 min
        breach(s, k3, "red", at(2026, 11, 25, 20, 0), "cancelled")  # met
        breach(s, k3, "strategy_discussion", at(2026, 11, 26, 17, 0), "done")  # breached

        k4 = card(s, ada, at(2026, 11, 26, 10, 0), ["domestic_abuse"])  # never decided
        breach(s, k4, "contact_decision", at(2026, 11, 27, 10, 0), overdue)  # late

        k5 = card(s, hal, at(2026, 11, 27, 11, 0), ["housing_financial"])
        decide(s, k5, at(2026, 11, 27, 11, 30), "blue")  # 30 min
        breach(s, k5, "contact_decision", at(2026, 11, 30, 11, 0), "cancelled")  # next week

        k6 = card(s, ada, at(2026, 11, 20, 16, 0), ["neglect"])  # received the week before
        decide(s, k6, at(2026, 11, 23, 9, 0), "green")  # 3900 min, decided this week
        breach(s, k6, "contact_decision", at(2026, 11, 23, 16, 0), "cancelled")  # met

        k7 = card(s, unknown, at(2026, 11, 28, 2, 0), [], suggested="red", kind="urgent")
        breach(s, k7, "red", at(2026, 11, 28, 6, 0), "done")  # breached
        return {"repeat": c4}


async def test_the_seeded_week_has_the_known_figures(engine: Engine) -> None:
    refs = seed_week(engine)
    with session_scope(engine) as s:
        fig = report.weekly_figures(s, CAMBS, WEEK, AS_OF)
    assert (fig.week_start, fig.week_end) == (WEEK, dt.date(2026, 11, 29))
    assert fig.consultations == 5
    assert fig.consultations_by_outcome == {
        "Early help": 2, "Advice only / NFA": 1, "Awaiting advice": 1, "Signpost": 1}
    assert fig.consultations_by_category == {
        "Domestic abuse": 2, "Neglect": 2, "Emotional abuse": 1, "No category": 1}
    assert fig.consultations_by_agency == {"Education": 2, "Health": 2, "Police": 1}
    assert fig.repeat_consultations == 2
    assert fig.at_repeat_threshold == [refs["repeat"]]

    assert fig.referrals == 6  # k1-k5 and the urgent k7
    assert fig.referrals_by_rating == {"Red": 1, "Green": 2, "Blue": 1, "Not decided yet": 2}
    assert fig.referrals_by_category == {
        "Neglect": 2, "Domestic abuse": 1, "Housing / financial": 1, "No category": 1,
        "Physical abuse": 1, "School attendance / behaviour": 1}
    assert fig.referrals_by_agency == {
        "Education": 2, "Health": 2, "Agency not given": 1, "Police": 1}

    clocks = {c.clock: (c.met, c.breached, c.percent_met) for c in fig.clocks}
    assert clocks == {
        "contact_decision": (2, 2, 50),  # k1, k6 met; k2 late, k4 still undecided
        "red": (1, 1, 50),  # k3 met, k7 breached
        "green": (1, 0, 100),
        "strategy_discussion": (0, 1, 0),
    }
    assert [c.clock for c in fig.clocks] == [
        "contact_decision", "red", "green", "strategy_discussion"]

    # First decisions in the week: 30, 60, 120, 1800, 3900 minutes.
    assert fig.decided == 5
    assert fig.median_to_decision == dt.timedelta(minutes=120)
    # 90th percentile: rank 0.9 * 4 = 3.6 -> 1800 + 0.6 * (3900 - 1800) = 3060 min.
    assert fig.p90_to_decision == dt.timedelta(minutes=3060)


async def test_the_message_text_for_the_seeded_week(sqlite_engine: Engine) -> None:
    refs = seed_week(sqlite_engine)
    with session_scope(sqlite_engine) as s:
        fig = report.weekly_figures(s, CAMBS, WEEK, AS_OF)
    assert slack_report.summary_text(fig) == "\n".join([
        "*Front Door weekly figures* · Mon 23 Nov – Sun 29 Nov 2026 · "
        "Cambridgeshire County Council",
        f"*Consultations: 5* (2 repeat; 1 at 3 or more about the same situation: "
        f"{refs['repeat']})",
        "• by outcome: Early help 2 · Advice only / NFA 1 · Awaiting advice 1 · Signpost 1",
        "• by category: Domestic abuse 2 · Neglect 2 · Emotional abuse 1 · No category 1",
        "• by agency: Education 2 · Health 2 · Police 1",
        "*Referrals: 6*",
        "• by rating: Red 1 · Green 2 · Blue 1 · Not decided yet 2",
        "• by category: Neglect 2 · Domestic abuse 1 · Housing / financial 1 · No category 1 · "
        "Physical abuse 1 · School attendance / behaviour 1",
        "• by agency: Education 2 · Health 2 · Agency not given 1 · Police 1",
        "*SLA clocks due this week* (met / breached, % met)",
        "• Decision on the contact: 2 met, 2 breached (50%)",
        "• Red response: 1 met, 1 breached (50%)",
        "• Early help response: 1 met, 0 breached (100%)",
        "• Strategy discussion: 0 met, 1 breached (0%)",
        "*Time to decision*: median 2 h, 90th percentile 2 days 3 h (5 decided)",
    ])
    msg = slack_report.summary_message(fig)
    assert msg["text"].startswith("Front Door weekly figures, Mon 23 Nov – Sun 29 Nov 2026")
    assert msg["blocks"][0]["type"] == "header"
    body = json.dumps(msg["blocks"])
    assert "Ada Teacher" not in body and "Hal Visitor" not in body  # no names in figures


def test_percentile_interpolates_between_ranks() -> None:
    assert report.percentile([5], 0.9) == 5
    assert report.percentile([1, 2, 3, 4], 0.5) == 2.5
    assert report.percentile([10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 0.9) == 91
    with pytest.raises(ValueError):
        report.percentile([], 0.5)


def test_weeks_are_monday_to_sunday_in_local_time_across_a_clock_change(
        sqlite_engine: Engine) -> None:
    """Clocks go back on Sunday 25 October 2026: the week still ends at local midnight."""
    with session_scope(sqlite_engine, write=True) as s:
        ada = prof(s, "U0TEACHER", "Ada Teacher", "Education")
        consult(s, ada, at(2026, 10, 19, 0, 30), ["neglect"], None)  # BST: Sun 23:30 UTC, in
        consult(s, ada, at(2026, 10, 25, 23, 30), ["neglect"], None)  # GMT: in
        consult(s, ada, at(2026, 10, 26, 0, 0), ["neglect"], None)  # next week
        consult(s, ada, at(2026, 10, 18, 23, 59), ["neglect"], None)  # the week before
    with session_scope(sqlite_engine) as s:
        fig = report.weekly_figures(s, CAMBS, dt.date(2026, 10, 21), AS_OF)  # any day of it
    assert fig.week_start == dt.date(2026, 10, 19)
    assert fig.consultations == 2


def test_an_empty_week_still_reports(sqlite_engine: Engine) -> None:
    with session_scope(sqlite_engine) as s:
        fig = report.weekly_figures(s, CAMBS, WEEK, AS_OF)
    text = report.summary_text(fig, markdown=False)
    assert "Consultations: 0 (0 repeat)" in text
    assert "• none fell due" in text and "no cards decided" in text
    assert report.render_chart(fig, CAMBS).startswith(b"\x89PNG\r\n\x1a\n")


def test_the_chart_is_a_png(sqlite_engine: Engine) -> None:
    seed_week(sqlite_engine)
    with session_scope(sqlite_engine) as s:
        fig = report.weekly_figures(s, CAMBS, WEEK, AS_OF)
    png = report.render_chart(fig, CAMBS)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert 10_000 < len(png) < 300_000
    assert report.chart_filename(fig) == "frontdoor-weekly-2026-11-23.png"


def test_report_weekly_writes_the_text_the_chart_and_the_json(
        sqlite_url: str, sqlite_engine: Engine, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    seed_week(sqlite_engine)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("FRONTDOOR_POLICY", "cambridgeshire")
    monkeypatch.chdir(tmp_path)  # no stray .env
    out = tmp_path / "figures"
    assert main(["report", "weekly", "--week", "2026-11-25", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Front Door weekly figures · Mon 23 Nov – Sun 29 Nov 2026" in printed
    assert "Consultations: 5" in printed and "*" not in printed  # plain text
    png = out / "weekly-2026-11-23.png"
    assert png.stat().st_size > 10_000 and png.read_bytes().startswith(b"\x89PNG")
    data = json.loads((out / "weekly-2026-11-23.json").read_text(encoding="utf-8"))
    assert data["consultations"] == 5 and data["median_to_decision_minutes"] == 120.0
    assert (out / "weekly-2026-11-23.txt").read_text(encoding="utf-8").startswith("Front Door")
    # Without --week, --now picks the week: the whole week before its local day.
    assert main(["report", "weekly", "--now", "2026-11-30T09:00:00+00:00"]) == 0
    printed = capsys.readouterr().out
    assert "Front Door weekly figures · Mon 23 Nov – Sun 29 Nov 2026" in printed
    assert "Consultations: 5" in printed


# --------------------------------------------------------------------------- the weekly job


def test_next_report_time_is_local_wall_time() -> None:
    # Monday 09:00 in London is 09:00 UTC in winter and 08:00 UTC in summer.
    winter = jobs.next_at(at(2026, 11, 25, 12, 0), 0, dt.time(9, 0), LONDON)
    assert winter == dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
    summer = jobs.next_at(at(2026, 3, 25, 12, 0), 0, dt.time(9, 0), LONDON)
    assert summer == dt.datetime(2026, 3, 30, 8, 0, tzinfo=dt.UTC)  # BST from 29 March
    # At the moment itself, the next one is a week later.
    assert jobs.next_at(winter, 0, dt.time(9, 0), LONDON) == winter + dt.timedelta(days=7)
    assert report.week_before(dt.date(2026, 11, 30)) == WEEK
    assert report.week_before(dt.date(2026, 11, 29)) == dt.date(2026, 11, 16)  # a Sunday report


@pytest.fixture
async def fake_services(engine: Engine) -> AsyncIterator[tuple[Services, FakeSlack]]:
    async with FakeSlack(tokens=["xoxb-test"]) as fake:
        fake.add_channel(MANAGERS, "mash-managers")
        settings = Settings(bot_token="xoxb-test", api_url=fake.base_url)
        async with aiohttp.ClientSession() as http:
            clock = Clock(at(2026, 11, 28, 12, 0))
            yield Services.build(settings, CAMBS, engine, http, clock=clock, pace=0), fake


def _rows(engine: Engine, prefix: str) -> list[OutboxMessage]:
    with session_scope(engine) as s:
        rows = s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()
        return [r for r in rows if r.idempotency_key.startswith(prefix)]


async def test_the_weekly_job_posts_the_figures_and_uploads_the_chart(
        fake_services: tuple[Services, FakeSlack]) -> None:
    sv, fake = fake_services
    seed_week(sv.engine, overdue="done")  # no card nudges in the managers' channel
    ReminderSweep(sv).run(at(2026, 11, 23, 8, 0))  # the bot's first sweep, on a Monday
    ReminderSweep(sv).run(at(2026, 11, 28, 12, 0))
    with session_scope(sv.engine) as s:
        job = s.exec(select(Reminder).where(Reminder.kind == "weekly_report")).scalar_one()
        # Not 23 November's (for a week the bot did not run): its first whole week's.
        assert job.key == "job:weekly_report:2026-11-30"
        assert job.due_at == dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
        assert job.payload == {"week_start": "2026-11-23", "week_end": "2026-11-29"}
    assert _rows(sv.engine, "job:") == []
    ReminderSweep(sv).run(at(2026, 11, 30, 8, 59))
    assert _rows(sv.engine, "job:") == []  # not yet

    stats = ReminderSweep(sv).run(at(2026, 11, 30, 9, 0, 30))
    assert stats.sent >= 1
    rows = _rows(sv.engine, "job:weekly_report:2026-11-30")
    assert [intents.intent_of(r) for r in rows] == [intents.REPORT_SUMMARY, intents.REPORT_CHART]
    assert all(r.channel == MANAGERS for r in rows)
    # The chart is queued as its figures: drawn when it is uploaded, not in the sweep.
    assert "content_b64" not in rows[1].payload
    assert rows[1].payload["figures"] == rows[0].payload["figures"]
    png = report.render_chart(report.WeeklyFigures.from_json(rows[1].payload["figures"]), CAMBS)

    # A second sweep (or a second worker) queues nothing more, and next week is scheduled.
    ReminderSweep(sv).run(at(2026, 11, 30, 9, 1))
    assert len(_rows(sv.engine, "job:weekly_report:2026-11-30")) == 2
    with session_scope(sv.engine) as s:
        keys = {r.key: r.status for r in s.exec(select(Reminder).where(
            Reminder.kind == "weekly_report")).scalars()}
    assert keys == {"job:weekly_report:2026-11-30": "done",
                    "job:weekly_report:2026-12-07": "pending"}

    # Delivered through the outbox to the (fake) Web API: the summary, then the file.
    await sv.sender.run_once()
    await sv.sender.run_once()
    posts = [c.args for c in fake.calls_to("chat.postMessage") if c.ok]
    assert posts and posts[0]["channel"] == MANAGERS
    assert "Consultations: 5" in json.dumps(posts[0]["blocks"])
    uploaded = [f for f in fake.files.values() if f.completed]
    assert len(uploaded) == 1
    assert uploaded[0].name == "frontdoor-weekly-2026-11-23.png"
    assert uploaded[0].content == png and uploaded[0].channels == [MANAGERS]
    history = fake.history(MANAGERS)
    assert history[-1].get("files") and history[-1]["files"][0]["name"].endswith(".png")


async def test_a_report_missed_while_the_bot_was_down_is_sent_when_it_is_back(
        fake_services: tuple[Services, FakeSlack]) -> None:
    sv, _ = fake_services
    ReminderSweep(sv).run(at(2026, 11, 23, 8, 0))
    ReminderSweep(sv).run(at(2026, 11, 28, 12, 0))
    ReminderSweep(sv).run(at(2026, 12, 1, 15, 0))  # down from Saturday to Tuesday
    rows = _rows(sv.engine, "job:weekly_report:2026-11-30")
    assert [intents.intent_of(r) for r in rows] == [intents.REPORT_SUMMARY, intents.REPORT_CHART]
    assert rows[0].payload["figures"]["week_start"] == "2026-11-23"  # the week it was due for


async def _deliver_all(sv: Services) -> None:
    """Run the sender until it has nothing left to send (a round per message a channel)."""
    for _ in range(20):
        if not (await sv.sender.run_once()).sent:
            return
    raise AssertionError("the sender was still sending after 20 rounds")


def _reports_in(fake: FakeSlack) -> list[tuple[str, str]]:
    """The managers' channel as (what, week): the summaries' and the charts' weeks."""
    said = []
    for msg in fake.history(MANAGERS):  # oldest first
        if msg.get("files"):
            said += [("chart", f["name"]) for f in msg["files"]]
        elif "Front Door weekly figures" in json.dumps(msg.get("blocks")):
            said.append(("summary", msg["metadata"]["event_payload"]["key"]))
    return said


async def test_three_missed_report_days_post_each_week_once_in_order(
        fake_services: tuple[Services, FakeSlack]) -> None:
    sv, fake = fake_services
    ReminderSweep(sv).run(at(2026, 11, 23, 8, 0))  # first sweep: Monday 30 Nov's is scheduled
    await _deliver_all(sv)
    # Down from then until Tuesday 15 December: three report days passed (30 Nov, 7 and
    # 14 Dec), each for the week before it.
    ReminderSweep(sv).run(at(2026, 12, 15, 10, 0))
    ReminderSweep(sv).run(at(2026, 12, 15, 10, 1))  # a second sweep queues nothing more
    await _deliver_all(sv)
    weeks = ["2026-11-23", "2026-11-30", "2026-12-07"]
    days = ["2026-11-30", "2026-12-07", "2026-12-14"]
    assert _reports_in(fake) == [
        item for week, day in zip(weeks, days, strict=True)
        for item in (("summary", f"job:weekly_report:{day}:summary"),
                     ("chart", f"frontdoor-weekly-{week}.png"))]
    for day, week in zip(days, weeks, strict=True):
        rows = _rows(sv.engine, f"job:weekly_report:{day}")
        assert [r.payload["figures"]["week_start"] for r in rows] == [week, week]
        assert {r.status for r in rows} == {"sent"}
    with session_scope(sv.engine) as s:
        left = {r.key: r.status for r in s.exec(select(Reminder).where(
            Reminder.kind == "weekly_report")).scalars()}
    assert left == {**{f"job:weekly_report:{d}": "done" for d in days},
                    "job:weekly_report:2026-12-21": "pending"}

    # Sweeps and the sender again, before the next report day: nothing more is posted.
    before = len(fake.history(MANAGERS))
    ReminderSweep(sv).run(at(2026, 12, 15, 11, 0))
    await _deliver_all(sv)
    assert len(fake.history(MANAGERS)) == before


async def test_a_bot_down_for_months_reports_only_its_last_weeks(
        fake_services: tuple[Services, FakeSlack]) -> None:
    sv, _ = fake_services
    ReminderSweep(sv).run(at(2026, 11, 23, 8, 0))
    ReminderSweep(sv).run(at(2027, 6, 1, 12, 0))  # back after six months (a Tuesday)
    with session_scope(sv.engine) as s:
        due = sorted(r.key for r in s.exec(select(Reminder).where(
            Reminder.kind == "weekly_report")).scalars() if r.status == "done")
    # The report day scheduled before it went down, then the last eight (CATCH_UP_WEEKS).
    assert due == ["job:weekly_report:2026-11-30"] + [
        f"job:weekly_report:{dt.date(2027, 5, 31) - dt.timedelta(weeks=n)}"
        for n in range(7, -1, -1)]


async def test_the_chart_is_drawn_when_it_is_uploaded_not_in_the_sweep(
        fake_services: tuple[Services, FakeSlack], monkeypatch: pytest.MonkeyPatch) -> None:
    sv, fake = fake_services
    drawn_in: list[threading.Thread] = []
    draw = report.render_chart

    def drawing(fig: report.WeeklyFigures, policy: Any) -> bytes:
        drawn_in.append(threading.current_thread())
        return draw(fig, policy)

    monkeypatch.setattr(report, "render_chart", drawing)
    ReminderSweep(sv).run(at(2026, 11, 23, 8, 0))
    ReminderSweep(sv).run(at(2026, 11, 30, 9, 0, 30))  # the report's sweep: figures queued
    assert drawn_in == []  # nothing drawn inside the sweep's write transaction
    await _deliver_all(sv)
    # Drawn once, as it was uploaded, in a thread of its own (not the event loop's).
    assert len(drawn_in) == 1 and drawn_in[0] is not threading.main_thread()
    assert [f.name for f in fake.files.values() if f.completed] == [
        "frontdoor-weekly-2026-11-23.png"]


async def test_a_new_install_waits_for_its_first_whole_week(
        fake_services: tuple[Services, FakeSlack]) -> None:
    sv, _ = fake_services
    ReminderSweep(sv).run(at(2026, 11, 26, 15, 0))  # first started on a Thursday
    ReminderSweep(sv).run(at(2026, 11, 30, 9, 30))  # the Monday after: no report yet
    assert _rows(sv.engine, "job:") == []
    with session_scope(sv.engine) as s:
        jobs_ = {r.key: r.payload for r in s.exec(select(Reminder).where(
            Reminder.kind == "weekly_report")).scalars()}
    assert jobs_ == {"job:weekly_report:2026-12-07": {"week_start": "2026-11-30",
                                                      "week_end": "2026-12-06"}}
    ReminderSweep(sv).run(at(2026, 12, 7, 9, 0, 1))
    assert len(_rows(sv.engine, "job:weekly_report:2026-12-07")) == 2



def test_the_weekly_report_goes_to_the_managers_on_each_platform(sqlite_engine: Engine) -> None:
    """During a move from Slack to Teams (a policy naming both), each platform's managers'
    channel gets the summary and the chart, each drawn by its own platform."""
    from tests.test_teams_inbound import teams_policy

    policy = teams_policy()
    with session_scope(sqlite_engine, write=True) as s:
        jobs.queue_weekly_report(s, policy, dt.date(2026, 11, 16), at(2026, 11, 23, 9, 0),
                                 key="job:weekly_report:2026-11-23")
    with session_scope(sqlite_engine) as s:
        rows = s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).scalars().all()  # type: ignore[call-overload]
    got = [(r.platform, intents.intent_of(r), intents.Address.of(r).id, r.idempotency_key)
           for r in rows]
    slack, teams = (policy.channel("mash_managers", p) for p in ("slack", "teams"))
    key = "job:weekly_report:2026-11-23"
    assert got == [
        ("slack", intents.REPORT_SUMMARY, slack, f"{key}:summary"),
        ("slack", intents.REPORT_CHART, slack, f"{key}:chart"),
        ("teams", intents.REPORT_SUMMARY, teams, f"{key}:summary:teams"),
        ("teams", intents.REPORT_CHART, teams, f"{key}:chart:teams"),
    ]
