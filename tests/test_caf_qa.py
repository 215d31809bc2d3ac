"""A CAF manager's quality assurance of a CAF assessment (Barnet process map 1, 1P-1R),
end to end: the real Bolt app over HTTP, signed requests, the fake Web API, real SQLite,
the service's clock moved in Europe/London.

Registering a CAF is marking its assessment complete: a QA card with the model's five
checks goes to the CAF team's channel, and no TAC clock runs until a manager agrees the
plan; the first family planning meeting is then due four weeks from the agreement. A
manager may return it with reasons (they reach the lead professional and the
co-ordinator), and it comes back when marked complete again. Closing with no further
action waits for a manager's agreement. Fictional people only; a CAF is its EHM reference.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

from sqlalchemy import select

from bot import intents, retention
from bot.flows.caf.models import NewEpisode
from bot.handlers.slack.blocks import ids
from bot.handlers.teams.cards import ac
from bot.handlers.teams.cards import caf_qa as teams_qa
from bot.report import summary_lines, weekly_figures
from bot.services import Services
from store.db import session_scope
from store.models import AuditEntry, CafEpisode, CafQa, OutboxMessage
from tests import test_caf
from tests.adaptive import assert_valid_activity
from tests.helpers import LONDON, at
from tests.slackenv import ADVISOR, MANAGER, SlackEnv, slack_env
from tests.test_caf import Env
from tests.test_caf_slack import (
    COORD,
    LEAD,
    TUESDAY,
    buttons,
    episodes,
    modal,
    pending_keys,
    qa_cards,
    register_by_slash,
    rows,
    settle,
    sweep,
    with_text,
)

env = test_caf.env  # the fixture: the services on the test's clock, moved by the test
CHECKS = ("the voice of the child is clear", "the need is identified",
          "the plan meets the needs", "a review date is recorded", "the plan is SMART")
REASONS = "The plan has no review date, and its actions have no timescales."


def duty(env: SlackEnv) -> str:
    return env.policy.channel("early_help_duty")


def audit(db_file: str, prefix: str) -> list[AuditEntry]:
    return [a for a in rows(db_file, AuditEntry) if a.action.startswith(prefix)]


async def click_card(env: SlackEnv, user: str, card: dict[str, Any], action: str) -> None:
    d = await env.click_card(user, duty(env), card["ts"], action)
    assert d.status == 200


async def test_qa_card_words_agreement_starts_the_first_tac_clock(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        await register_by_slash(env, agree=False)
        assert ("A CAF manager quality assures the assessment; the first family planning "
                "meeting is due within 4 weeks of the plan being agreed") in json.dumps(
            (await modal(env, ids.MODAL_CAF_REGISTER))["blocks"])
        await env.drain()
        (card,) = copy.deepcopy(qa_cards(env))  # as first drawn (the fake redraws in place)
        words = json.dumps(card)
        assert "quality assurance of the CAF assessment" in words
        assert f"marked complete by <@{COORD}>" in words
        for check in CHECKS:
            assert check in words, check
        assert "Quality assurance due by Mon 30 Nov 2026" in words  # 5 days, then opening
        assert "process map 1, steps 1P-1Q" in words
        assert buttons(card) == [ids.CAF_QA_AGREE, ids.CAF_QA_RETURN]
        # No TAC clock before the plan is agreed.
        (ep,) = episodes(db_file)
        assert ep.qa_status == "awaiting" and ep.next_meeting_due is None
        assert not [k for k in pending_keys(db_file) if ":tac:" in k]
        assert "within 4 weeks of a CAF manager agreeing the plan" in json.dumps(
            with_text(env, LEAD, "is registered"))

        # Not answered in time: said once in the channel, on the service's clock.
        env.clock.now = dt.datetime(2026, 11, 30, 8, 44, tzinfo=LONDON)
        await sweep(env)
        assert not [m for m in env.fake.history(duty(env)) if "has waited" in json.dumps(m)]
        env.clock.now = dt.datetime(2026, 11, 30, 9, 0, tzinfo=LONDON)
        await sweep(env)
        await sweep(env)
        (late,) = [m for m in env.fake.history(duty(env)) if "has waited" in json.dumps(m)]
        assert "since Tue 24 Nov 2026" in json.dumps(late)

        # Someone who is not a manager (a CAF advisor) is refused and audited.
        await click_card(env, ADVISOR, card, ids.CAF_QA_AGREE)
        await env.fake.wait_for("chat.postEphemeral",
                                predicate=lambda c: c.args["user"] == ADVISOR)
        assert "Only the front door's managers can quality assure" in (
            env.fake.ephemerals_for(ADVISOR)[-1]["text"])
        assert [a.action for a in audit(db_file, "denied.caf_qa")] == ["denied.caf_qa.agree"]
        assert episodes(db_file)[0].qa_status == "awaiting"

        # A manager agrees on Thursday 3 December: the first meeting is due four weeks on.
        env.clock.now = dt.datetime(2026, 12, 3, 14, 0, tzinfo=LONDON)
        await click_card(env, MANAGER, card, ids.CAF_QA_AGREE)
        await settle(env, lambda: episodes(db_file)[0].qa_status == "agreed", "agreed")
        ep = episodes(db_file)[0]
        assert ep.plan_agreed_on == dt.date(2026, 12, 3)
        assert ep.next_meeting_due == dt.date(2026, 12, 31)
        assert f"caf:{ep.id}:tac:2026-12-31" in pending_keys(db_file)
        await env.fake.wait_for("chat.update")
        await env.drain()
        redrawn = env.fake.message(duty(env), card["ts"])
        assert redrawn is not None and buttons(redrawn) == []
        assert (f"Agreed by <@{MANAGER}> on Thu 3 Dec 2026*: the plan is agreed; the first "
                "family planning meeting is due by Thu 31 Dec 2026.") in json.dumps(redrawn)
        for user in (LEAD, COORD):
            (told,) = with_text(env, user, "the plan is agreed")
            assert "Thu 31 Dec 2026" in json.dumps(told)
            assert "of a CAF manager agreeing the plan on Thu 3 Dec 2026" in json.dumps(told)
        (entry,) = audit(db_file, "caf.qa_agreed")
        assert (entry.actor, entry.old_value, entry.new_value) == (
            MANAGER, "plan awaiting", "plan agreed")
        assert "2026-12-31" in (entry.reason or "")
        # A click on the card as it was (a second window) changes nothing, and says who.
        (block,) = [b for b in card["blocks"] if b["type"] == "actions"]
        d = await env.sender.block_action(
            MANAGER, ids.CAF_QA_AGREE, block["elements"][0]["value"], block_id=block["block_id"],
            channel_id=duty(env), message_ts=card["ts"], message=card)
        assert d.status == 200
        await until_told(env, MANAGER, "agreed this already")
        assert len(audit(db_file, "caf.qa_agreed")) == 1


async def until_told(env: SlackEnv, user: str, words: str) -> None:
    await env.fake.wait_for("chat.postEphemeral", predicate=lambda c: c.args["user"] == user
                            and words in c.args.get("text", ""))


async def test_return_sends_the_reasons_and_marked_complete_again_asks_again(
        db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        await register_by_slash(env, agree=False)
        await env.drain()
        (card,) = qa_cards(env)
        await click_card(env, MANAGER, card, ids.CAF_QA_RETURN)
        view = await modal(env, ids.MODAL_CAF_QA_RETURN)
        assert "What needs to change?" in json.dumps(view)
        empty = await env.sender.view_submission(MANAGER, view,
                                                 {ids.IN_CAF_QA_REASONS[1]: "  "})
        assert empty.json()["response_action"] == "errors"
        named = await env.sender.view_submission(MANAGER, view, {
            ids.IN_CAF_QA_REASONS[1]: "Tyler Brookes's voice is missing from it."})
        assert named.json()["response_action"] == "errors"  # the no-names guard
        d = await env.sender.view_submission(MANAGER, view, {ids.IN_CAF_QA_REASONS[1]: REASONS})
        assert d.status == 200 and not d.body
        await settle(env, lambda: episodes(db_file)[0].qa_status == "returned", "returned")
        await env.fake.wait_for("chat.update")
        await env.drain()
        redrawn = env.fake.message(duty(env), card["ts"])
        assert redrawn is not None and buttons(redrawn) == []
        assert f"Returned by <@{MANAGER}> on Tue 24 Nov 2026" in json.dumps(redrawn)
        assert REASONS.replace(",", "") in json.dumps(redrawn).replace(",", "")
        for user in (LEAD, COORD):
            (told,) = with_text(env, user, "the CAF assessment was returned")
            assert REASONS in json.dumps(told)
            assert buttons(told) == [ids.CAF_QA_RESUBMIT]
        assert not [k for k in pending_keys(db_file) if ":tac:" in k]  # still no clock
        (entry,) = audit(db_file, "caf.qa_returned")
        assert (entry.old_value, entry.new_value, entry.reason) == (
            "plan awaiting", "plan returned", REASONS)

        # The lead professional puts it right and marks it complete again: a new card.
        env.clock.now = dt.datetime(2026, 11, 26, 11, 0, tzinfo=LONDON)
        (told,) = with_text(env, LEAD, "the CAF assessment was returned")
        await env.click_card(LEAD, env.dm_id(LEAD), told["ts"], ids.CAF_QA_RESUBMIT)
        await settle(env, lambda: episodes(db_file)[0].qa_status == "awaiting", "asked again")
        await env.drain()
        again = qa_cards(env)[-1]
        assert again["ts"] != card["ts"]
        assert f"marked complete again (round 2: returned before) by <@{LEAD}>" in (
            json.dumps(again))
        assert buttons(again) == [ids.CAF_QA_AGREE, ids.CAF_QA_RETURN]
        await click_card(env, MANAGER, again, ids.CAF_QA_AGREE)
        await settle(env, lambda: episodes(db_file)[0].next_meeting_due is not None, "agreed")
        assert episodes(db_file)[0].next_meeting_due == dt.date(2026, 12, 24)  # 26 Nov + 4w


async def test_closing_with_no_further_action_waits_for_a_managers_agreement(
        db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        ep = await register_by_slash(env)
        live = [m for m in env.dm(COORD) if ids.CAF_CLOSE in buttons(m)][-1]
        await env.click_card(COORD, env.dm_id(COORD), live["ts"], ids.CAF_CLOSE)
        view = await modal(env, ids.MODAL_CAF_CLOSE)
        assert "closing with no further action waits for a CAF manager's agreement" in (
            json.dumps(view))
        d = await env.sender.view_submission(COORD, view,
                                             {ids.IN_CAF_REASON[1]: "no_further_action"})
        assert d.status == 200 and not d.body
        await until_told(env, COORD, "closing with no further action needs their agreement")
        await env.drain()
        assert episodes(db_file)[0].status == "open"
        (card,) = [m for m in qa_cards(env) if "no further action" in json.dumps(m)]
        assert "closing with no further action needs a CAF manager's agreement" in (
            json.dumps(card))
        assert "step 1R" in json.dumps(card)
        assert buttons(card) == [ids.CAF_QA_AGREE, ids.CAF_QA_RETURN]
        assert "Agree the closure" in json.dumps(card)
        # Asking twice is refused, in words.
        await env.click_card(COORD, env.dm_id(COORD), live["ts"], ids.CAF_CLOSE)
        view = await modal(env, ids.MODAL_CAF_CLOSE)
        await env.sender.view_submission(COORD, view, {ids.IN_CAF_REASON[1]: "no_further_action"})
        await until_told(env, COORD, "already waiting for a CAF manager's agreement")

        await click_card(env, MANAGER, card, ids.CAF_QA_AGREE)
        await settle(env, lambda: episodes(db_file)[0].status == "closed", "closed")
        closed = episodes(db_file)[0]
        assert closed.close_reason == "no_further_action"
        assert pending_keys(db_file) == set()
        await env.drain()
        assert any(f"closed by <@{MANAGER}>: No further action" in json.dumps(m)
                   for m in env.fake.history(duty(env)))
        redrawn = env.fake.message(duty(env), card["ts"])
        assert redrawn is not None and "the CAF is closed with no further action" in (
            json.dumps(redrawn))
        assert [a.action for a in audit(db_file, "caf.")][-3:] == [
            "caf.qa_requested", "caf.close", "caf.qa_agreed"]
        assert ep.id == closed.id


# --------------------------------------------------------------------------- the service


def registered(env: Env, ref: str = "EHM-20417") -> tuple[CafEpisode, int]:
    """A CAF registered (marked complete) on the clock's day: it, and its QA request's id."""
    sv, clock, caf, notify = env
    result = caf.register(NewEpisode(ref, LEAD, COORD, clock.now.date(), True), COORD,
                          effects=notify)
    assert result.ok and result.episode is not None, result.message
    return result.episode, awaiting(sv, result.episode.id or 0)


def awaiting(sv: Services, episode_id: int) -> int:
    """The id of the episode's QA request awaiting a manager."""
    with session_scope(sv.engine) as s:
        return int(s.exec(select(CafQa.id).where(  # type: ignore[call-overload]
            CafQa.episode_id == episode_id, CafQa.status == "awaiting")).scalar_one())


