"""The professional's answer to advice, through the real Bolt app: once answered, the advice
DM loses its buttons and shows the answer; the first answer stands (a stale button changes
nothing) until the professional chooses "Change my answer"."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from bot.handlers.slack.blocks import ids
from store.db import make_engine, session_scope
from store.models import Consultation
from tests.slackenv import TEACHER, SlackEnv, slack_env
from tests.test_slack_app import TUESDAY, advised

REASON = "The family asked for a referral themselves."


def _consultation(env: SlackEnv) -> Consultation:
    eng = make_engine(env.database_url)
    try:
        with session_scope(eng) as s:
            return s.exec(select(Consultation)).scalar_one()  # type: ignore[call-overload]
    finally:
        eng.dispose()


def _words(msg: dict[str, Any]) -> str:
    return json.dumps(msg.get("blocks"))


def _action_ids(msg: dict[str, Any]) -> set[str]:
    return {
        el.get("action_id")
        for b in msg.get("blocks") or []
        if b.get("type") == "actions"
        for el in b.get("elements") or []
    }


async def _updated(env: SlackEnv, ts: str, count: int) -> dict[str, Any]:
    """The advice DM after its ``count``-th redraw (waits for it, loudly)."""
    await env.fake.wait_for(
        "chat.update", count=count,
        predicate=lambda c: c.args.get("ts") == ts and c.args.get("channel") == env.dm_id(TEACHER),
    )
    await env.drain()
    msg = env.fake.message(env.dm_id(TEACHER), ts)
    assert msg is not None
    return msg


async def _not_followed(env: SlackEnv, msg: dict[str, Any], opened: int) -> None:
    await env.sender.block_action(TEACHER, ids.ADVICE_NOT_FOLLOWED, channel_id=env.dm_id(TEACHER),
                                  message=msg)
    why = (await env.fake.wait_for("views.open", count=opened))[-1].args["view"]
    await env.sender.view_submission(TEACHER, why, {ids.IN_REASON[1]: REASON})


async def test_answered_advice_loses_its_buttons_and_the_first_answer_stands(
    db_url: str,
) -> None:
    async with slack_env(db_url, start=TUESDAY) as env:
        first = await advised(env)
        assert {ids.ADVICE_FOLLOWED, ids.ADVICE_NOT_FOLLOWED} <= _action_ids(first)

        await _not_followed(env, first, opened=2)
        answered = await _updated(env, first["ts"], 1)
        # The answer is shown where the buttons were; only "Change my answer" is left.
        assert _action_ids(answered) == {ids.ADVICE_CHANGE}
        assert "You said you are doing something else" in _words(answered)
        assert "Change my answer" in _words(answered)

        # A later click on the old message's "I'll follow" (it was on screen before the
        # redraw) changes nothing, and says how to change the answer.
        notes = len(env.fake.ephemerals_for(TEACHER))
        await env.sender.block_action(TEACHER, ids.ADVICE_FOLLOWED, channel_id=env.dm_id(TEACHER),
                                      message=first)
        await env.fake.wait_for(
            "chat.postEphemeral", count=notes + 1,
            predicate=lambda c: c.args.get("user") == TEACHER)
        assert "already answered this advice" in env.fake.ephemerals_for(TEACHER)[-1]["text"]
        c = _consultation(env)
        assert (c.followed_advice, c.not_followed_reason) == (False, REASON)


async def test_change_my_answer_brings_the_buttons_back_and_records_the_new_answer(
    db_url: str,
) -> None:
    async with slack_env(db_url, start=TUESDAY) as env:
        first = await advised(env)
        await _not_followed(env, first, opened=2)
        answered = await _updated(env, first["ts"], 1)

        await env.sender.block_action(TEACHER, ids.ADVICE_CHANGE, channel_id=env.dm_id(TEACHER),
                                      message=answered)
        changing = await _updated(env, first["ts"], 2)
        assert {ids.ADVICE_FOLLOWED, ids.ADVICE_NOT_FOLLOWED} <= _action_ids(changing)
        assert ("Your answer stands until you choose again: doing something else."
                in _words(changing))
        # Until they choose, the answer given stands.
        assert _consultation(env).not_followed_reason == REASON

        await env.sender.block_action(TEACHER, ids.ADVICE_FOLLOWED, channel_id=env.dm_id(TEACHER),
                                      message=changing)
        now = await _updated(env, first["ts"], 3)
        assert _action_ids(now) == {ids.ADVICE_CHANGE}
        assert "You said you are following this advice." in _words(now)
        c = _consultation(env)
        assert (c.followed_advice, c.not_followed_reason) == (True, None)
