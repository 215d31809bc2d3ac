"""SLA clocks as durable reminders: each warning and breach fires once, at the right
working-time moment; closed items are never nudged; snooze moves the next nudge."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot import intents
from bot.config import Settings
from bot.flows.triage.scheduled import start_card_clocks
from bot.policy import load_policy
from bot.reminders import ReminderSweep
from bot.services import Services
from store import repo, sql
from store.db import session_scope
from store.models import OutboxMessage, Referral, Reminder, TriageCard
from tests.helpers import LONDON, at
from tests.slackenv import Clock

CAMBS = load_policy("cambridgeshire")
EARLY_HELP = CAMBS.channel("early_help_duty")
ESCALATION = CAMBS.channel("escalation")
EDT = CAMBS.channel("edt")


@pytest.fixture
async def services(engine: Engine) -> AsyncIterator[tuple[Services, Clock]]:
    clock = Clock(at(2026, 12, 18, 15, 0))
    settings = Settings(bot_token="xoxb-unused", api_url="http://127.0.0.1:9/api/")
    async with aiohttp.ClientSession() as http:
        yield Services.build(settings, CAMBS, engine, http, clock=clock), clock


def new_card(sv: Services, received: dt.datetime, rating: str = "green",
             phoned: dt.datetime | None = None) -> int:
    """A referral's card arriving at ``received`` (as the flow service writes it)."""
    with session_scope(sv.engine, write=True) as s:
        prof = repo.professional(s, "U0HEALTH", name="Hal Visitor")
        ref = repo.next_reference(s, received)
        referral = Referral(reference=ref, professional_id=prof.id or 0, created_at=received,
                            last_contact_at=received, phone_referral=phoned is not None,
                            phoned_at=phoned)
        s.add(referral)
        s.flush()
        card = TriageCard(referral_id=referral.id or 0, reference=ref,
                          referrer_user_id="U0HEALTH", suggested_rating=rating,
                          received_at=received)
        s.add(card)
        s.flush()
        start_card_clocks(s, sv.policy, card, referral)  # as the domain does when it writes one
        sv.triage_messaging.new_card(s, card.id or 0)
        return card.id or 0


def sweep(sv: Services, now: dt.datetime) -> list[OutboxMessage]:
    """One sweep at ``now``; the outbox rows it created."""
    with session_scope(sv.engine) as s:
        before = {r.id for r in s.exec(select(OutboxMessage)).scalars()}  # type: ignore[call-overload]
    ReminderSweep(sv).run(now)
    with session_scope(sv.engine) as s:
        rows = s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).scalars()  # type: ignore[call-overload,arg-type]
        return [r for r in rows if r.id not in before]


def notes(rows: list[OutboxMessage]) -> list[OutboxMessage]:
    """The rows that are notes in a card's thread (a warning's words)."""
    return [r for r in rows if intents.intent_of(r) == intents.CARD_NOTE]


def texts(rows: list[OutboxMessage]) -> list[tuple[str, str]]:
    """(channel, everything the row says) for each row."""
    return [(r.channel, json.dumps(r.payload)) for r in rows]


def reminders(sv: Services, card_id: int) -> dict[str, Any]:
    with session_scope(sv.engine) as s:
        rows = s.exec(select(Reminder).where(  # type: ignore[call-overload]
            Reminder.subject_id == card_id)).scalars()
        # "card:7:contact_decision:20261218T150000:warn:0.5" -> "contact_decision:warn:0.5"
        out = {}
        for r in rows:
            parts = r.key.split(":")
            out[f"{parts[2]}:{':'.join(parts[4:])}"] = (r.status, r.due_at.astimezone(LONDON))
        return out


