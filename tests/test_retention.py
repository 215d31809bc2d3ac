"""Retention: what is older than the policy's retention from the last contact is purged,
children before parents; a dry run only counts; the audit trail keeps the counts and is
itself never touched; the purge runs weekly from the reminder loop.

Every name here is made up.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot import retention
from bot.cli import main
from bot.config import Settings
from bot.policy import load_policy
from bot.reminders import ReminderSweep
from bot.services import Services
from store import repo
from store.db import session_scope
from store.models import (
    AuditEntry,
    Consultation,
    Decision,
    FlowSession,
    OutboxMessage,
    Professional,
    Referral,
    Reminder,
    TriageCard,
)
from tests.slackenv import Clock

LONDON = ZoneInfo("Europe/London")
CAMBS = load_policy("cambridgeshire")  # retention: 6 years
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=LONDON)
OLD = NOW - dt.timedelta(days=7 * 365)
RECENT = NOW - dt.timedelta(days=30)
MODELS = (Consultation, Referral, TriageCard, Decision, FlowSession, Reminder, OutboxMessage,
          Professional, AuditEntry)


def person(s: Any, user: str, name: str, when: dt.datetime) -> int:
    p = repo.professional(s, user, name=name)
    p.created_at = p.updated_at = when
    s.add(p)
    s.flush()
    return int(p.id or 0)


def flow(s: Any, user: str, when: dt.datetime) -> int:
    f = FlowSession(user_id=user, kind="consult", state="done", status="completed",
                    started_at=when, updated_at=when, ended_at=when)
    s.add(f)
    s.flush()
    return int(f.id or 0)


def consultation(s: Any, pid: int, fid: int | None, created: dt.datetime,
                 last: dt.datetime) -> int:
    c = Consultation(reference=repo.next_reference(s, created), professional_id=pid,
                     flow_id=fid, suggested_outcome="advice_only", created_at=created,
                     last_contact_at=last)
    s.add(c)
    s.flush()
    return int(c.id or 0)


def referral(s: Any, pid: int, received: dt.datetime, decided: dt.datetime | None) -> int:
    ref = repo.next_reference(s, received)
    r = Referral(reference=ref, professional_id=pid, created_at=received,
                 last_contact_at=received)
    s.add(r)
    s.flush()
    c = TriageCard(referral_id=r.id or 0, reference=ref, referrer_user_id="U0X",
                   suggested_rating="green", received_at=received)
    s.add(c)
    s.flush()
    if decided:
        s.add(Decision(card_id=c.id or 0, actor="U0MANAGER", at=decided, action="approve",
                       old_rating="green", new_rating="green"))
        c.status, c.rating, c.decided_at = "decided", "green", decided
        s.add(c)
    for kind in ("warn:0.5", "breach"):  # the decision clock, stopped by the decision
        due = received + dt.timedelta(hours=1)
        repo.schedule(s, key=f"card:{c.id}:contact_decision:{kind}", kind="sla_breach",
                      subject_type="card", subject_id=c.id or 0, due_at=due,
                      payload={"clock": "contact_decision", "due": due.isoformat()})
    s.flush()
    for rem in s.exec(select(Reminder).where(Reminder.subject_id == c.id)).scalars():
        rem.status, rem.done_at = "cancelled", decided or received
        s.add(rem)
    repo.enqueue(s, key=f"card:{c.id}:post", intent="chat.postMessage", channel="C0MASHMGR",
                 payload={"render": "triage_card", "id": c.id, "channel": "C0MASHMGR"},
                 subject_type="card", subject_id=c.id)
    return int(c.id or 0)


def counts(engine: Engine) -> dict[str, int]:
    with session_scope(engine) as s:
        return {m.__name__: int(s.exec(select(func.count()).select_from(m)).scalar_one())
                for m in MODELS}


def seed(engine: Engine) -> dict[str, int]:
    """Old rows to purge and rows that must stay, each for a stated reason."""
    ids: dict[str, int] = {}
    with session_scope(engine, write=True) as s:
        otto = person(s, "U0OTTO", "Otto Olden", OLD)  # everything of his is old: purged
        olly = person(s, "U0OLLY", "Olly Oldfield", OLD)  # one recent card: kept
        person(s, "U0ORPHAN", "Orla Nobody", OLD)  # nothing refers to her: purged
        pia = person(s, "U0PIA", "Pia Present", OLD)  # old details, recent consultation: kept

        # Purged: a consultation last contacted seven years ago, its flow, its rows.
        old_flow = flow(s, "U0OTTO", OLD)
        ids["old_consultation"] = consultation(s, otto, old_flow, OLD, OLD)
        repo.schedule(s, key="c:old:nudge", kind="custom", subject_type="consultation",
                      subject_id=ids["old_consultation"], due_at=NOW + dt.timedelta(days=400))
        repo.enqueue(s, key="c:old:post", intent="chat.postMessage", channel="C0CONSULT",
                     payload={"render": "consultation_card", "id": ids["old_consultation"]},
                     subject_type="consultation", subject_id=ids["old_consultation"])
        # Purged: an old referral, its card, decision, reminders and outbox row.
        ids["old_card"] = referral(s, otto, OLD, OLD + dt.timedelta(hours=2))

        # Kept: created seven years ago but the professional answered last month; the
        # old flow it points at stays with it.
        mixed_flow = flow(s, "U0PIA", OLD)
        ids["mixed"] = consultation(s, pia, mixed_flow, OLD, RECENT)
        ids["mixed_flow"] = mixed_flow
        # Kept: an old referral whose card was decided recently.
        ids["late_card"] = referral(s, olly, OLD, RECENT)
        # Kept: a recent consultation.
        ids["recent"] = consultation(s, pia, flow(s, "U0PIA", RECENT), RECENT, RECENT)

        # Finished housekeeping rows: old ones go, unfinished ones stay.
        repo.enqueue(s, key="dm:old", intent="chat.postMessage", channel="U0OTTO",
                     payload={"channel": "U0OTTO", "text": "Thank you"})
        repo.schedule(s, key="job:weekly_report:2019-11-25", kind="weekly_report",
                      subject_type="job", subject_id=0, due_at=OLD)
        repo.schedule(s, key="job:weekly_report:2026-11-30", kind="weekly_report",
                      subject_type="job", subject_id=0, due_at=NOW + dt.timedelta(days=6))
        repo.enqueue(s, key="dm:stuck", intent="chat.postMessage", channel="U0PIA",
                     payload={"channel": "U0PIA", "text": "Still to send"})
        repo.audit(s, actor="U0OTTO", action="consultation.created",
                   subject_type="consultation", subject_id=ids["old_consultation"], at=OLD)
        s.flush()
        for row in s.exec(select(OutboxMessage)).scalars():
            row.created_at = OLD
            if row.idempotency_key != "dm:stuck":
                row.status, row.sent_at = "sent", OLD
            s.add(row)
        job = s.exec(select(Reminder).where(
            Reminder.key == "job:weekly_report:2019-11-25")).scalar_one()
        job.status, job.done_at = "done", OLD
        s.add(job)
    return ids


EXPECTED = {
    "consultations": 1,
    "referrals": 1,
    "cards": 1,
    "decisions": 1,
    "flows": 1,
    "reminders": 4,  # the consultation's nudge, the card's two, the old weekly job
    "outbox": 4,  # the consultation card, the old card, the old DM, and the kept card's
    # post: sent seven years ago, it is only a delivery record now
    "professionals": 2,  # Otto (everything of his is old) and Orla (nothing at all)
    "caf_episodes": 0,  # tests/test_retention_caf.py
    "caf_meetings": 0,
    "caf_qa": 0,
    "processed_events": 0,
}


def test_dry_run_counts_and_deletes_nothing(engine: Engine) -> None:
    seed(engine)
    before = counts(engine)
    with session_scope(engine, write=True) as s:
        result = retention.purge(s, CAMBS, NOW, dry_run=True)
    assert result.counts == EXPECTED
    assert result.dry_run
    assert result.describe().startswith("would delete consultations: 1, referrals: 1")
    assert counts(engine) == before  # nothing deleted, no audit entry either


def test_purge_deletes_what_is_past_retention_and_keeps_the_rest(engine: Engine) -> None:
    ids = seed(engine)
    before = counts(engine)
    with session_scope(engine, write=True) as s:
        result = retention.purge(s, CAMBS, NOW, actor="U0MANAGER")
    assert result.counts == EXPECTED and not result.dry_run
    after = counts(engine)
    assert after["Consultation"] == before["Consultation"] - 1
    assert after["TriageCard"] == before["TriageCard"] - 1
    assert after["AuditEntry"] == before["AuditEntry"] + 1  # old entries kept, one added
    with session_scope(engine) as s:
        assert s.get(Consultation, ids["old_consultation"]) is None
        assert s.get(TriageCard, ids["old_card"]) is None
        assert s.get(Consultation, ids["mixed"]) is not None
        assert s.get(FlowSession, ids["mixed_flow"]) is not None
        assert s.get(TriageCard, ids["late_card"]) is not None
        assert s.get(Consultation, ids["recent"]) is not None
        keys = set(s.exec(select(Reminder.key)).scalars())
        assert "job:weekly_report:2026-11-30" in keys
        assert "job:weekly_report:2019-11-25" not in keys
        outbox = set(s.exec(select(OutboxMessage.idempotency_key)).scalars())
        assert "dm:stuck" in outbox and "dm:old" not in outbox
        entry = s.exec(select(AuditEntry).where(
            AuditEntry.action == "retention.purge")).scalar_one()
        assert entry.actor == "U0MANAGER"
        assert json.loads(entry.new_value or "{}") == EXPECTED  # counts, not contents
        assert "6 years" in (entry.reason or "")
        old = s.exec(select(AuditEntry).where(
            AuditEntry.action == "consultation.created")).scalar_one()
        assert old.at < result.cutoff  # the audit trail is never purged
    with session_scope(engine, write=True) as s:  # a second purge finds nothing
        assert retention.purge(s, CAMBS, NOW).total == 0


def test_a_professional_with_kept_work_is_kept(engine: Engine) -> None:
    seed(engine)
    with session_scope(engine, write=True) as s:
        retention.purge(s, CAMBS, NOW)
    with session_scope(engine) as s:
        names = set(s.exec(select(Professional.name)).scalars())
    # Olly still has the referral decided last month; Otto and Orla are gone.
    assert names == {"Olly Oldfield", "Pia Present"}


def test_retention_purge_command(sqlite_url: str, sqlite_engine: Engine, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    real_now = dt.datetime.now(dt.UTC)
    with session_scope(sqlite_engine, write=True) as s:
        pid = person(s, "U0OLLY", "Olly Oldfield", real_now - dt.timedelta(days=7 * 365))
        consultation(s, pid, None, real_now - dt.timedelta(days=7 * 365),
                     real_now - dt.timedelta(days=7 * 365))
        consultation(s, person(s, "U0PIA", "Pia Present", real_now), None, real_now, real_now)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.chdir(tmp_path)

    assert main(["retention", "purge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("would delete consultations: 1, professionals: 1 (last contact")
    assert "  consultations: 1" in out
    assert counts(sqlite_engine)["Consultation"] == 2

    assert main(["retention", "purge"]) == 0
    assert capsys.readouterr().out.startswith("deleted consultations: 1, professionals: 1")
    assert counts(sqlite_engine)["Consultation"] == 1
    with session_scope(sqlite_engine) as s:
        entry = s.exec(select(AuditEntry).where(
            AuditEntry.action == "retention.purge")).scalar_one()
    assert entry.actor.startswith("cli")


@pytest.fixture
async def services(engine: Engine) -> AsyncIterator[Services]:
    settings = Settings(bot_token="xoxb-unused", api_url="http://127.0.0.1:9/api/")
    async with aiohttp.ClientSession() as http:
        yield Services.build(settings, CAMBS, engine, http, clock=Clock(NOW), pace=0)


async def test_the_purge_runs_weekly_from_the_reminder_loop(services: Services) -> None:
    sv = services
    seed(sv.engine)
    ReminderSweep(sv).run(NOW)  # Tuesday: schedules Sunday's purge
    with session_scope(sv.engine) as s:
        job = s.exec(select(Reminder).where(Reminder.kind == "retention_purge")).scalar_one()
    assert job.key == "job:retention_purge:2026-11-29"
    assert job.due_at == dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.UTC)
    assert counts(sv.engine)["Consultation"] == 3

    ReminderSweep(sv).run(dt.datetime(2026, 11, 29, 3, 0, 30, tzinfo=LONDON))
    assert counts(sv.engine)["Consultation"] == 2
    with session_scope(sv.engine) as s:
        entry = s.exec(select(AuditEntry).where(
            AuditEntry.action == "retention.purge")).scalar_one()
        assert entry.actor == "frontdoor"
        jobs = {r.key: r.status for r in s.exec(select(Reminder).where(
            Reminder.kind == "retention_purge")).scalars()}
    assert jobs == {"job:retention_purge:2026-11-29": "done",
                    "job:retention_purge:2026-12-06": "pending"}


def test_retention_purge_as_of_now(sqlite_url: str, sqlite_engine: Engine, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """``--now`` moves the cut-off: a consultation of 2020 is kept as of 2021, gone as of 2030."""
    then = dt.datetime(2020, 3, 2, 10, 0, tzinfo=dt.UTC)
    with session_scope(sqlite_engine, write=True) as s:
        consultation(s, person(s, "U0OLLY", "Olly Oldfield", then), None, then, then)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.chdir(tmp_path)
    assert main(["retention", "purge", "--dry-run", "--now", "2021-03-02T10:00:00+00:00"]) == 0
    assert capsys.readouterr().out.startswith("would delete nothing")
    assert main(["retention", "purge", "--now", "2030-03-02T10:00:00+00:00"]) == 0
    assert capsys.readouterr().out.startswith("deleted consultations: 1, professionals: 1")
    with session_scope(sqlite_engine) as s:
        entry = s.exec(select(AuditEntry).where(
            AuditEntry.action == "retention.purge")).scalar_one()
    assert entry.at.replace(tzinfo=dt.UTC) == dt.datetime(2030, 3, 2, 10, 0, tzinfo=dt.UTC)
