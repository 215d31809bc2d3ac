"""Migration 0005 (platforms): a database written by the release before it upgrades with
every row intact, and the bot goes on from it: a message that release left queued is
delivered once, a redraw it queued finds the card where that release posted it, and a
due reminder fires once. On SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.engine import Engine

from bot.config import Settings
from bot.policy import load_policy
from bot.reminders import ReminderSweep
from bot.sandbox import demo
from bot.sandbox.webapi import FakeSlack
from bot.services import Services
from store import sql
from store.db import make_engine, session_scope
from store.migrate import current_revision, head_revision, upgrade
from store.models import (
    AuditEntry,
    CafEpisode,
    CafMeeting,
    Consultation,
    Decision,
    FlowSession,
    OutboxMessage,
    Professional,
    Reminder,
    TriageCard,
)

TOKEN = "xoxb-migration-test"
POLICY = load_policy("cambridgeshire")
MASH = POLICY.channel("mash_managers")
CONSULT = POLICY.channel("consultation_duty")
HEALTH = "U0HEALTH"
MANAGER = "U0MANAGER"
RECEIVED = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)  # past the card's first warning


@pytest.fixture
def old_engine(db_url: str) -> AsyncIterator[Engine]:
    eng = make_engine(db_url)
    upgrade(eng, to="0004")  # the schema the release before 0005 made
    yield eng
    eng.dispose()


def _when(eng: Engine, value: dt.datetime) -> Any:
    # As that release stored it: naive UTC text on SQLite, timestamptz on PostgreSQL.
    return value.replace(tzinfo=None) if eng.dialect.name == "sqlite" else value


def _write_old_rows(eng: Engine, card_ts: str, consult_ts: str, question_ts: str) -> None:
    """Rows as the previous release wrote them (its columns, its Slack method names)."""
    w = lambda v: _when(eng, v)  # noqa: E731
    meta = sa.MetaData()
    meta.reflect(bind=eng)
    t = meta.tables
    with eng.begin() as c:
        c.execute(t["professional"].insert().values(
            id=1, slack_user_id=HEALTH, name="Hal Visitor", role="Health visitor",
            agency="health", contact="", created_at=w(RECEIVED), updated_at=w(RECEIVED)))
        c.execute(t["flow_session"].insert().values(
            id=1, user_id=HEALTH, kind="refer", state="done", status="completed",
            answers={"age_band": "5-10"}, history=["safety"], channel="D0HEALTH",
            message_ts=question_ts, version=9, reference="FD-2026-000001",
            started_at=w(RECEIVED), updated_at=w(RECEIVED)))
        c.execute(t["referral"].insert().values(
            id=1, reference="FD-2026-000001", kind="checklist", professional_id=1, flow_id=1,
            age_band="5-10", categories=["neglect"], summary={"worry": "Often hungry."},
            consent_status="given", completeness=90, gaps=[], phone_referral=False,
            created_at=w(RECEIVED), last_contact_at=w(RECEIVED)))
        c.execute(t["triage_card"].insert().values(
            id=1, referral_id=1, reference="FD-2026-000001", referrer_user_id=HEALTH,
            suggested_rating="amber_cin", suggested_reasons=[{"rule": "r", "text": "t"}],
            status="new", received_at=w(RECEIVED), due_at=w(RECEIVED + dt.timedelta(days=1)),
            clock="decision", breached=False, info_requested=False, channel=MASH, ts=card_ts,
            version=1))
        c.execute(t["decision"].insert().values(
            id=1, card_id=1, actor=MANAGER, at=w(RECEIVED), action="approve",
            old_rating=None, new_rating="amber_cin", reason=None))
        c.execute(t["consultation"].insert().values(
            id=1, reference="FD-2026-000002", professional_id=1, age_band="0-4",
            categories=["neglect"], summary={}, suggested_outcome="early_help",
            suggested_reasons=[], repeat_count=1, status="open", card_channel=CONSULT,
            card_ts=consult_ts, created_at=w(RECEIVED), last_contact_at=w(RECEIVED)))
        c.execute(t["caf_episode"].insert().values(
            id=1, ehm_reference="EHM-123456", lead_user_id=HEALTH, coordinator_user_id=MANAGER,
            completed_on=dt.date(2026, 10, 1), consent=True, status="open", source="slash",
            next_meeting_due=dt.date(2026, 12, 20), created_at=w(RECEIVED), version=2))
        c.execute(t["caf_meeting"].insert().values(
            id=1, episode_id=1, held_on=dt.date(2026, 11, 1), recorded_by=HEALTH,
            recorded_at=w(RECEIVED)))
        c.execute(t["audit"].insert().values(
            id=1, at=w(RECEIVED), actor=MANAGER, action="card.approve", subject_type="card",
            subject_id="1", old_value=None, new_value="amber_cin"))
        c.execute(t["reminder"].insert().values(
            id=1, key="card:1:decision:warn:0.5", kind="sla_warning", subject_type="card",
            subject_id=1, due_at=w(RECEIVED + dt.timedelta(hours=12)), status="pending",
            payload={"clock": "decision", "fraction": 0.5,
                     "due": (RECEIVED + dt.timedelta(days=1)).isoformat()},
            sent_count=0, attempts=0,
            created_at=w(RECEIVED)))
        outbox = t["outbox"]
        c.execute(outbox.insert().values(
            id=1, idempotency_key="card:1:post", method="chat.postMessage", channel=MASH,
            payload={"render": "triage_card", "id": 1, "channel": MASH}, status="sent",
            attempts=1, next_attempt_at=w(RECEIVED), result_ts=card_ts, subject_type="card",
            subject_id=1, created_at=w(RECEIVED), sent_at=w(RECEIVED)))
        # Left queued by the old release: a DM as Block Kit, and a redraw of the card.
        c.execute(outbox.insert().values(
            id=2, idempotency_key="card:1:v1:outcome", method="chat.postMessage",
            channel=HEALTH, payload={"channel": HEALTH, "text": "Queued before the upgrade."},
            status="pending", attempts=0, next_attempt_at=w(RECEIVED), created_at=w(RECEIVED)))
        c.execute(outbox.insert().values(
            id=3, idempotency_key="card:1:update:v1", method="chat.update", channel=MASH,
            payload={"render": "triage_card", "id": 1, "channel": MASH}, status="pending",
            attempts=0, next_attempt_at=w(RECEIVED), created_at=w(RECEIVED)))
        c.execute(outbox.insert().values(
            id=4, idempotency_key="card:1:v1:ask", method="chat.postMessage", channel=MASH,
            payload={"channel": MASH, "thread_of": "card:1", "text": "Queued note."},
            status="pending", attempts=0, next_attempt_at=w(RECEIVED), created_at=w(RECEIVED)))
        if eng.dialect.name == "postgresql":  # rows written with their ids: as if by use
            for name in ("professional", "flow_session", "referral", "triage_card", "decision",
                         "consultation", "caf_episode", "caf_meeting", "audit", "reminder",
                         "outbox"):
                c.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                  f"(SELECT max(id) FROM {name}))"))


def _snapshot(eng: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables whose rows must survive, minus the columns 0005 moves."""
    moved = {"slack_user_id", "user_id", "channel", "ts", "message_ts", "card_channel",
             "card_ts", "method", "intent", "result_ts", "message_id", "payload", "platform",
             "subject_type", "subject_id"}  # (a queued redraw gains its subject: asserted below)
    # Columns later revisions add (None on every old row: nothing to survive).
    moved |= {"asker_name", "asker_role", "asker_agency", "asker_contact", "advisor_name",
              "advisor_role"}
    moved |= {"qa_status", "plan_agreed_on"}  # 0008 adds them, empty: asserted below
    tables = ("professional", "flow_session", "referral", "triage_card", "decision",
              "consultation", "caf_episode", "caf_meeting", "audit", "reminder", "outbox")
    meta = sa.MetaData()
    meta.reflect(bind=eng, only=tables)
    with eng.connect() as c:
        return {name: [{k: v for k, v in r._mapping.items() if k not in moved}
                       for r in c.execute(sa.select(meta.tables[name]).order_by("id"))]
                for name in tables}