async def test_weekly_figures_count_awaiting_agreed_and_returned(env: Env) -> None:
    sv, clock, _, _ = env
    clock.now = at(2026, 11, 23, 10, 0)  # Monday
    _, old = registered(env, "EHM-1")
    assert sv.caf_qa.agree(old, MANAGER).ok  # agreed the week before: not counted
    clock.now = at(2026, 11, 30, 9, 0)
    (_, agreed), (_, returned), _ = (registered(env, r) for r in ("EHM-2", "EHM-3", "EHM-4"))
    clock.now = at(2026, 12, 2, 15, 0)
    assert sv.caf_qa.agree(agreed, MANAGER).ok
    assert sv.caf_qa.send_back(returned, MANAGER, REASONS).ok
    with session_scope(sv.engine) as s:
        fig = weekly_figures(s, sv.policy, dt.date(2026, 11, 30), at(2026, 12, 7, 9, 0))
    assert (fig.caf_qa_agreed, fig.caf_qa_returned, fig.caf_qa_awaiting) == (1, 1, 1)
    assert ("CAF quality assurance: 1 agreed, 1 returned this week; 1 awaiting a CAF "
            "manager") in summary_lines(fig)


async def test_a_meeting_arranged_while_waiting_keeps_its_date_when_agreed(env: Env) -> None:
    sv, clock, caf, notify = env
    ep, qa = registered(env)
    assert ep.next_meeting_due is None
    assert caf.rearrange(ep.id or 0, LEAD, dt.date(2026, 12, 8), effects=notify).ok
    clock.now = at(2026, 11, 26, 10, 0)
    assert sv.caf_qa.agree(qa, MANAGER).ok
    after = caf.get(ep.id or 0)
    assert after is not None and after.plan_agreed_on == dt.date(2026, 11, 26)
    assert after.next_meeting_due == dt.date(2026, 12, 8)  # as arranged, not 24 Dec


