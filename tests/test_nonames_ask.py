"""The guard's ask tier end to end: "Could 'destiny' identify the child?" through the real
Bolt app, for a typed DM answer and for a modal's free text.

Until the professional says the word is ordinary, nothing of the answer is written: not to
the database (nor its write-ahead log), not to the log, not to the outbox. The choice is
audited without the text. Names here are invented.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.handlers.slack.blocks import ids
from store.db import make_engine, session_scope
from store.models import AuditEntry
from tests.slackenv import HEALTH, MANAGER, TEACHER, SlackEnv, slack_env
from tests.test_slack_app import TUESDAY, _mark, _refer, _settle, to_first_text_question

UNCERTAIN = "destiny came in today in the same clothes as last week"


def _db_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.glob("frontdoor.db*"))


def _audits(db_file: str, action: str) -> list[dict]:
    table = AuditEntry.__table__
    engine = make_engine(db_file)
    try:
        with session_scope(engine) as s:
            rows = s.execute(select(table).where(table.c.action == action)).mappings().all()
            return [dict(r) for r in rows]
    finally:
        engine.dispose()


def _ask_buttons(env: SlackEnv, user: str) -> dict[str, dict]:
    """The buttons of the newest private "is this a name?" question."""
    for msg in reversed(env.fake.ephemerals_for(user)):
        found = {
            el["action_id"]: el
            for b in msg.get("blocks") or []
            for el in b.get("elements") or []
            if str(el.get("action_id", "")).startswith("nonames.")
        }
        if found:
            return found
    raise AssertionError(f"no private question: {env.fake.ephemerals_for(user)}")


async def _choose(env: SlackEnv, user: str, action_id: str) -> dict:
    """Click one of the newest private question's buttons; wait for the bot's answer."""
    button = _ask_buttons(env, user)[action_id]
    before = _mark(env, user)
    d = await env.sender.block_action(user, action_id, button["value"],
                                      channel_id=env.dm_id(user))
    assert d.status == 200
    await _settle(env, user, before)
    return button


async def _type(env: SlackEnv, user: str, text: str) -> None:
    before = _mark(env, user)
    await env.sender.message_im(user, env.dm_id(user), text)
    await _settle(env, user, before)  # the private question, or the next DM message


async def test_dm_answer_asks_then_rephrase_then_ordinary_word(
    db_file: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # what serve logs at
    async with slack_env(db_file, start=TUESDAY) as env:
        q = await to_first_text_question(env, TEACHER)
        await _type(env, TEACHER, UNCERTAIN)
        told = json.dumps(env.fake.ephemerals_for(TEACHER)[-1])
        assert "Could 'destiny' identify the child or family?" in told
        assert "It could: I'll rephrase" in told and "It's an ordinary word here" in told
        assert env.last_question(TEACHER)["ts"] == q["ts"], "no next question yet"
        await env.drain()
        assert b"destiny" not in _db_bytes(tmp_path), "nothing stored before the answer"

        # "It could: I'll rephrase": nothing stored, the question asked again.
        await _choose(env, TEACHER, ids.NONAMES_REPHRASE)
        again = env.last_question(TEACHER)
        assert again["ts"] != q["ts"] and json.dumps(again["blocks"]) == json.dumps(q["blocks"])
        assert b"destiny" not in _db_bytes(tmp_path)
        [row] = _audits(db_file, "nonames.rephrase")
        assert "destiny" not in json.dumps(row, default=str)

        # The same answer again: asked again; "It's an ordinary word here": stored, flow on.
        await _type(env, TEACHER, UNCERTAIN)
        ordinary = await _choose(env, TEACHER, ids.NONAMES_ORDINARY)
        nxt = env.last_question(TEACHER)
        assert nxt["ts"] != again["ts"] and json.dumps(nxt["blocks"]) != json.dumps(q["blocks"])
        [row] = _audits(db_file, "nonames.ordinary_word")
        assert "destiny" not in json.dumps(row, default=str)
        # A second click on the old button changes nothing.
        d = await env.sender.block_action(TEACHER, ids.NONAMES_ORDINARY, ordinary["value"],
                                          channel_id=env.dm_id(TEACHER))
        assert d.status == 200
        await env.drain()
        assert len(_audits(db_file, "nonames.ordinary_word")) == 1
    assert b"destiny" in _db_bytes(tmp_path), "the confirmed answer is stored"
    assert "destiny" not in caplog.text


async def test_a_certain_finding_is_refused_not_asked(db_file: str, tmp_path: Path) -> None:
    async with slack_env(db_file, start=TUESDAY) as env:
        await to_first_text_question(env, TEACHER)
        await _type(env, TEACHER, "JAYDEN SMITH comes to youth club hungry")
        told = json.dumps(env.fake.ephemerals_for(TEACHER)[-1])
        assert "JAYDEN SMITH" in told and "nonames.ordinary" not in told
    assert b"JAYDEN" not in _db_bytes(tmp_path)


async def test_modal_answer_asks_then_rephrase_then_ordinary_word(
    db_file: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # what serve logs at
    async with slack_env(db_file, start=TUESDAY) as env:
        card = await _refer(env)
        await env.click_card(MANAGER, *env.posted(card), ids.CARD_REQUEST_INFO)
        view = (await env.fake.wait_for("views.open"))[-1].args["view"]
        typed = "Has the school nurse seen phoenix this term?"
        d = await env.sender.view_submission(MANAGER, view, {ids.IN_QUESTION[1]: typed})
        answer = json.loads(d.body)
        assert answer["response_action"] == "update"
        asked = answer["view"]
        question = next(b for b in asked["blocks"] if b.get("block_id") == ids.IN_NONAMES[0])
        assert "Could 'phoenix' identify the child or family?" in question["label"]["text"]
        field = next(b for b in asked["blocks"] if b.get("block_id") == ids.IN_QUESTION[0])
        assert field["element"]["initial_value"] == typed, "what was typed is kept in the form"
        await env.drain()
        assert b"phoenix" not in _db_bytes(tmp_path)
        assert not any("phoenix" in json.dumps(c.args) for c in env.fake.calls
                       if c.method == "chat.postMessage")

        options = question["element"]["options"]
        rephrase = next(o for o in options if o["value"] == "rephrase")
        ordinary = next(o for o in options if o["value"] != "rephrase")
        d = await env.sender.view_submission(MANAGER, asked, {
            ids.IN_QUESTION[1]: typed, ids.IN_NONAMES[1]: rephrase["value"]})
        assert json.loads(d.body)["response_action"] == "errors"
        assert b"phoenix" not in _db_bytes(tmp_path)

        d = await env.sender.view_submission(MANAGER, asked, {
            ids.IN_QUESTION[1]: typed, ids.IN_NONAMES[1]: ordinary["value"]})
        assert d.status == 200 and "errors" not in d.body and "update" not in d.body
        await env.fake.wait_for(
            "chat.postMessage",
            predicate=lambda c: c.args.get("channel") == env.dm_id(HEALTH)
            and "phoenix" in json.dumps(c.args),
        )
        [row] = _audits(db_file, "nonames.ordinary_word")
        assert "phoenix" not in json.dumps(row, default=str)
    assert "phoenix" not in caplog.text
