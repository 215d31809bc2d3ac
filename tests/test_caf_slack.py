"""CAF episodes end to end: the real Bolt app over HTTP, the fake Web API, a moved clock.

Registered with ``/caf``; the first family planning meeting goes overdue; the
reminder sweep DMs the lead professional and the co-ordinator; their buttons
record the meeting, ask for help and close the CAF; a manager routes a decided
Green card to a CAF from the card itself.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.flows.caf.models import NewEpisode
from bot.handlers.slack.blocks import ids
from bot.reminders import ReminderSweep
from store import repo
from store.db import make_engine, session_scope
from store.models import AuditEntry, CafEpisode, Referral, Reminder, TriageCard
from tests.helpers import until
from tests.slackenv import MANAGER, OUTSIDER, TEACHER, SlackEnv, slack_env

LONDON = ZoneInfo("Europe/London")
TUESDAY = dt.datetime(2026, 11, 24, 10, 0, tzinfo=LONDON)
LEAD, COORD = "U0LEAD", "U0COORD"


def rows(db_file: str, model: type[Any]) -> list[Any]:
    """Every row of ``model``, read on a connection of the test's own."""
    eng = make_engine(db_file)
    try:
        with session_scope(eng) as s:
            return list(s.exec(select(model)).scalars())  # type: ignore[call-overload]
    finally:
        eng.dispose()


def episodes(db_file: str) -> list[CafEpisode]:
    return rows(db_file, CafEpisode)


def pending_keys(db_file: str) -> set[str]:
    eng = make_engine(db_file)
    try:
        with session_scope(eng) as s:
            rows = s.exec(select(Reminder).where(  # type: ignore[call-overload]
                Reminder.status == "pending", Reminder.subject_type == "caf")).scalars()
            return {r.key for r in rows}
    finally:
        eng.dispose()


def buttons(msg: dict[str, Any]) -> list[str]:
    return [el["action_id"] for b in msg.get("blocks") or [] if b.get("type") == "actions"
            for el in b["elements"]]


def with_text(env: SlackEnv, user: str, text: str) -> list[dict[str, Any]]:
    return [m for m in env.dm(user) if text in json.dumps(m)]


async def sweep(env: SlackEnv) -> None:
    """The reminder sweep as of the test clock, off the loop, then deliver what it queued."""
    await asyncio.to_thread(ReminderSweep(env.bot.sv).run, env.clock())
    await env.drain()


async def modal(env: SlackEnv, callback_id: str) -> dict[str, Any]:
    opened = await env.fake.wait_for(
        "views.open", predicate=lambda c: c.args["view"].get("callback_id") == callback_id)
    return opened[-1].args["view"]


async def settle(env: SlackEnv, predicate: Any, what: str) -> None:
    """Wait (on state, not time) for a listener still running after its ack."""

    async def done() -> bool:
        await env.drain()
        return bool(await asyncio.to_thread(predicate))

    await until(done, what, pause=0.01)


async def register_by_slash(env: SlackEnv, ref: str = "EHM-20417", *, agree: bool = True
                            ) -> CafEpisode:
    """``/caf`` by the co-ordinator; then (``agree``) a CAF manager agrees the plan."""
    d = await env.sender.slash_command(COORD, "/caf", channel_id=env.dm_id(COORD))
    assert d.status == 200
    view = await modal(env, ids.MODAL_CAF_REGISTER)
    d = await env.sender.view_submission(COORD, view, {
        ids.IN_CAF_REFERENCE[1]: ref, ids.IN_CAF_LEAD[1]: LEAD,
        ids.IN_CAF_COORDINATOR[1]: COORD, ids.IN_CAF_COMPLETED[1]: "2026-11-24",
        ids.IN_CAF_CONSENT[1]: "yes"})
    assert d.status == 200 and not d.body, d.body
    await settle(env, lambda: bool(episodes(env.database_url)), "the CAF was registered")
    await env.fake.wait_for("chat.postEphemeral", predicate=lambda c: c.args["user"] == COORD)
    if agree:
        await agree_plan(env, ref)
    return episodes(env.database_url)[0]


