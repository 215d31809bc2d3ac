"""The outbox sender against the fake Web API: order, retries, dead letters, recovery."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from bot import intents
from bot.handlers.slack import transport
from bot.handlers.slack.client import make_client
from bot.handlers.slack.render import SlackRenderer
from bot.handlers.slack.transport import METADATA_EVENT, SlackTransport
from bot.outbox import OutboxSender
from bot.sandbox.webapi import FakeSlack
from store import repo
from store.db import session_scope
from store.models import OutboxMessage
from store.tx import Tx
from tests.slackenv import Clock, notice

TOKEN = "xoxb-outbox-test"
ESCALATION = "C0ESCALATE"


@dataclass
class Rig:
    fake: FakeSlack
    sender: OutboxSender
    clock: Clock
    engine: Engine


@pytest.fixture
async def rig(engine: Engine) -> AsyncIterator[Rig]:
    clock = Clock(dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.UTC))
    async with FakeSlack(tokens=[TOKEN]) as fake, aiohttp.ClientSession() as http:
        for cid in ("C0ONE", "C0TWO", ESCALATION):
            fake.add_channel(cid, cid.lower())
        fake.add_user("U0PRO", "pat.pro")
        client = make_client(TOKEN, fake.base_url, http, max_retries=0)
        sender = OutboxSender(engine, SlackTransport(client), renderer=SlackRenderer(None),
                              escalation_channel=ESCALATION, clock=clock,
                              pace=0, max_attempts=4)  # small, to reach the last attempt quickly
        yield Rig(fake, sender, clock, engine)


def queue(rig: Rig, *items: tuple[str, str, str]) -> None:
    """Queue (key, channel, text) messages, due at the rig's clock (not the real time,
    which may be past or before the test's fixed date)."""
    with session_scope(rig.engine, write=True) as s:
        for key, channel, text in items:
            notice(s, key, channel, text, not_before=rig.clock.now)


def rows(engine: Engine) -> list[OutboxMessage]:
    with session_scope(engine) as s:
        return list(s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())  # type: ignore[call-overload,arg-type]


def delivered(fake: FakeSlack, channel: str) -> list[str]:
    return [m["text"] for m in fake.history(channel)]


async def test_in_order_per_channel_and_once(rig: Rig) -> None:
    queue(rig, *[(f"k{i}", "C0ONE" if i % 2 else "C0TWO", f"m{i}") for i in range(10)])
    queue(rig, ("k3", "C0ONE", "a duplicate cause"))  # same key: not queued again
    stats = await rig.sender.run_once()
    assert stats.sent == 10
    assert delivered(rig.fake, "C0ONE") == ["m1", "m3", "m5", "m7", "m9"]
    assert delivered(rig.fake, "C0TWO") == ["m0", "m2", "m4", "m6", "m8"]
    assert all(r.status == "sent" and r.message_id for r in rows(rig.engine))
    assert (await rig.sender.run_once()).sent == 0  # nothing is sent twice
    # Every message carries its outbox key, so a restart can tell it was delivered.
    meta = rig.fake.history("C0ONE")[0]["metadata"]
    assert meta["event_type"] == METADATA_EVENT and meta["event_payload"]["key"] == "k1"


async def test_a_user_id_is_delivered_to_their_dm(rig: Rig) -> None:
    queue(rig, ("dm1", "U0PRO", "hello"))
    await rig.sender.run_once()
    assert delivered(rig.fake, rig.fake.dm_channel("U0PRO")) == ["hello"]


@pytest.mark.fault
async def test_429_then_500_storm_delivers_everything_once_recovered(rig: Rig) -> None:
    queue(rig, *[(f"s{i}", "C0ONE", f"m{i}") for i in range(3)])
    rig.fake.fail("chat.postMessage", status=429, times=2, retry_after=7)
    rig.fake.fail("chat.postMessage", status=500, times=2)
    await rig.sender.run_once()
    row = rows(rig.engine)[0]
    assert row.status == "pending" and row.last_error == "ratelimited"
    assert row.next_attempt_at == rig.clock.now + dt.timedelta(seconds=7)  # Retry-After honoured
    assert (await rig.sender.run_once()).sent == 0  # not before Retry-After
    for _ in range(10):
        rig.clock.advance(minutes=5)
        await rig.sender.run_once()
    assert delivered(rig.fake, "C0ONE") == ["m0", "m1", "m2"]  # in order, each once
    assert all(r.status == "sent" for r in rows(rig.engine))