async def test_retention_purges_a_closed_cafs_quality_assurance_with_it(env: Env) -> None:
    sv, clock, _, _ = env
    clock.now = at(2019, 3, 5, 10, 0)
    ep, qa = registered(env, "EHM-5001")
    assert sv.caf_qa.send_back(qa, MANAGER, REASONS).ok
    assert sv.caf_qa.request_closure(ep.id or 0, LEAD).ok
    assert sv.caf_qa.agree(awaiting(sv, ep.id or 0), MANAGER).ok
    with session_scope(sv.engine, write=True) as s:
        result = retention.purge(s, sv.policy, at(2026, 12, 3, 9, 0))
    assert (result.counts["caf_episodes"], result.counts["caf_qa"]) == (1, 2)
    with session_scope(sv.engine) as s:
        assert s.exec(select(CafQa)).first() is None  # type: ignore[call-overload]


# --------------------------------------------------------------------------- Teams


async def test_teams_draws_every_qa_message_as_a_valid_card(env: Env) -> None:
    sv = env[0]
    ep, qa = registered(env)
    assert sv.caf_qa.send_back(qa, MANAGER, REASONS).ok
    assert sv.caf_qa.resubmit(qa, LEAD).ok
    assert sv.caf_qa.agree(awaiting(sv, ep.id or 0), MANAGER).ok
    assert sv.caf_qa.request_closure(ep.id or 0, LEAD).ok
    with session_scope(sv.engine) as s:
        queued = [r for r in s.exec(select(OutboxMessage)).scalars()  # type: ignore[call-overload]
                  if intents.intent_of(r).startswith("caf_qa.")]
    assert {intents.intent_of(r) for r in queued} == {
        intents.CAF_QA_CARD, intents.CAF_QA_CARD_DONE, intents.CAF_QA_AGREED,
        intents.CAF_QA_RETURNED}
    due = {"qa": queued[0].payload["qa"], "episode": queued[0].payload["episode"],
           "due": at(2026, 11, 30, 8, 45).isoformat()}
    names = ac.Directory(people={MANAGER: "Sam Birch", LEAD: "Jo Oak", COORD: "Kit Ash"})
    for intent, data in [*((intents.intent_of(r), r.payload) for r in queued),
                         (intents.CAF_QA_DUE, due)]:
        activity = teams_qa.draw(intent, data, sv.policy, ac.Mentions(names))
        assert_valid_activity(activity)
        text = json.dumps(activity)
        assert "<@" not in text and "<!" not in text  # never Slack's markup
        assert "EHM-20417" in text
    words = json.dumps(teams_qa.draw(intents.CAF_QA_CARD, queued[0].payload, sv.policy,
                                     ac.Mentions(names)))
    for check in CHECKS:
        assert check in words, check
    assert "caf_qa.agree" in words and "caf_qa.return" in words