def qa_cards(env: SlackEnv, ref: str = "EHM-20417") -> list[dict[str, Any]]:
    """The QA cards about ``ref`` in the CAF team's channel, oldest first."""
    return [m for m in env.fake.history(env.policy.channel("early_help_duty"))
            if f"CAF {ref}: " in json.dumps(m) and "CAF quality assurance" in m.get("text", "")]


async def agree_plan(env: SlackEnv, ref: str = "EHM-20417", manager: str = MANAGER) -> None:
    """A CAF manager agrees the plan on the QA card (the first TAC clock starts now)."""
    await env.drain()
    card = qa_cards(env, ref)[-1]
    d = await env.click_card(manager, env.policy.channel("early_help_duty"), card["ts"],
                             ids.CAF_QA_AGREE)
    assert d.status == 200
    await settle(env, lambda: any(e.qa_status == "agreed" for e in episodes(env.database_url)
                                  if e.ehm_reference == ref), "the plan was agreed")


async def test_overdue_tac_reaches_both_and_the_buttons_work(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        ep = await register_by_slash(env)
        assert ep.next_meeting_due == dt.date(2026, 12, 22)
        told = env.fake.ephemerals_for(COORD)[-1]["text"]
        assert "Registered CAF EHM-20417" in told
        assert "within 4 weeks of a CAF manager agreeing the plan" in told
        await env.drain()
        assert with_text(env, LEAD, "EHM-20417* is registered")
        (agreed,) = with_text(env, LEAD, "the plan is agreed")
        assert "Tue 22 Dec 2026" in json.dumps(agreed)
        # Nothing is due the day it is due; the morning after, both people are nudged.
        env.clock.now = dt.datetime(2026, 12, 22, 16, 0, tzinfo=LONDON)
        await sweep(env)
        assert not with_text(env, LEAD, "meeting is overdue")
        env.clock.now = dt.datetime(2026, 12, 23, 9, 0, tzinfo=LONDON)
        await sweep(env)
        for user in (LEAD, COORD):
            (nudge,) = with_text(env, user, "meeting is overdue")
            assert buttons(nudge) == [ids.CAF_HELD, ids.CAF_REARRANGED, ids.CAF_STUCK,
                                      ids.CAF_CLOSE]
        await sweep(env)  # once only
        assert len(with_text(env, LEAD, "meeting is overdue")) == 1

        # The lead professional records the meeting: a modal asks the date.
        (nudge,) = with_text(env, LEAD, "meeting is overdue")
        d = await env.click_card(LEAD, env.dm_id(LEAD), nudge["ts"], ids.CAF_HELD)
        assert d.status == 200
        view = await modal(env, ids.MODAL_CAF_HELD)
        future = await env.sender.view_submission(LEAD, view, {ids.IN_CAF_DATE[1]: "2027-01-05"})
        assert future.json()["response_action"] == "errors"  # not in the future
        d = await env.sender.view_submission(LEAD, view, {ids.IN_CAF_DATE[1]: "2026-12-22"})
        assert d.status == 200 and not d.body
        await settle(env, lambda: episodes(db_file)[0].last_meeting_on is not None,
                     "the meeting was recorded")
        after = episodes(db_file)[0]
        assert after.last_meeting_on == dt.date(2026, 12, 22)
        assert after.next_meeting_due == dt.date(2027, 2, 16)  # + 8 weeks
        assert f"caf:{ep.id}:tac:2027-02-16" in pending_keys(db_file)
        # Both overdue DMs lose their buttons; each person gets the next meeting's buttons.
        await env.fake.wait_for("chat.update", count=2)
        await env.drain()
        for user in (LEAD, COORD):
            old = env.fake.message(env.dm_id(user), with_text(env, user, "recorded by")[0]["ts"])
            assert old is not None and buttons(old) == []
            assert any(buttons(m) and "Tue 16 Feb 2027" in json.dumps(m)
                       for m in env.dm(user)), env.dm(user)[-1]

        # Stuck: ask for help goes to the co-ordinator; a name in the note is refused.
        live = [m for m in env.dm(LEAD) if buttons(m)][-1]
        await env.click_card(LEAD, env.dm_id(LEAD), live["ts"], ids.CAF_STUCK)
        view = await modal(env, ids.MODAL_CAF_STUCK)
        assert "co-ordinator" in json.dumps(view["blocks"])
        named = await env.sender.view_submission(
            LEAD, view, {ids.IN_CAF_NOTE[1]: "Tyler Brookes's mum will not come to meetings."})
        assert named.json()["response_action"] == "errors"
        d = await env.sender.view_submission(
            LEAD, view, {ids.IN_CAF_NOTE[1]: "A parent has not come to the last two meetings."})
        assert not d.body
        await settle(env, lambda: bool(with_text(env, COORD, "is stuck")), "the co-ordinator")
        assert episodes(db_file)[0].stuck_stage == "coordinator"
        assert "Tyler" not in json.dumps([c.args for c in env.fake.calls])

        # Someone else's click changes nothing and is audited.
        await env.click_card(OUTSIDER, env.dm_id(LEAD), live["ts"], ids.CAF_CLOSE)
        await env.fake.wait_for("chat.postEphemeral",
                                predicate=lambda c: c.args["user"] == OUTSIDER)

        # The co-ordinator closes the CAF: reminders stop, the duty channel is told.
        live = [m for m in env.dm(COORD) if ids.CAF_CLOSE in buttons(m)][-1]
        await env.click_card(COORD, env.dm_id(COORD), live["ts"], ids.CAF_CLOSE)
        view = await modal(env, ids.MODAL_CAF_CLOSE)
        await env.sender.view_submission(COORD, view, {ids.IN_CAF_REASON[1]: "plan_complete"})
        await settle(env, lambda: episodes(db_file)[0].status == "closed", "the CAF closed")
        assert pending_keys(db_file) == set()
        duty = env.policy.channel("early_help_duty")
        await settle(env, lambda: any("EHM-20417" in json.dumps(m)
                                      for m in env.fake.history(duty)), "the duty channel")
        dms_before = {u: len(env.dm(u)) for u in (LEAD, COORD)}
        env.clock.now = dt.datetime(2027, 12, 1, 9, 0, tzinfo=LONDON)
        await sweep(env)
        assert {u: len(env.dm(u)) for u in (LEAD, COORD)} == dms_before
    eng = make_engine(db_file)
    with session_scope(eng) as s:
        actions = [a.action for a in s.exec(select(AuditEntry).where(  # type: ignore[call-overload]
            AuditEntry.subject_type == "caf").order_by(AuditEntry.id)).scalars()]
    eng.dispose()
    assert actions == ["caf.register", "caf.qa_agreed", "caf.meeting_held", "caf.stuck",
                       "denied.caf.close", "caf.close"]


async def test_caf_is_for_the_caf_team_and_references_are_guarded(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        await env.sender.slash_command(TEACHER, "/caf", channel_id=env.dm_id(TEACHER))
        await env.fake.wait_for("chat.postEphemeral",
                                predicate=lambda c: c.args["user"] == TEACHER)
        assert "Only the CAF team" in env.fake.ephemerals_for(TEACHER)[-1]["text"]
        assert not env.fake.calls_to("views.open")
        await env.sender.slash_command(COORD, "/caf", channel_id=env.dm_id(COORD))
        view = await modal(env, ids.MODAL_CAF_REGISTER)
        values = {ids.IN_CAF_REFERENCE[1]: "Tyler Brookes", ids.IN_CAF_LEAD[1]: LEAD,
                  ids.IN_CAF_COORDINATOR[1]: COORD, ids.IN_CAF_COMPLETED[1]: "2026-12-01",
                  ids.IN_CAF_CONSENT[1]: "no"}
        d = await env.sender.view_submission(COORD, view, values)
        errors = d.json()["errors"]
        assert set(errors) == {ids.IN_CAF_REFERENCE[0], ids.IN_CAF_COMPLETED[0]}
        # The finding is shown in the modal to the person typing only; nothing is stored.
        assert "case system's number" in errors[ids.IN_CAF_REFERENCE[0]]
        assert "Tyler" not in json.dumps(errors)
        assert "future" in errors[ids.IN_CAF_COMPLETED[0]]
        assert episodes(db_file) == []
        await register_by_slash(env, "EHM-1")
        await env.sender.slash_command(COORD, "/caf", channel_id=env.dm_id(COORD))
        view = (await env.fake.wait_for("views.open", count=3))[-1].args["view"]
        d = await env.sender.view_submission(COORD, view, {
            **values, ids.IN_CAF_REFERENCE[1]: "ehm-1", ids.IN_CAF_COMPLETED[1]: "2026-11-20"})
        assert "registered already" in d.json()["errors"][ids.IN_CAF_REFERENCE[0]]


# What an attack on the running bot registered (issue 15): names, a name and a year, a
# name and a date of birth, a postcode. All fictional; only the second was refused.
NAME_LIKE = ("Zephyrine-Quartermaine", "Jayden-Smith", "QUARTERMAINE-2017", "JAYDEN-SMITH",
             "SMITH-14032017", "OLIVIA2017", "CB2-8QX")


async def test_a_reference_must_have_the_councils_shape(db_file: str) -> None:
    """Every name-like reference is refused in the modal, by the shape expected (never
    echoed); nothing reaches the episode table, the outbox, a DM or the audit trail."""
    async with slack_env(db_file, start=TUESDAY) as env:
        for ref in NAME_LIKE:
            await env.sender.slash_command(COORD, "/caf", channel_id=env.dm_id(COORD))
            view = (await env.fake.wait_for("views.open", count=1 + NAME_LIKE.index(ref))
                    )[-1].args["view"]
            d = await env.sender.view_submission(COORD, view, {
                ids.IN_CAF_REFERENCE[1]: ref, ids.IN_CAF_LEAD[1]: LEAD,
                ids.IN_CAF_COORDINATOR[1]: COORD, ids.IN_CAF_COMPLETED[1]: "2026-11-24",
                ids.IN_CAF_CONSENT[1]: "yes"})
            errors = (d.json() or {}).get("errors") or {}
            assert set(errors) == {ids.IN_CAF_REFERENCE[0]}, (ref, d.body)
            assert "like EHM-20417" in errors[ids.IN_CAF_REFERENCE[0]]
            assert ref.upper() not in json.dumps(errors).upper()
        await env.drain()
        assert episodes(db_file) == []
        stored = json.dumps([a.model_dump(mode="json") for a in rows(db_file, AuditEntry)]).upper()
        told = json.dumps([c.args for c in env.fake.calls_to("chat.postMessage")
                           + env.fake.calls_to("chat.postEphemeral")], default=str).upper()
        for ref in NAME_LIKE:
            assert ref.upper() not in stored and ref.upper() not in told


def _green_card(env: SlackEnv) -> int:
    """A referral's card suggested Green arriving (as the referral flow's effects do it)."""
    sv = env.bot.sv
    with session_scope(sv.engine, write=True) as s:
        prof = repo.professional(s, "U0HEALTH", name="Hal Visitor")
        ref = repo.next_reference(s, env.clock())
        referral = Referral(reference=ref, professional_id=prof.id or 0, consent_status="given",
                            created_at=env.clock(), last_contact_at=env.clock())
        s.add(referral)
        s.flush()
        card = TriageCard(referral_id=referral.id or 0, reference=ref,
                          referrer_user_id="U0HEALTH", suggested_rating="green",
                          received_at=env.clock())
        s.add(card)
        s.flush()
        sv.triage_messaging.new_card(s, card.id or 0)
        return card.id or 0


def _load_card(db_file: str, card_id: int) -> TriageCard:
    eng = make_engine(db_file)
    try:
        with session_scope(eng) as s:
            card = s.get(TriageCard, card_id)
            assert card is not None
            return card
    finally:
        eng.dispose()


async def test_manager_routes_a_green_card_to_a_caf(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        card_id = _green_card(env)
        await env.drain()
        card = _load_card(db_file, card_id)
        channel, ts = env.posted(card)
        assert ids.CAF_ROUTE_CARD not in buttons(env.fake.message(channel, ts) or {})
        await env.click_card(MANAGER, channel, ts, ids.CARD_APPROVE)
        await env.fake.wait_for("chat.update", predicate=lambda c: c.args.get("ts") == ts)
        await env.drain()
        assert ids.CAF_ROUTE_CARD in buttons(env.fake.message(channel, ts) or {})
        # Only a manager may route.
        await env.click_card(OUTSIDER, channel, ts, ids.CAF_ROUTE_CARD)
        await env.fake.wait_for("chat.postEphemeral",
                                predicate=lambda c: c.args["user"] == OUTSIDER)
        await env.click_card(MANAGER, channel, ts, ids.CAF_ROUTE_CARD)
        view = await modal(env, ids.MODAL_CAF_ROUTE)
        assert view["private_metadata"] == str(card_id)
        d = await env.sender.view_submission(MANAGER, view, {
            ids.IN_CAF_REFERENCE[1]: "EHM-555", ids.IN_CAF_LEAD[1]: LEAD,
            ids.IN_CAF_COORDINATOR[1]: COORD, ids.IN_CAF_COMPLETED[1]: "2026-11-23",
            ids.IN_CAF_CONSENT[1]: "yes"})
        assert not d.body, d.body
        await settle(env, lambda: _load_card(db_file, card_id).caf_episode_id is not None,
                     "the card was linked")
        (ep,) = episodes(db_file)
        assert (ep.ehm_reference, ep.source, ep.consent) == ("EHM-555", "card", True)
        await env.fake.wait_for("chat.update", count=2, predicate=lambda c: c.args.get("ts") == ts)
        await env.drain()
        redrawn = env.fake.message(channel, ts) or {}
        assert ids.CAF_ROUTE_CARD not in buttons(redrawn)
        assert "Linked to an open CAF episode" in json.dumps(redrawn)
        assert with_text(env, LEAD, "EHM-555* is registered")
        assert with_text(env, COORD, "EHM-555* is registered")


async def test_route_under_a_closed_caf_reference_is_refused_in_the_modal(
        db_file: str) -> None:
    """The CAF domain's rule, in Slack's words: a closed CAF's reference is refused on its
    field; an open one's links the card (the other fields are not needed)."""
    async with slack_env(db_file, start=TUESDAY) as env:
        sv = env.bot.sv
        card_id = _green_card(env)
        await env.drain()
        channel, ts = env.posted(_load_card(db_file, card_id))
        await env.click_card(MANAGER, channel, ts, ids.CARD_APPROVE)
        await env.fake.wait_for("chat.update", predicate=lambda c: c.args.get("ts") == ts)
        await env.drain()
        closed, open_ = (NewEpisode(ref, LEAD, COORD, dt.date(2026, 11, 23), True)
                         for ref in ("EHM-601", "EHM-602"))
        shut = await sv.caf.aregister(closed, MANAGER)
        assert shut.episode is not None
        assert (await sv.caf.aclose(shut.episode.id or 0, COORD, "stepped_down")).ok
        assert (await sv.caf.aregister(open_, MANAGER)).ok
        await env.click_card(MANAGER, channel, ts, ids.CAF_ROUTE_CARD)
        view = await modal(env, ids.MODAL_CAF_ROUTE)
        d = await env.sender.view_submission(MANAGER, view,
                                             {ids.IN_CAF_REFERENCE[1]: "ehm-601"})
        assert d.json()["errors"] == {ids.IN_CAF_REFERENCE[0]: (
            "That CAF is closed: register the new episode under its own EHM reference.")}
        assert _load_card(db_file, card_id).caf_episode_id is None
        d = await env.sender.view_submission(MANAGER, view,
                                             {ids.IN_CAF_REFERENCE[1]: "ehm-602"})
        assert not d.body, d.body
        await settle(env, lambda: _load_card(db_file, card_id).caf_episode_id is not None,
                     "the card was linked")
        linked = [e for e in episodes(db_file) if e.id == _load_card(db_file, card_id)
                  .caf_episode_id]
        assert [e.ehm_reference for e in linked] == ["EHM-602"]