@pytest.mark.fault
async def test_dead_after_the_last_attempt_and_escalated(rig: Rig) -> None:
    queue(rig, ("d1", "C0ONE", "will not get through"))
    rig.fake.fail("chat.postMessage", status=503, times=50)
    for _ in range(6):
        await rig.sender.run_once()
        rig.clock.advance(minutes=10)
    dead = rows(rig.engine)[0]
    assert dead.status == "dead" and dead.attempts == 4
    alert = [r for r in rows(rig.engine) if r.idempotency_key == f"alert:outbox:{dead.id}"]
    assert len(alert) == 1 and alert[0].channel == ESCALATION


async def test_permanent_error_is_dead_at_once(rig: Rig) -> None:
    queue(rig, ("p1", "C0NOWHERE", "to a channel that does not exist"))
    await rig.sender.run_once()
    await rig.sender.run_once()  # delivers the alert
    first = rows(rig.engine)[0]
    assert (first.status, first.attempts, first.last_error) == ("dead", 1, "channel_not_found")
    assert any("could not deliver" in t for t in delivered(rig.fake, ESCALATION))


async def test_a_row_the_release_before_queued_is_sent_as_queued_once(rig: Rig) -> None:
    """Rows still queued by the release before intents (kept by migration 0005 as the
    call they were) go out as they were queued, with their key, once."""
    with session_scope(rig.engine, write=True) as s:
        repo.enqueue(s, key="old:dm", intent=intents.LEGACY, not_before=rig.clock.now,
                     payload={"method": "chat.postMessage",
                              "args": {"channel": "U0PRO", "text": "queued before"}})
    assert (await rig.sender.run_once()).sent == 1
    assert (await rig.sender.run_once()).sent == 0
    sent = rig.fake.history(rig.fake.dm_channel("U0PRO"))
    assert [m["text"] for m in sent] == ["queued before"]
    assert sent[0]["metadata"]["event_payload"]["key"] == "old:dm"


async def test_a_row_no_renderer_can_draw_is_dead_at_once_not_sent(rig: Rig) -> None:
    """A row whose intent this release does not know (here a Web API call queued as the
    release before did) is never guessed at: dead at once, and a person is told."""
    with session_scope(rig.engine, write=True) as s:
        repo.enqueue(s, key="old:1", intent="chat.postMessage", not_before=rig.clock.now,
                     payload={"channel": "C0ONE", "text": "queued by the release before"})
    await rig.sender.run_once()
    await rig.sender.run_once()  # delivers the alert
    first = rows(rig.engine)[0]
    assert (first.status, first.attempts) == ("dead", 1), first.last_error
    assert first.last_error and first.last_error.startswith("unknown intent")
    assert delivered(rig.fake, "C0ONE") == []
    assert any("could not deliver" in t for t in delivered(rig.fake, ESCALATION))


@pytest.mark.fault
async def test_a_sender_that_died_mid_call_does_not_duplicate(rig: Rig) -> None:
    """Slack accepted the message but the sender died before recording it: the next
    sender finds the message by its key in the channel's history and does not resend."""
    queue(rig, ("r1", "C0ONE", "sent before the crash"), ("r2", "C0ONE", "never sent"))
    rig.fake.add_message("C0ONE", "U0FRONTBOT", "sent before the crash")
    msg = rig.fake.history("C0ONE")[-1]
    msg["metadata"] = {"event_type": METADATA_EVENT, "event_payload": {"key": "r1"}}
    msg["bot_id"] = rig.fake.bot_id
    died_mid_call(rig, "r1")
    stats = await rig.sender.run_once()
    assert stats.recovered == 1 and stats.sent == 1
    assert delivered(rig.fake, "C0ONE") == ["sent before the crash", "never sent"]
    assert [r.status for r in rows(rig.engine)] == ["sent", "sent"]


def died_mid_call(rig: Rig, key: str) -> None:
    """What a sender killed inside the call leaves behind: the row ``sending``, its lease
    run out."""
    past = rig.clock.now - dt.timedelta(minutes=5)
    with session_scope(rig.engine, write=True) as s:
        s.execute(update(OutboxMessage).where(OutboxMessage.idempotency_key == key)  # type: ignore[arg-type]
                  .values(status="sending", claimed_by="dead-worker", claimed_until=past,
                          attempts=1))


