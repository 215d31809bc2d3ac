"""The outbox holds platform-neutral intents: after a referral is made, decided and asked
about, and a consultation answered, end to end through the Slack app, no row holds Slack
markup, Block Kit or a Web API method; each names an intent this release draws, and the
people it mentions are structured data."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import select

from bot import intents
from bot.handlers.slack.blocks import ids
from store.db import make_engine, session_scope
from store.models import OutboxMessage
from tests.slackenv import MANAGER, TEACHER, slack_env
from tests.test_slack_app import TUESDAY, _refer, play

SLACK_SHAPED = re.compile(r"<[@#!]|\"blocks\"|\"mrkdwn\"|chat\.|files\.|conversations\.")


async def test_the_outbox_holds_intents_not_slack(tmp_path: Path) -> None:
    db_file = f"sqlite:///{tmp_path / 'frontdoor.db'}"
    async with slack_env(db_file, start=TUESDAY) as env:
        card = await _refer(env)
        await env.click_card(MANAGER, *env.posted(card), ids.CARD_REQUEST_INFO)
        view = (await env.fake.wait_for("views.open"))[-1].args["view"]
        await env.sender.view_submission(
            MANAGER, view, {ids.IN_QUESTION[1]: "Has the school nurse seen the child this term?"})
        await env.drain()
        await env.click_card(MANAGER, *env.posted(card), ids.CARD_APPROVE)
        await env.sender.slash_command(TEACHER, "/consult", channel_id=env.dm_id(TEACHER))
        # Again while it runs: told so, and the question is asked again (as an intent too).
        await env.sender.slash_command(TEACHER, "/consult", channel_id=env.dm_id(TEACHER))
        await env.drain()
        await play(env, TEACHER)
        await env.drain()
    engine = make_engine(db_file)
    with session_scope(engine) as s:
        rows = list(s.exec(select(OutboxMessage)).scalars())  # type: ignore[call-overload]
    engine.dispose()
    said = {intents.intent_of(r) for r in rows}
    assert any(":again:" in r.idempotency_key and intents.intent_of(r) == intents.FLOW_QUESTION
               for r in rows), "the question asked again"
    # What the story said: cards, their redraws and notes, the flows, the referrer's DMs.
    assert {intents.TRIAGE_CARD, intents.TRIAGE_CARD_UPDATE, intents.CARD_NOTE,
            intents.CONSULTATION_CARD, intents.FLOW_QUESTION, intents.FLOW_QUESTION_CLOSED,
            intents.FLOW_COMPLETED, intents.REFERRER_INFO_REQUEST,
            intents.REFERRER_OUTCOME} <= said, said
    assert said <= set(intents.KINDS), said - set(intents.KINDS)
    for r in rows:
        stored = json.dumps(r.payload)
        assert not SLACK_SHAPED.search(stored), (r.idempotency_key, stored[:300])
        assert '"ts"' not in stored, r.idempotency_key  # where things are is not what is said
        assert r.status == "sent", (r.idempotency_key, r.status, r.last_error)
    # The thread note names who asked as data, and the card it belongs to as its subject.
    note = next(r for r in rows if intents.intent_of(r) == intents.CARD_NOTE)
    assert (note.subject_type, note.subject_id) == ("card", card.id)