async def test_a_database_from_the_last_release_upgrades_and_the_bot_goes_on(
    old_engine: Engine,
) -> None:
    async with FakeSlack(tokens=[TOKEN]) as fake, aiohttp.ClientSession() as http:
        demo.seed(fake, POLICY)
        # What the old release had posted is in Slack: the card, the consultation card and
        # the question on screen (the bot posts; its ts is Slack's).
        slack = AsyncWebClient(token=TOKEN, base_url=fake.base_url, session=http)
        card_ts = (await slack.chat_postMessage(channel=MASH, text="FD-2026-000001"))["ts"]
        consult_ts = (await slack.chat_postMessage(channel=CONSULT, text="FD-2026-000002"))["ts"]
        question = await slack.chat_postMessage(channel=fake.dm_channel(HEALTH), text="Q?")
        _write_old_rows(old_engine, card_ts, consult_ts, question["ts"])
        before = _snapshot(old_engine)

        assert upgrade(old_engine) == head_revision() == current_revision(old_engine)

        assert _snapshot(old_engine) == before  # every row, every value that did not move
        with session_scope(old_engine) as s:
            cx = sql.Cx.of(s)
            prof = s.get(Professional, 1)
            assert prof is not None and (prof.platform, prof.user_id) == ("slack", HEALTH)
            assert (s.get(FlowSession, 1).platform, s.get(TriageCard, 1).platform) == (  # type: ignore[union-attr]
                "slack", "slack")
            assert sql.where(cx, "card", 1, "post") == sql.Place(MASH, card_ts)
            assert sql.where(cx, "consultation", 1, "post") == sql.Place(CONSULT, consult_ts)
            assert sql.where(cx, "flow", 1, "question") == sql.Place("D0HEALTH", question["ts"])
            rows = {r.id: r for r in s.exec(sa.select(OutboxMessage)).scalars()}  # type: ignore[call-overload]
            assert rows[1].intent == "chat.postMessage" and rows[1].message_id == card_ts
            assert rows[2].intent == rows[4].intent == "slack_call"
            # A redraw the old release would have drawn when sent is this release's intent.
            assert (rows[3].intent, rows[3].subject_type, rows[3].subject_id) == (
                "triage_card.update", "card", 1)
            assert rows[4].payload["args"]["thread_ts"] == card_ts  # the note keeps its thread
            assert rows[2].payload == {"method": "chat.postMessage", "args": {
                "channel": HEALTH, "text": "Queued before the upgrade."}}
            old_caf = s.get(CafEpisode, 1)  # registered before QA: its clocks run as they did
            assert old_caf is not None and (old_caf.qa_status, old_caf.plan_agreed_on) == (
                None, None)
            assert (s.get(Decision, 1), s.get(CafEpisode, 1), s.get(CafMeeting, 1),
                    s.get(AuditEntry, 1), s.get(Consultation, 1)) != (None,) * 5

        # The bot goes on from it.
        settings = Settings(bot_token=TOKEN, api_url=fake.base_url)
        sv = Services.build(settings, POLICY, old_engine, http, pace=0, clock=lambda: NOW)
        try:
            ReminderSweep(sv).run(NOW)
            ReminderSweep(sv).run(NOW)  # a second sweep finds nothing new to fire
            for _ in range(5):
                await sv.sender.run_once()
        finally:
            sv.tx.close()
        dm = [m for m in fake.history(fake.dm_channel(HEALTH))
              if m.get("text") == "Queued before the upgrade."]
        assert len(dm) == 1  # the queued message, delivered once
        updates = [c for c in fake.calls_to("chat.update") if c.ok]
        assert updates and all(c.args["ts"] == card_ts for c in updates)
        with session_scope(old_engine) as s:
            r = s.get(Reminder, 1)
            assert r is not None and r.status == "done"
            left = s.exec(sa.select(OutboxMessage).where(  # type: ignore[call-overload]
                OutboxMessage.status != "sent")).scalars().all()
            assert not left, [(o.idempotency_key, o.status, o.last_error) for o in left]
            notes = [m for m in fake.thread(MASH, card_ts) if m.get("ts") != card_ts]
            # The queued note and the due warning (fired once), in the card's thread.
            assert "Queued note." in [m.get("text") for m in notes], notes
            assert len(notes) == 2, notes


def test_the_migrations_make_the_schema_the_models_describe(engine: Engine) -> None:
    """No column, index or constraint of store/models.py is missing from the migrations
    (or the other way round): what `db upgrade` makes is what the code expects."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == [], diff
