"""Retention of CAF episodes, their meetings and Slack's processed event ids.

A CAF episode closed more than the policy's retention ago (and no meeting recorded
since) goes, with its meetings, reminders and outbox rows; an open one is never
purged however old; one linked to a card that is kept stays with it. Event ids
(kept only so that a retried Slack delivery does nothing twice) go after a day.
On SQLite and PostgreSQL. Every name and reference here is made up.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot import retention
from bot.cli import main
from bot.flows.caf.models import NewEpisode
from bot.flows.caf.service import CafService
from store import sql
from store.db import session_scope
from store.models import AuditEntry, CafEpisode, CafMeeting, ProcessedEvent, Reminder, TriageCard
from store.runner import TxRunner
from tests.slackenv import Clock
from tests.test_retention import CAMBS, NOW, OLD, RECENT, person, referral


def episode(sv: CafService, clock: Clock, ref: str, at: dt.datetime, *,
            meeting: bool = True, close_at: dt.datetime | None = None) -> int:
    """Register an episode as of ``at``, record a meeting a week later, close it at ``close_at``."""
    clock.now = at
    result = sv.register(NewEpisode(ref, "U0LEAD", "U0COORD", at.date(), True), "U0COORD")
    assert result.status == "ok", result
    eid = int(result.episode.id or 0)  # type: ignore[union-attr]
    if meeting:
        clock.now = at + dt.timedelta(days=7)
        assert sv.record_meeting(eid, "U0LEAD", clock.now.date()).status == "ok"
    if close_at is not None:
        clock.now = close_at
        assert sv.close(eid, "U0COORD", "plan_complete").status == "ok"
    return eid


def events(engine: Engine, *received: dt.datetime) -> None:
    with session_scope(engine, write=True) as s:
        for n, at in enumerate(received):
            assert sql.claim_event(sql.Cx.of(s), f"Ev{n:04d}", at)


def rows(engine: Engine, model: type) -> int:
    with session_scope(engine) as s:
        return int(s.exec(select(func.count()).select_from(model)).scalar_one())  # type: ignore[call-overload]


def seed(engine: Engine) -> dict[str, int]:
    clock = Clock(OLD)
    sv = CafService(TxRunner(engine), CAMBS, clock)
    ids = {
        # Closed seven years ago: purged with its meeting and its (cancelled) reminders.
        "closed_old": episode(sv, clock, "EHM-5001", OLD, close_at=OLD + dt.timedelta(days=60)),
        # Opened seven years ago and still open: never purged.
        "open_old": episode(sv, clock, "EHM-5002", OLD),
        # Closed last month: kept.
        "closed_recent": episode(sv, clock, "EHM-5003", RECENT - dt.timedelta(days=90),
                                 close_at=RECENT),
        # Closed seven years ago, but a card decided last month was routed to it: kept.
        "closed_linked": episode(sv, clock, "EHM-5004", OLD, meeting=False,
                                 close_at=OLD + dt.timedelta(days=30)),
    }
    with session_scope(engine, write=True) as s:
        card = s.get(TriageCard, referral(s, person(s, "U0OLLY", "Olly Oldfield", OLD),
                                          OLD, RECENT))
        assert card is not None
        card.caf_episode_id = ids["closed_linked"]
        s.add(card)
    events(engine, NOW - dt.timedelta(days=3), NOW - dt.timedelta(hours=25),
           NOW - dt.timedelta(hours=2), NOW - dt.timedelta(minutes=5))
    return ids


def test_closed_caf_episodes_and_old_event_ids_are_purged(engine: Engine) -> None:
    ids = seed(engine)
    with session_scope(engine) as s:
        old_reminders = len(list(s.exec(select(Reminder.id).where(  # type: ignore[call-overload]
            Reminder.subject_type == "caf", Reminder.subject_id == ids["closed_old"])).scalars()))
    assert old_reminders >= 2  # its TAC and reassessment clocks, cancelled at closing

    with session_scope(engine, write=True) as s:
        dry = retention.purge(s, CAMBS, NOW, dry_run=True)
    assert (dry.counts["caf_episodes"], dry.counts["caf_meetings"],
            dry.counts["processed_events"]) == (1, 1, 2)
    assert "caf_episodes: 1, caf_meetings: 1, processed_events: 2" in dry.describe()
    assert dry.describe().endswith("; event ids after a day)")
    assert rows(engine, CafEpisode) == 4 and rows(engine, ProcessedEvent) == 4  # a dry run

    with session_scope(engine, write=True) as s:
        result = retention.purge(s, CAMBS, NOW, actor="U0MANAGER")
    assert result.counts == dry.counts
    with session_scope(engine) as s:
        assert s.get(CafEpisode, ids["closed_old"]) is None
        for kept in ("open_old", "closed_recent", "closed_linked"):
            assert s.get(CafEpisode, ids[kept]) is not None, kept
        meetings = {m.episode_id for m in s.exec(select(CafMeeting)).scalars()}  # type: ignore[call-overload]
        assert meetings == {ids["open_old"], ids["closed_recent"]}
        assert not list(s.exec(select(Reminder.id).where(  # type: ignore[call-overload]
            Reminder.subject_type == "caf", Reminder.subject_id == ids["closed_old"])).scalars())
        left = set(s.exec(select(ProcessedEvent.event_id)).scalars())  # type: ignore[call-overload]
        assert left == {"Ev0002", "Ev0003"}  # the last day's: a retry is still refused
        entry = s.exec(select(AuditEntry).where(
            AuditEntry.action == "retention.purge")).scalar_one()
        counted = json.loads(entry.new_value or "{}")
        assert (counted["caf_episodes"], counted["processed_events"]) == (1, 2)
    with session_scope(engine, write=True) as s:
        assert sql.claim_event(sql.Cx.of(s), "Ev0000", NOW) is True
        assert sql.claim_event(sql.Cx.of(s), "Ev0003", NOW) is False
    with session_scope(engine, write=True) as s:
        assert retention.purge(s, CAMBS, NOW).counts["caf_episodes"] == 0


def test_a_meeting_recorded_since_the_cutoff_keeps_a_closed_episode(engine: Engine) -> None:
    clock = Clock(OLD)
    sv = CafService(TxRunner(engine), CAMBS, clock)
    eid = episode(sv, clock, "EHM-6001", OLD, meeting=False, close_at=OLD + dt.timedelta(days=9))
    with session_scope(engine, write=True) as s:  # recorded late, after the closure
        s.add(CafMeeting(episode_id=eid, held_on=OLD.date(), recorded_by="U0LEAD",
                         recorded_at=RECENT))
    with session_scope(engine, write=True) as s:
        assert retention.purge(s, CAMBS, NOW).counts["caf_episodes"] == 0
    assert rows(engine, CafEpisode) == 1


def test_retention_purge_command_counts_caf_and_events(
        sqlite_url: str, sqlite_engine: Engine, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    seed(sqlite_engine)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.delenv("FRONTDOOR_POLICY", raising=False)
    monkeypatch.chdir(tmp_path)
    now = NOW.astimezone(dt.UTC).isoformat()
    assert main(["retention", "purge", "--dry-run", "--now", now]) == 0
    out = capsys.readouterr().out
    for line in ("  caf_episodes: 1", "  caf_meetings: 1", "  processed_events: 2"):
        assert line in out
    assert rows(sqlite_engine, CafEpisode) == 4
    assert main(["retention", "purge", "--now", now]) == 0
    assert "caf_episodes: 1" in capsys.readouterr().out
    assert rows(sqlite_engine, CafEpisode) == 3
    with session_scope(sqlite_engine) as s:
        assert s.exec(select(func.count()).select_from(  # type: ignore[call-overload]
            ProcessedEvent)).scalar_one() == 2
