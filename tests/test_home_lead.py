"""App Home for a lead professional: their open CAFs by EHM reference, the next meeting due,
overdue ones first, each with the buttons its DMs have (which work from the Home); and
references are links to their card's message in the workspace's archive. Through the
real Bolt app, signed requests and the fake Web API.

Every name here is made up.
"""

from __future__ import annotations

import json
from typing import Any

from bot.handlers.slack.blocks import ids
from tests.slackenv import HEALTH, MANAGER, SlackEnv, slack_env
from tests.test_caf_slack import (
    COORD,
    LEAD,
    TUESDAY,
    _green_card,
    _load_card,
    agree_plan,
    buttons,
    modal,
    register_by_slash,
    settle,
)


async def _route(env: SlackEnv, card_id: int, ref: str, completed: str) -> None:
    """A manager approves the Green card and routes it to a new CAF led by LEAD."""
    channel, ts = env.posted(_load_card(env.database_url, card_id))
    await env.click_card(MANAGER, channel, ts, ids.CARD_APPROVE)
    await env.fake.wait_for("chat.update", predicate=lambda c: c.args.get("ts") == ts)
    await env.drain()
    await env.click_card(MANAGER, channel, ts, ids.CAF_ROUTE_CARD)
    view = await modal(env, ids.MODAL_CAF_ROUTE)
    d = await env.sender.view_submission(MANAGER, view, {
        ids.IN_CAF_REFERENCE[1]: ref, ids.IN_CAF_LEAD[1]: LEAD,
        ids.IN_CAF_COORDINATOR[1]: COORD, ids.IN_CAF_COMPLETED[1]: completed,
        ids.IN_CAF_CONSENT[1]: "yes"})
    assert not d.body, d.body
    await settle(env, lambda: _load_card(env.database_url, card_id).caf_episode_id is not None,
                 "the card was routed to the CAF")


async def _home(env: SlackEnv, user: str) -> dict[str, Any]:
    published = len([c for c in env.fake.calls_to("views.publish")
                     if c.args.get("user_id") == user])
    await env.sender.app_home_opened(user)
    calls = await env.fake.wait_for("views.publish", count=published + 1,
                                    predicate=lambda c: c.args.get("user_id") == user)
    view: dict[str, Any] = calls[-1].args["view"]
    return view


def _texts(view: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in view["blocks"] if b.get("type") == "section"]


async def test_a_lead_professional_sees_their_cafs_overdue_first_with_links(
        db_file: str) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        card_id = _green_card(env)
        await env.drain()
        await _route(env, card_id, "EHM-555", "2026-10-01")
        await agree_plan(env, "EHM-555")  # its first meeting due in 4 weeks, on 22 Dec ...
        env.clock.advance(weeks=5)  # ... and overdue five weeks later
        await register_by_slash(env, "EHM-20417")  # agreed today: due in 4 weeks
        channel, ts = env.posted(_load_card(env.database_url, card_id))
        link = f"https://{env.fake.team_domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"

        view = await _home(env, LEAD)
        texts = _texts(view)
        title = texts.index("*Your CAFs as lead professional (2, 1 overdue)*")
        overdue, due = texts[title + 1], texts[title + 2]
        assert overdue.startswith(f"CAF *<{link}|EHM-555>*\n"), overdue
        assert (":rotating_light: The first family planning meeting is overdue: it was due by "
                "*Tue 22 Dec 2026* (7 days ago)") in overdue
        assert due.startswith("CAF *EHM-20417*\n"), due  # no card: no link
        assert "The first family planning meeting is due by *Tue 26 Jan 2027*" in due
        assert f"Co-ordinator: <@{COORD}>" in due
        # Each CAF has the buttons its DMs have, and they work from the Home.
        rows = [b for b in view["blocks"] if b.get("type") == "actions"]
        assert [buttons({"blocks": [r]}) for r in rows[:2]] == [
            [ids.CAF_HELD, ids.CAF_REARRANGED, ids.CAF_STUCK, ids.CAF_CLOSE]] * 2
        d = await env.sender.block_action(LEAD, ids.CAF_HELD, view=env.fake.home_views[LEAD],
                                          block_id=rows[0]["block_id"])
        assert d.status == 200, d
        assert (await modal(env, ids.MODAL_CAF_HELD))["callback_id"] == ids.MODAL_CAF_HELD

        # The referrer's own item links to the same card; the link is what Slack's own
        # permalink for that message is.
        asked = len(env.fake.calls_to("auth.test"))
        mine = json.dumps(await _home(env, HEALTH))
        card_ref = _load_card(env.database_url, card_id).reference
        assert f"*<{link}|{card_ref}>*" in mine
        permalink = await env.bot.sv.client.chat_getPermalink(channel=channel, message_ts=ts)
        assert permalink["permalink"] == link
        # The workspace's address was asked once, not again for this Home.
        assert len(env.fake.calls_to("auth.test")) == asked