async def test_decision_clock_over_a_weekend(services: tuple[Services, Clock]) -> None:
    """Friday 15:00 + 1 working day (Cambridgeshire: Friday closes 16:20) is Monday 15:00.

    Open time from Fri 15:00 to Mon 15:00 is 80 + 375 = 455 minutes, so the 50% warning
    falls at Mon 08:45 + 147.5 min = 11:12:30 and the 80% one at Mon 08:45 + 284 min = 13:29.
    """
    sv, _ = services
    card_id = new_card(sv, at(2026, 12, 18, 15, 0))
    r = reminders(sv, card_id)
    assert r["contact_decision:warn:0.5"][1] == at(2026, 12, 21, 11, 12, 30)
    assert r["contact_decision:warn:0.8"][1] == at(2026, 12, 21, 13, 29)
    assert r["contact_decision:breach"][1] == at(2026, 12, 21, 15, 0)
    assert sweep(sv, at(2026, 12, 19, 12, 0)) == []  # Saturday: nothing is due
    assert sweep(sv, at(2026, 12, 21, 11, 12)) == []
    first = sweep(sv, at(2026, 12, 21, 11, 13))
    # The note in the card's thread, and the card redrawn to say a warning was sent.
    assert [intents.intent_of(r) for r in first] == [intents.CARD_NOTE,
                                                      intents.TRIAGE_CARD_UPDATE]
    assert first[0].subject_id == card_id  # in the card's thread
    said = texts(first)[0][1]
    assert "Decision on the contact: 50% of the time has gone" in said
    assert {"user": "U0MANAGER"} in first[0].payload["notify"]  # the managers are mentioned
    assert sweep(sv, at(2026, 12, 21, 11, 14)) == []  # fired once only
    assert len(notes(sweep(sv, at(2026, 12, 21, 13, 30)))) == 1  # 80%
    breach = sweep(sv, at(2026, 12, 21, 15, 0))
    channels = [c for c, _ in texts(breach)]
    assert EARLY_HELP in channels and ESCALATION in channels  # thread note + escalation
    # The card shows the breach:
    assert any(intents.intent_of(r) == intents.TRIAGE_CARD_UPDATE for r in breach)
    with session_scope(sv.engine) as s:
        assert s.get(TriageCard, card_id).breached is True  # type: ignore[union-attr]
    assert sweep(sv, at(2026, 12, 22, 9, 0)) == []


async def test_clock_skips_christmas_bank_holidays(services: tuple[Services, Clock]) -> None:
    """Thu 24 Dec 15:00 + 1 working day skips Christmas (Fri) and Boxing Day observed (Mon).

    Open time: Thu 15:00-17:20 (140 min) + Tue 08:45-15:00 (375) = 515 min, so the 50%
    warning is at Tue 08:45 + 117.5 min = 10:42:30, after both holidays.
    """
    sv, _ = services
    card_id = new_card(sv, at(2026, 12, 24, 15, 0))
    r = reminders(sv, card_id)
    assert r["contact_decision:breach"][1] == at(2026, 12, 29, 15, 0)
    assert r["contact_decision:warn:0.5"][1] == at(2026, 12, 29, 10, 42, 30)
    assert sweep(sv, at(2026, 12, 28, 23, 59)) == []  # nothing over Christmas
    assert len(notes(sweep(sv, at(2026, 12, 29, 10, 43)))) == 1
    assert len(notes(sweep(sv, at(2026, 12, 29, 14, 59)))) == 1  # 80%: Tue 08:45 + 327 min
    assert sweep(sv, at(2026, 12, 29, 14, 59)) == []
    assert any(c == ESCALATION for c, _ in texts(sweep(sv, at(2026, 12, 29, 15, 0))))


async def test_closed_card_is_never_nudged(services: tuple[Services, Clock]) -> None:
    sv, clock = services
    card_id = new_card(sv, at(2026, 12, 18, 15, 0))
    clock.now = at(2026, 12, 18, 15, 30)
    assert sv.triage.close(card_id, "U0MANAGER", "Duplicate").ok
    assert all(s == "cancelled" for s, _ in reminders(sv, card_id).values())
    assert sweep(sv, at(2027, 1, 4, 9, 0)) == []


async def test_a_reminder_for_a_card_closed_after_it_was_due_does_nothing(
        services: tuple[Services, Clock]) -> None:
    sv, _ = services
    card_id = new_card(sv, at(2026, 12, 18, 15, 0))
    with session_scope(sv.engine, write=True) as s:  # closed behind the clock's back
        card = s.get(TriageCard, card_id)
        card.status = "closed"  # type: ignore[union-attr]
    assert sweep(sv, at(2027, 1, 4, 9, 0)) == []


