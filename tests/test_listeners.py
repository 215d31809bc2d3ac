"""A listener is a plain coroutine: called here without HTTP or Bolt, with the process's
services and the payload Slack would send, against the fake Web API and a real database.

What it returns is the part to run after Slack's ack; its decision must be committed
before it returns (the commit-before-ack guarantee rests on that).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.config import Settings
from bot.handlers.slack import cards
from bot.handlers.slack.blocks import ids
from bot.policy import load_policy
from bot.sandbox.webapi import FakeSlack
from bot.services import Services
from store.db import session_scope
from store.models import AuditEntry, OutboxMessage, TriageCard
from tests.helpers import at, count
from tests.slackenv import MANAGER, OUTSIDER, TOKEN, Clock, seed
from tests.test_caf import make_card

CAMBS = load_policy("cambridgeshire")


@pytest.fixture
async def sv(engine: Engine) -> AsyncIterator[tuple[Services, FakeSlack]]:
    async with FakeSlack(tokens=[TOKEN]) as fake:
        seed(fake, CAMBS)
        settings = Settings(bot_token=TOKEN, api_url=fake.base_url)
        async with aiohttp.ClientSession() as http:
            yield Services.build(settings, CAMBS, engine, http,
                                 clock=Clock(at(2026, 11, 24, 10, 0))), fake


def _card(engine: Engine, card_id: int) -> TriageCard:
    with session_scope(engine) as s:  # a fresh transaction: only what was committed
        card = s.get(TriageCard, card_id)
        assert card is not None
        return card


def _click(user: str, card_id: int) -> tuple[dict, dict]:
    body = {"user": {"id": user}, "channel": {"id": CAMBS.channel("mash_managers")},
            "trigger_id": "1.2.3"}
    return body, {"action_id": ids.CARD_APPROVE, "value": str(card_id)}


async def test_approve_without_http_commits_before_it_returns(
        sv: tuple[Services, FakeSlack]) -> None:
    services, fake = sv
    card_id = make_card(services, rating=None, status="new")

    # Someone who is not a manager: refused in words after the ack, audited now.
    later = await cards.approve(services, *_click(OUTSIDER, card_id))
    assert callable(later)
    assert _card(services.engine, card_id).status == "new"
    with session_scope(services.engine) as s:
        denied = s.exec(select(AuditEntry).where(  # type: ignore[call-overload]
            AuditEntry.action == "denied.approve")).scalars().all()
    assert [a.actor for a in denied] == [OUTSIDER]
    assert not fake.ephemerals_for(OUTSIDER)  # nothing said before the ack
    await later()
    assert "Only the front door's managers" in fake.ephemerals_for(OUTSIDER)[-1]["text"]

    # A manager: decided and the card's redraw queued, committed before the listener returns.
    before = count(services.engine, OutboxMessage)
    later = await cards.approve(services, *_click(MANAGER, card_id))
    card = _card(services.engine, card_id)
    assert (card.status, card.rating, card.decided_by) == ("decided", "green", MANAGER)
    assert count(services.engine, OutboxMessage) > before, "its messages queued with it"
    assert callable(later)
    await later()

    # Again: nothing changes, and the manager is told who decided.
    later = await cards.approve(services, *_click(MANAGER, card_id))
    assert callable(later)
    await later()
    assert "already decided" in fake.ephemerals_for(MANAGER)[-1]["text"]
