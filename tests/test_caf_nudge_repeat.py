"""An ignored overdue-TAC nudge is repeated on the policy's cadence and then escalated.

The real Bolt app, the fake Web API and a moved clock (Europe/London): the first
nudge goes the morning after the meeting's due date; nobody answers, so a repeat
goes ``caf.tac_nudge_every`` (1 week) later, saying it is a repeat and how long the
meeting has been overdue; after ``caf.tac_nudge_escalate_after`` (2) nudges the
co-ordinator is asked to follow it up and the escalation channel is told, once.
Each nudge is sent once however often the sweep runs; recording the meeting stops
them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot import intents
from bot.config import Settings
from bot.flows.caf.models import NewEpisode
from bot.handlers.slack.blocks import ids
from bot.handlers.teams.cards import ac
from bot.handlers.teams.cards import caf as teams_caf
from bot.reminders import ReminderSweep
from bot.services import Services
from store.db import make_engine, session_scope
from store.migrate import upgrade
from store.models import CafEpisode, OutboxMessage, Reminder
from tests.helpers import at
from tests.slackenv import SlackEnv, slack_env
from tests.test_caf import CAMBS, ESCALATION, Env, agreed, env, register, said  # noqa: F401
from tests.test_caf import sweep as caf_sweep
from tests.test_caf_slack import (
    COORD,
    LEAD,
    LONDON,
    TUESDAY,
    buttons,
    episodes,
    modal,
    pending_keys,
    register_by_slash,
    settle,
    sweep,
    with_text,
)
from tests.test_teams_render import COORDINATOR as TEAMS_COORDINATOR
from tests.test_teams_render import LEAD as TEAMS_LEAD
from tests.test_teams_render import NAMES, assert_teams_activity


def words(msgs: list[dict[str, Any]]) -> str:
    return json.dumps(msgs)


async def sweep_at(ws: SlackEnv, *when: int) -> None:
    """Sweep at ``when`` (year, month, day, hour) London time, twice: the second finds
    nothing more to send."""
    ws.clock.now = dt.datetime(*when, tzinfo=LONDON)
    await sweep(ws)
    await sweep(ws)


async def test_an_ignored_nudge_repeats_weekly_then_escalates_once(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as ws:
        ep = await register_by_slash(ws)
        assert ws.policy.caf.tac_nudge_every == dt.timedelta(weeks=1)
        assert ws.policy.caf.tac_nudge_escalate_after == 2
        escalation = ws.policy.channel("escalation")
        await sweep_at(ws, 2026, 12, 23, 9, 0)  # the morning after it was due
        for user in (LEAD, COORD):
            (first,) = with_text(ws, user, "meeting is overdue")
            assert "reminder" not in words([first])
        # Six days later nothing more: the cadence is a week.
        await sweep_at(ws, 2026, 12, 29, 16, 0)
        assert len(with_text(ws, LEAD, "still overdue")) == 0

        # A week on: a repeat, once, saying so and how long it has been overdue.
        await sweep_at(ws, 2026, 12, 30, 9, 0)
        for user in (LEAD, COORD):
            (repeat,) = with_text(ws, user, "still overdue")
            said = words([repeat])
            assert "the first family planning meeting is still overdue (reminder 2)" in said
            assert ("This is a repeat (reminder 2): the meeting has been overdue for 8 days "
                    "and is not recorded yet.") in said
            assert buttons(repeat) == [ids.CAF_HELD, ids.CAF_REARRANGED, ids.CAF_STUCK,
                                       ids.CAF_CLOSE]
        assert "EHM-20417" not in words(ws.fake.history(escalation))

        # Two nudges ignored: the third goes to the co-ordinator as an escalation, and
        # the escalation channel is told; the lead professional gets reminder 3.
        await sweep_at(ws, 2027, 1, 6, 9, 0)
        (to_lead,) = with_text(ws, LEAD, "(reminder 3)")
        assert "This is a repeat (reminder 3): the meeting has been overdue for 15 days" in (
            words([to_lead]))
        (to_coord,) = with_text(ws, COORD, "escalated after 2 reminders")
        assert ("The meeting has been overdue for 15 days and 2 reminders to the lead "
                "professional have had no answer. As the co-ordinator, please follow it up "
                "with them, or record the meeting here.") in words([to_coord])
        assert ids.CAF_HELD in buttons(to_coord)
        told = [m for m in ws.fake.history(escalation) if "EHM-20417" in words([m])]
        assert len(told) == 1 and "escalated after 2 reminders" in words(told)
        assert "The co-ordinator is asked to follow it up." in words(told)

        # A week on: the co-ordinator again, the channel not again.
        await sweep_at(ws, 2027, 1, 13, 9, 0)
        assert len(with_text(ws, COORD, "escalated after")) == 2
        assert len([m for m in ws.fake.history(escalation) if "EHM-20417" in words([m])]) == 1

        # The lead professional records the meeting: every pending nudge stops.
        live = [m for m in ws.dm(LEAD) if buttons(m)][-1]
        await ws.click_card(LEAD, ws.dm_id(LEAD), live["ts"], ids.CAF_HELD)
        view = await modal(ws, ids.MODAL_CAF_HELD)
        d = await ws.sender.view_submission(LEAD, view, {ids.IN_CAF_DATE[1]: "2027-01-12"})
        assert d.status == 200 and not d.body
        await settle(ws, lambda: episodes(db_file)[0].last_meeting_on is not None,
                     "the meeting was recorded")
        assert not any(k.startswith(f"caf:{ep.id}:tac:2026-12-22")
                       for k in pending_keys(db_file))
        before = {u: len(ws.dm(u)) for u in (LEAD, COORD)}
        await ws.drain()
        settled = {u: len(ws.dm(u)) for u in (LEAD, COORD)}
        await sweep_at(ws, 2027, 1, 20, 9, 0)
        await sweep_at(ws, 2027, 1, 27, 9, 0)
        assert {u: len(ws.dm(u)) for u in (LEAD, COORD)} == settled, before


async def test_a_late_sweep_sends_one_repeat_not_one_per_missed_week(env: Env) -> None:  # noqa: F811
    sv = env[0]
    ep = register(env)
    assert len(caf_sweep(sv, at(2026, 12, 23, 9, 0))) == 2  # the first nudge, both people
    # Down for three weeks: the sweep that comes back sends reminder 2 once, to both.
    rows = caf_sweep(sv, at(2027, 1, 20, 9, 0))
    assert sorted(r.channel for r in rows) == [COORD, LEAD]
    assert all("(reminder 2)" in said(r) for r in rows)
    assert caf_sweep(sv, at(2027, 1, 26, 9, 0)) == []  # the next a full week after it
    third = caf_sweep(sv, at(2027, 1, 27, 9, 0))  # two ignored: escalated now
    assert sorted(r.channel for r in third) == sorted([COORD, LEAD, ESCALATION])
    # Closing the CAF stops the repeats.
    assert sv.caf.close(ep.id or 0, COORD, "consent_withdrawn").ok
    assert caf_sweep(sv, at(2027, 2, 3, 9, 0)) == []
    assert caf_sweep(sv, at(2027, 3, 3, 9, 0)) == []


def test_the_repeat_and_the_escalation_are_valid_teams_cards() -> None:
    ep = CafEpisode(id=7, ehm_reference="EHM-20417", lead_user_id=TEAMS_LEAD,
                    coordinator_user_id=TEAMS_COORDINATOR, completed_on=dt.date(2026, 11, 24),
                    consent=True, next_meeting_due=dt.date(2026, 12, 22), platform="teams")
    for nudge, escalated, words_read in (
            (2, "", "This is a repeat (reminder 2): the meeting has been overdue for 8 days"),
            (3, "coordinator", "As the co-ordinator, please follow it up with them"),
            (3, "channel", "The co-ordinator is asked to follow it up.")):
        today = dt.date(2026, 12, 22) + dt.timedelta(days=8 if nudge == 2 else 15)
        activity = teams_caf.tac_overdue(ep, dt.date(2026, 12, 22), CAMBS, today,
                                         ac.Mentions(NAMES), nudge, escalated)
        assert_teams_activity(activity)
        assert words_read in json.dumps(activity, ensure_ascii=False)


@pytest.mark.fault
@pytest.mark.postgres
async def test_two_replicas_send_each_repeat_once_and_queue_one_next(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine)
    settings = Settings(bot_token="xoxb-unused", api_url="http://127.0.0.1:9/api/")
    async with aiohttp.ClientSession() as http:
        # Two replicas, each with its own engine (its own connections), sweeping at once.
        replicas = [Services.build(settings, CAMBS, make_engine(postgres_url), http,
                                   clock=lambda: at(2026, 11, 24, 10, 0)) for _ in range(2)]
        for i in range(30):
            new = NewEpisode(f"EHM-{900 + i}", LEAD, COORD, dt.date(2026, 11, 24), True)
            registered = replicas[0].caf.register(new, "U0ADVISOR")
            assert registered.ok and registered.episode is not None
            agreed(replicas[0], registered.episode)  # QA agreed the day it was completed
        for when in (at(2026, 12, 23, 9, 0), at(2026, 12, 30, 9, 0)):
            await asyncio.gather(*(asyncio.to_thread(
                ReminderSweep(sv, worker_id=f"replica-{n}", batch=7).run, when)
                for n, sv in enumerate(replicas)))
    with session_scope(engine) as s:
        keys = [r.idempotency_key for r in s.exec(select(OutboxMessage)).scalars()  # type: ignore[call-overload]
                if r.intent == intents.CAF_TAC_OVERDUE]
        pending = [r.key for r in s.exec(select(Reminder).where(  # type: ignore[call-overload]
            Reminder.kind == "tac_overdue", Reminder.status == "pending")).scalars()]
    assert len(keys) == len(set(keys)) == 30 * 2 * 2  # two nudges, two people, thirty CAFs
    assert len(pending) == 30 and all(k.endswith(":3") for k in pending)  # one next each
    for sv in replicas:
        sv.engine.dispose()
    engine.dispose()
