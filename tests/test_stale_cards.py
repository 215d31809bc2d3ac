"""Cards that stay true (issue 18, "Cards go stale"): a posted triage card names its due
time as an absolute instant each reader sees in their own time zone, and its clock's
state as of the last sweep ("on time", "warning sent …", "overdue since …", "met …"),
never "today" or "in 3 h"; the sweep and a decision redraw it, once each.

Through the real Bolt app (signed requests, the fake Web API, a real SQLite file) and
the test's clock; the Teams drawing of the same state is validated as Teams would."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from bot.flows.triage.scheduled import ClockState
from bot.handlers.slack.blocks import home, ids
from bot.handlers.teams.cards import ac, triage
from bot.policy import load_policy
from store.db import make_engine, session_scope
from store.models import Reminder
from tests.adaptive import assert_valid_activity
from tests.slackenv import MANAGER, SlackEnv, slack_env
from tests.test_blocks import NOW, all_text, make_card, make_referral
from tests.test_caf_slack import _load_card, sweep
from tests.test_slack_app import LONDON, TUESDAY, _refer

# Words a card may not say once posted: they are true only at the moment it was drawn.
RELATIVE = re.compile(r"\b(today|tomorrow|yesterday)\b|\bin \d+ (min|h|days?)\b|overdue by")


def live(at: dt.datetime) -> str:
    """What the card says for an instant: Slack's date for each reader, with London's
    words for clients that cannot show it."""
    local = at.astimezone(LONDON)
    words = f"{local:%a} {local.day} {local:%b %H:%M}"
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{words}>"


def decision_clock(url: str, card_id: int) -> tuple[list[dt.datetime], dt.datetime]:
    """(the warnings' times, the breach's time) of the card's decision clock."""
    eng = make_engine(url)
    try:
        with session_scope(eng) as s:
            rows = s.exec(select(Reminder).where(  # type: ignore[call-overload]
                Reminder.subject_id == card_id, Reminder.key.contains(":decide-"))).scalars()
            rows = sorted(rows, key=lambda r: r.due_at)
            warnings = [r.due_at for r in rows if r.kind == "sla_warning"]
            (breach,) = [r.due_at for r in rows if r.kind == "sla_breach"]
            return warnings, breach
    finally:
        eng.dispose()


def redraws(env: SlackEnv, ts: str) -> int:
    """How many times the card's message was updated."""
    return len([c for c in env.fake.calls_to("chat.update") if c.args.get("ts") == ts])


def words(env: SlackEnv, channel: str, ts: str) -> str:
    """Everything the card's message says now."""
    msg = env.fake.message(channel, ts)
    assert msg is not None
    return all_text(msg)


async def test_each_sweep_redraws_the_card_with_its_clocks_state_once(db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        card = await _refer(env)
        channel, ts = env.posted(card)
        (warn1, warn2), due = decision_clock(db_file, card.id or 0)
        said = words(env, channel, ts)
        assert f"Decision on the contact: Due {live(due)} · on time" in said, said
        assert not RELATIVE.search(said), RELATIVE.search(said)

        env.clock.now = warn1  # the 50% warning
        await sweep(env)
        assert redraws(env, ts) == 1
        said = words(env, channel, ts)
        assert f"Due {live(due)} · warning sent {live(warn1)}" in said, said
        await sweep(env)  # the same sweep again: nothing new to say, nothing redrawn
        assert redraws(env, ts) == 1

        env.clock.now = warn2  # the 80% warning
        await sweep(env)
        assert redraws(env, ts) == 2
        assert f"· warning sent {live(warn2)}" in words(env, channel, ts)

        env.clock.now = due  # the breach
        await sweep(env)
        assert redraws(env, ts) == 3
        said = words(env, channel, ts)
        assert "SLA BREACHED" in said
        assert f"Decision on the contact: Due {live(due)} · overdue since {live(due)}" in said
        assert not RELATIVE.search(said), RELATIVE.search(said)
        await sweep(env)
        assert redraws(env, ts) == 3

        # Decided after the breach: the decision clock says so, the rating's clock starts.
        env.clock.advance(minutes=30)
        await env.click_card(MANAGER, channel, ts, ids.CARD_APPROVE)
        await env.fake.wait_for("chat.update", count=4, predicate=lambda c: c.args.get("ts") == ts)
        await env.drain()
        decided = _load_card(db_file, card.id or 0)
        assert decided.decided_at is not None and decided.due_at is not None
        said = words(env, channel, ts)
        assert (f"Decision on the contact: Due {live(due)} · decided "
                f"{live(decided.decided_at)}, late") in said, said
        assert f"Due {live(decided.due_at)} · on time" in said
        assert "SLA BREACHED" not in said
        assert redraws(env, ts) == 4


async def test_a_decision_in_time_shows_the_clock_met_and_its_reminders_stay_quiet(
    db_file: str,
) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        card = await _refer(env)
        channel, ts = env.posted(card)
        _, due = decision_clock(db_file, card.id or 0)
        env.clock.advance(minutes=40)
        await env.click_card(MANAGER, channel, ts, ids.CARD_APPROVE)
        await env.fake.wait_for("chat.update", predicate=lambda c: c.args.get("ts") == ts)
        await env.drain()
        decided = _load_card(db_file, card.id or 0)
        assert decided.decided_at is not None and decided.due_at is not None
        said = words(env, channel, ts)
        assert (f"Decision on the contact: Due {live(due)} · met {live(decided.decided_at)}"
                in said), said
        assert (f"Amber (child in need) response: Due {live(decided.due_at)} · on time"
                in said), said
        assert not RELATIVE.search(said), RELATIVE.search(said)
        # The decision clock's own warnings and breach were stopped: nothing to redraw.
        env.clock.now = due
        await sweep(env)
        assert redraws(env, ts) == 1


def test_teams_card_draws_the_same_state_with_dates_teams_formats() -> None:
    policy = load_policy("cambridgeshire")
    due = NOW + dt.timedelta(hours=3, minutes=40)
    warned = NOW + dt.timedelta(hours=2)
    card = make_card(due_at=due, clock="contact_decision")
    states = [ClockState("contact_decision", due, warned_at=warned)]
    activity = triage.triage_card(card, make_referral(), policy, NOW, None,
                                  ac.Mentions(ac.Directory()), states)
    assert_valid_activity(activity)
    text = str(activity)
    assert ("Decision on the contact: Due {{DATE(2026-10-13T12:40:00Z, SHORT)}} "
            "{{TIME(2026-10-13T12:40:00Z)}} · warning sent {{DATE(2026-10-13T11:00:00Z, SHORT)}}"
            " {{TIME(2026-10-13T11:00:00Z)}}") in text, text
    assert not RELATIVE.search(text)


def test_app_home_names_the_due_time_as_the_card_does_then_how_long_from_now() -> None:
    """App Home is drawn when it is opened: how long is left may be said, after the due
    time the card shows."""
    policy = load_policy("cambridgeshire")
    due = NOW + dt.timedelta(hours=1, minutes=5)
    view = home.home_view(user_id=MANAGER, is_manager=True, is_advisor=False, my_items=[],
                          open_cards=[(make_card(due_at=due), make_referral())],
                          open_consultations=[], policy=policy, now=NOW)
    said = all_text(view)
    assert f"Decision on the contact: Due {live(due)} · in 1 h 5 min" in said, said