async def test_decision_stops_the_decision_clock_and_starts_the_rating_clock(
        services: tuple[Services, Clock]) -> None:
    sv, clock = services
    card_id = new_card(sv, at(2026, 12, 18, 15, 0))
    clock.now = at(2026, 12, 21, 10, 0)
    assert sv.triage.approve(card_id, "U0MANAGER").ok
    r = reminders(sv, card_id)
    assert r["contact_decision:breach"][0] == "cancelled"  # the decision clock's breach
    assert r["green:breach"] == ("pending", at(2026, 12, 24, 10, 0))
    with session_scope(sv.engine) as s:
        card = s.get(TriageCard, card_id)
        assert card.clock == "green"  # type: ignore[union-attr]
        assert card.due_at == at(2026, 12, 24, 10, 0)  # type: ignore[union-attr]  # 3 working days
    assert sweep(sv, at(2026, 12, 21, 15, 0)) == []  # the old breach does not fire


async def test_snooze_moves_the_next_warning_not_the_breach(
        services: tuple[Services, Clock]) -> None:
    sv, clock = services
    card_id = new_card(sv, at(2026, 12, 18, 15, 0))
    clock.now = at(2026, 12, 21, 11, 0)
    result = sv.triage.snooze(card_id, "U0MANAGER", 120)
    assert result.ok, result.message
    r = reminders(sv, card_id)
    assert r["contact_decision:warn:0.5"][1] == at(2026, 12, 21, 13, 0)
    assert r["contact_decision:warn:0.8"][1] == at(2026, 12, 21, 13, 29)  # already later than 13:00
    assert r["contact_decision:breach"][1] == at(2026, 12, 21, 15, 0)
    assert sweep(sv, at(2026, 12, 21, 12, 0)) == []  # the 11:12 warning was put off
    assert len(notes(sweep(sv, at(2026, 12, 21, 13, 0)))) == 1
    assert not sv.triage.snooze(card_id, "U0MANAGER", 7).ok  # not an offered length


async def test_red_out_of_hours_goes_to_the_edt(services: tuple[Services, Clock]) -> None:
    sv, _ = services
    saturday = at(2026, 12, 19, 19, 30)
    card_id = new_card(sv, saturday, rating="red")
    with session_scope(sv.engine) as s:
        rows = s.exec(select(OutboxMessage)).scalars().all()  # type: ignore[call-overload]
        assert any(r.channel == EDT for r in rows)
        card = s.get(TriageCard, card_id)
        # A suggested Red cannot wait a working day for its decision: 4 wall-clock hours.
        assert card.clock == "red" and card.due_at == at(2026, 12, 19, 23, 30)  # type: ignore[union-attr]


async def test_written_confirmation_clock_for_a_phone_referral(
        services: tuple[Services, Clock]) -> None:
    sv, _ = services
    phoned = at(2026, 12, 21, 9, 0)
    card_id = new_card(sv, at(2026, 12, 21, 10, 0), rating="amber_sh", phoned=phoned)
    with session_scope(sv.engine) as s:
        keys = {r.key for r in s.exec(select(Reminder).where(  # type: ignore[call-overload]
            Reminder.subject_id == card_id)).scalars()}
    assert any(k.startswith(f"card:{card_id}:written_confirmation:") and k.endswith(":breach")
               for k in keys)
    rows = sweep(sv, at(2026, 12, 22, 9, 0))  # 24 h wall clock in Cambridgeshire
    assert any("Written confirmation of the phone referral" in t for _, t in texts(rows))


async def test_an_untouched_flow_expires_with_a_message(services: tuple[Services, Clock]) -> None:
    sv, clock = services
    clock.now = at(2026, 12, 21, 9, 0)
    step = sv.flows.start("U0TEACHER", "consult")
    assert step.flow_id
    assert sweep(sv, at(2026, 12, 22, 8, 59)) == []  # not yet 24 hours
    rows = sweep(sv, at(2026, 12, 22, 9, 1))
    assert len(rows) == 1 and rows[0].channel == "U0TEACHER"
    assert "expired" in json.dumps(rows[0].payload).lower()
    assert sweep(sv, at(2026, 12, 23, 9, 0)) == []  # once


