"""The words people read about a triage card after a manager acts on it: the referrer's
message when a card is closed, who changed a rating from what and why, and snoozing.

Through the real Bolt app (signed requests, the fake Web API, a real SQLite file)."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select

from bot.handlers.slack.blocks import ids
from store.db import make_engine, session_scope
from store.models import Reminder
from tests.slackenv import HEALTH, MANAGER, MANAGER2, SlackEnv, slack_env
from tests.test_blocks import all_text
from tests.test_slack_app import LONDON, TUESDAY, _card, _refer


async def _submit_modal(env: SlackEnv, user: str, card_ts: str, action_id: str,
                        values: dict[str, str], opened: int) -> None:
    """Click ``action_id`` on the card, then submit the modal it opens with ``values``."""
    card = _card(env.database_url)
    await env.click_card(user, env.posted(card)[0], card_ts, action_id)
    view = (await env.fake.wait_for("views.open", count=opened))[-1].args["view"]
    d = await env.sender.view_submission(user, view, values)
    assert d.status == 200 and "errors" not in d.body, d.body


async def test_closing_an_undecided_card_tells_the_referrer_it_was_closed_and_why(
    db_file: str,  # noqa: F811
) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        card = await _refer(env)
        before = len(env.dm(HEALTH))
        await _submit_modal(env, MANAGER, env.posted(card)[1], ids.CARD_CLOSE, {
            ids.IN_OUTCOME[1]: "Duplicate",
            ids.IN_REASON[1]: "The school made the same referral this morning.",
        }, opened=1)
        await env.fake.wait_for(
            "chat.postMessage", predicate=lambda c: c.args.get("channel") == env.dm_id(HEALTH)
            and card.reference in json.dumps(c.args) and "closed" in json.dumps(c.args))
        await env.drain()
        told = env.dm(HEALTH)[before:]
        assert len(told) == 1, told
        words = all_text(told[0])
        assert f"The front door has closed your referral {card.reference}" in words, words
        assert "without a rating" in words
        assert ("*Why it was closed:* Duplicate: The school made the same referral this morning."
                in words)
        assert "no decision" not in words and "You will hear" not in words
        assert "closed" in told[0]["text"]


async def test_closing_a_decided_card_tells_the_referrer_the_rating_and_why(
    db_file: str,  # noqa: F811
) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        card = await _refer(env)
        await env.click_card(MANAGER, *env.posted(card), ids.CARD_APPROVE)
        await env.fake.wait_for("chat.update",
            predicate=lambda c: c.args.get("ts") == env.posted(card)[1])
        await env.drain()
        before = len(env.dm(HEALTH))
        await _submit_modal(env, MANAGER, env.posted(card)[1], ids.CARD_CLOSE, {
            ids.IN_OUTCOME[1]: "Passed to another authority",
        }, opened=1)
        await env.fake.wait_for(
            "chat.postMessage", count=before + 1,
            predicate=lambda c: c.args.get("channel") == env.dm_id(HEALTH))
        await env.drain()
        words = all_text(env.dm(HEALTH)[-1])
        assert f"The front door has closed your referral {card.reference}" in words, words
        assert "Amber (child in need)" in words
        assert "Passed to another authority" in words


async def test_a_changed_rating_shows_who_changed_it_from_what_and_why(
    db_file: str,  # noqa: F811
) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        card = await _refer(env)
        ts = env.posted(card)[1]
        await _submit_modal(env, MANAGER, ts, ids.CARD_CHANGE, {
            ids.IN_RATING[1]: "amber_sh",
            ids.IN_REASON[1]: "Police information shows a risk of significant harm.",
        }, opened=1)
        await env.fake.wait_for("chat.update", predicate=lambda c: c.args.get("ts") == ts)
        await env.drain()
        words = all_text(env.fake.message(env.posted(card)[0], ts))
        assert (f"changed from Amber (child in need) by <@{MANAGER}>") in words, words
        assert "*Why:* Police information shows a risk of significant harm." in words
        # A second change: "from" is the rating it had, and the reason is the newest.
        env.clock.advance(minutes=20)
        await _submit_modal(env, MANAGER2, ts, ids.CARD_CHANGE, {
            ids.IN_RATING[1]: "red",
            ids.IN_REASON[1]: "A disclosure at the health visit this afternoon.",
        }, opened=2)
        await env.fake.wait_for("chat.update", count=2, predicate=lambda c: c.args.get("ts") == ts)
        await env.drain()
        words = all_text(env.fake.message(env.posted(card)[0], ts))
        assert f"changed from Amber (significant harm) by <@{MANAGER2}>" in words, words
        assert "*Why:* A disclosure at the health visit this afternoon." in words
        assert "Police information" not in words


def _next_warning(url: str) -> dt.datetime:
    eng = make_engine(url)
    try:
        with session_scope(eng) as s:
            due = s.exec(
                select(Reminder.due_at)  # type: ignore[call-overload]
                .where(Reminder.kind == "sla_warning", Reminder.status == "pending")
                .order_by(Reminder.due_at)
            ).first()
            return due[0]
    finally:
        eng.dispose()


async def test_snooze_says_when_the_next_warning_is_and_names_who_snoozed(
    db_file: str,  # noqa: F811
) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        card = await _refer(env)
        channel, ts = env.posted(card)
        warning = _next_warning(db_file).astimezone(LONDON)
        assert warning - env.clock() > dt.timedelta(minutes=30)
        # Too early: the next warning is later than a 30-minute snooze would put it.
        await env.click_card(MANAGER, channel, ts, ids.CARD_SNOOZE, f"{card.id}:30")
        await env.fake.wait_for("chat.postEphemeral")
        said = env.fake.ephemerals_for(MANAGER)[-1]["text"]
        assert "no warning due" not in said
        assert f"The next warning is at {warning:%H:%M} on {warning:%a %d %b}" in said, said
        assert "later than the snooze" in said
        # Ten minutes before the warning, the snooze moves it, and the thread says who.
        env.clock.now = warning - dt.timedelta(minutes=10)
        await env.click_card(MANAGER, channel, ts, ids.CARD_SNOOZE, f"{card.id}:30")
        await env.fake.wait_for(
            "chat.postMessage", predicate=lambda c: c.args.get("thread_ts") == ts)
        await env.drain()
        note = env.fake.thread(channel, ts)[-1]
        until = warning + dt.timedelta(minutes=20)
        assert all_text(note).startswith(
            f"<@{MANAGER}> snoozed the next reminder until {until:%H:%M}."), all_text(note)
        assert "&lt;@" not in json.dumps(note)