@pytest.mark.fault
async def test_a_post_that_failed_after_slack_stored_it_is_searched_for_not_resent(
    rig: Rig,
) -> None:
    """A 5xx (or a cut-off connection) may come after Slack stored the message: the row is
    left unconfirmed, and the next try finds it by its key instead of posting it again."""
    queue(rig, ("f1", "C0ONE", "stored, then Slack failed"), ("f2", "C0ONE", "next"))
    post = rig.fake._methods["chat.postMessage"]

    def stored_then_500(args: dict[str, Any]) -> dict[str, Any]:
        rig.fake._methods["chat.postMessage"] = post  # once
        post(args)
        raise RuntimeError("Slack stored it, then answered 500")

    rig.fake._methods["chat.postMessage"] = stored_then_500
    await rig.sender.run_once()
    first = rows(rig.engine)[0]
    assert (first.status, first.last_error) == ("sending", "unconfirmed: http 500")
    assert delivered(rig.fake, "C0ONE") == ["stored, then Slack failed"]  # f2 waits behind it
    rig.clock.advance(minutes=5)
    stats = await rig.sender.run_once()
    assert stats.recovered == 1 and stats.sent == 1
    assert delivered(rig.fake, "C0ONE") == ["stored, then Slack failed", "next"]
    assert [r.status for r in rows(rig.engine)] == ["sent", "sent"]
    assert rows(rig.engine)[0].message_id == rig.fake.history("C0ONE")[0]["ts"]


@pytest.mark.fault
async def test_too_much_history_to_search_is_dead_and_alerted_not_resent(
    rig: Rig, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(transport, "SEARCH_PAGES", 2)
    queue(rig, ("h1", "C0ONE", "was it delivered?"))
    died_mid_call(rig, "h1")
    for i in range(2 * transport.SEARCH_PAGE + 1):  # more than two pages since it was queued
        rig.fake.add_message("C0ONE", "U0PRO", f"chat {i}")
    await rig.sender.run_once()
    dead = rows(rig.engine)[0]
    assert dead.status == "dead" and dead.last_error.startswith("unconfirmed: more than")
    assert len(rig.fake.calls_to("conversations.history")) == 2
    await rig.sender.run_once()  # the alert
    assert "was it delivered?" not in delivered(rig.fake, "C0ONE")
    alerts = delivered(rig.fake, ESCALATION)
    assert len(alerts) == 1 and "could not tell whether Slack has a message" in alerts[0]


async def test_a_live_lease_is_not_stolen(rig: Rig) -> None:
    queue(rig, ("l1", "C0ONE", "being sent elsewhere"))
    future = rig.clock.now + dt.timedelta(minutes=1)
    with session_scope(rig.engine, write=True) as s:
        s.execute(update(OutboxMessage).values(status="sending", claimed_by="other",
                                               claimed_until=future))
    assert (await rig.sender.run_once()).sent == 0
    assert delivered(rig.fake, "C0ONE") == []


async def test_a_question_answered_before_its_delivery_is_recorded_still_goes_at_once(
    rig: Rig,
) -> None:
    # A professional can click the moment a question arrives, before the sender has
    # written down that it sent it: the next question must not wait for a sweep.
    sender = rig.sender

    def ask(key: str) -> Callable[[Tx], None]:
        return lambda tx: notice(tx, key, "U0PRO", key, claim=True)

    try:
        _, first = await sender.runner.run(ask("q1"), lease=sender.claim_lease())
        await sender.send_now(first.claimed)  # in Slack; its record is still to be written
        assert [r.status for r in rows(rig.engine)] == ["sending"]
        _, second = await sender.runner.run(ask("q2"), lease=sender.claim_lease())
        assert [r.idempotency_key for r in second.claimed] == ["q2"] and second.queued == 0
        await sender.send_now(second.claimed)
        await sender.flush()
        assert delivered(rig.fake, rig.fake.dm_channel("U0PRO")) == ["q1", "q2"]
        assert [r.status for r in rows(rig.engine)] == ["sent", "sent"]
        assert not sender._delivered  # recorded: the database holds the channel again
        _, third = await sender.runner.run(ask("q3"), lease=sender.claim_lease())
        assert len(third.claimed) == 1
    finally:
        sender.runner.close()


async def test_a_question_waits_behind_one_not_yet_delivered(rig: Rig) -> None:
    sender = rig.sender
    queue(rig, ("notice", "U0PRO", "a reminder, queued for the sweep"))
    _, tx = await sender.runner.run(
        lambda tx: notice(tx, "q1", "U0PRO", "q1", claim=True),
        lease=sender.claim_lease())
    try:
        assert tx.claimed == [] and tx.queued == 1  # behind the reminder, in order
        # (The runner's transactions stamp rows with the real time, the rig's clock
        # is fixed: sweep at the later of the two.)
        assert (await sender.run_once(now=max(dt.datetime.now(dt.UTC), rig.clock.now))).sent == 2
        assert delivered(rig.fake, rig.fake.dm_channel("U0PRO")) == [
            "a reminder, queued for the sweep", "q1"]
    finally:
        sender.runner.close()