async def test_cards_are_drawn_with_the_service_clock(services: tuple[Services, Clock]) -> None:
    """A card is rendered when sent, from its rows: an absolute due time and the state as
    of the last sweep, whatever the service's or the sender's clock says."""
    sv, clock = services
    card_id = new_card(sv, at(2026, 12, 18, 15, 0))
    with session_scope(sv.engine) as s:
        row = s.exec(select(OutboxMessage).where(  # type: ignore[call-overload]
            OutboxMessage.idempotency_key == f"card:{card_id}:post")).scalar_one()
        clock.now = at(2026, 12, 21, 16, 0)  # an hour after the decision was due
        far_future = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)  # the sender's own time
        drawn = json.dumps(sv.sender.renderer.prepare(sql.Cx.of(s), row, far_future).args,
                           ensure_ascii=False)
    due = int(at(2026, 12, 21, 15, 0).timestamp())  # Fri 15:00 + 1 working day
    assert f"Due <!date^{due}^{{date_short_pretty}} {{time}}|Mon 21 Dec 15:00> · on time" in drawn
    assert "overdue" not in drawn and "2030" not in drawn


async def test_a_decision_keeps_the_written_confirmation_clock_until_received(
        services: tuple[Services, Clock]) -> None:
    sv, clock = services
    card_id = new_card(sv, at(2026, 12, 21, 10, 0), rating="amber_sh",
                       phoned=at(2026, 12, 21, 9, 0))
    clock.now = at(2026, 12, 21, 10, 30)
    assert sv.triage.approve(card_id, "U0MANAGER").ok
    assert reminders(sv, card_id)["written_confirmation:breach"][0] == "pending"
    clock.now = at(2026, 12, 21, 11, 0)
    assert sv.triage.written_received(card_id, "U0MANAGER").ok
    assert reminders(sv, card_id)["written_confirmation:breach"][0] == "cancelled"
    assert not sv.triage.written_received(card_id, "U0MANAGER").ok  # only once
    assert not any("written confirmation" in t for _, t in texts(
        sweep(sv, at(2026, 12, 22, 9, 30))))


async def test_re_rating_back_to_an_earlier_rating_restarts_its_clock(
        services: tuple[Services, Clock]) -> None:
    sv, clock = services
    card_id = new_card(sv, at(2026, 12, 21, 10, 0))
    clock.now = at(2026, 12, 21, 10, 30)
    assert sv.triage.approve(card_id, "U0MANAGER").ok  # green
    clock.now = at(2026, 12, 21, 11, 0)
    assert sv.triage.change(card_id, "U0MANAGER", "amber_sh", "new information").ok
    clock.now = at(2026, 12, 21, 12, 0)
    assert sv.triage.change(card_id, "U0MANAGER", "green", "the worry was resolved").ok
    with session_scope(sv.engine) as s:
        pending = [r for r in s.exec(select(Reminder).where(  # type: ignore[call-overload]
            Reminder.subject_id == card_id, Reminder.status == "pending")).scalars()]
    assert pending and {r.payload["clock"] for r in pending} == {"green"}
    assert any(r.kind == "sla_breach" and r.due_at == at(2026, 12, 24, 12, 0) for r in pending)


async def test_red_decided_in_the_same_second_still_gets_its_action_clock(
        services: tuple[Services, Clock]) -> None:
    sv, clock = services
    arrived = at(2026, 12, 21, 10, 0)
    card_id = new_card(sv, arrived, rating="red")
    clock.now = arrived  # decided at once
    assert sv.triage.approve(card_id, "U0MANAGER").ok
    with session_scope(sv.engine) as s:
        pending = [r for r in s.exec(select(Reminder).where(  # type: ignore[call-overload]
            Reminder.subject_id == card_id, Reminder.status == "pending")).scalars()]
    red = [r for r in pending if r.payload["clock"] == "red"]
    assert {r.kind for r in red} == {"sla_warning", "sla_breach"}
    assert any(r.kind == "sla_breach" and r.due_at == at(2026, 12, 21, 14, 0) for r in red)
