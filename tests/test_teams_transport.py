"""The Teams transport under the real outbox sender, against the fake Bot Connector over
HTTP: 1:1 chats made once, threads and updates, Teams' errors as retries or dead letters,
Retry-After honoured with jitter, one token for many calls, pacing per conversation."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.engine import Engine

from bot import intents
from bot.handlers.teams.conversations import Reference, reference, remember
from bot.handlers.teams.transport import JITTER, ConnectorError, TeamsCall
from bot.outbox import Failure
from store.db import session_scope
from store.runner import TxRunner
from store.sql import OutboxRow
from tests.teamsenv import (
    ALEX,
    BLAKE,
    DUTY,
    ESCALATION,
    MASH,
    NO_APP,
    Rig,
    copies,
    key_of,
    rows,
    teams_rig,
)


@pytest.fixture
async def rig(engine: Engine) -> AsyncIterator[Rig]:
    async with teams_rig(engine) as r:
        yield r


async def test_a_person_is_messaged_in_one_chat_made_once_and_remembered(rig: Rig) -> None:
    rig.queue(("dm:1", ALEX, "Your referral has been received."))
    await rig.drain()
    rig.queue(("dm:2", ALEX, "The duty team has your referral."))
    await rig.drain()
    made = rig.fake.calls_to("create")
    assert len(made) == 1 and made[0].body is not None
    assert made[0].body["members"] == [{"id": ALEX}]
    assert made[0].body["tenantId"] == rig.fake.tenant_id
    chat = str(made[0].response and made[0].response["id"])
    assert [key_of(a) for a in rig.fake.activities(chat)] == ["dm:1", "dm:2"]
    ref = reference(rig.transport.references, ALEX)
    assert ref is not None and ref.conversation_id == chat
    assert ref.service_url == rig.fake.service_url
    sent = rows(rig.engine)
    assert {k: r.status for k, r in sent.items()} == {"dm:1": "sent", "dm:2": "sent"}
    assert sent["dm:1"].message_id == rig.fake.activities(chat)[0]["id"]


async def test_a_stored_reference_is_where_a_person_is_reached(rig: Rig) -> None:
    # Teams told us (on install) the tenant's address for Alex; the transport's default
    # is somewhere else, so only the reference gets the message there.
    remember(rig.transport.references, Reference(
        ALEX, rig.fake.service_url, rig.fake.tenant_id, rig.transport.bot_id))
    rig.transport.service_url = "http://127.0.0.1:9/"  # nothing listens there
    rig.queue(("ref:1", ALEX, "Your referral has been received."))
    await rig.drain()
    assert copies(rig.fake) == {"ref:1": 1}
    assert len(rig.fake.calls_to("create")) == 1


async def test_a_call_cut_off_before_teams_stored_it_is_sent_once(rig: Rig) -> None:
    rig.fake.fail("send", exc="disconnect", times=2)
    rig.queue(("cut:1", MASH, "A new referral."))
    await rig.sender.run_once()
    row = rows(rig.engine)["cut:1"]
    # Teams may have it: left "sending", and looked for (in the note) before a resend.
    assert row.status == "sending" and (row.last_error or "").startswith("unconfirmed")
    await rig.drain()
    assert copies(rig.fake) == {"cut:1": 1}
    assert [c.fault for c in rig.fake.calls_to("send")] == ["disconnect", "disconnect", None]


async def test_a_person_without_the_app_is_a_dead_letter_with_an_alert(rig: Rig) -> None:
    rig.queue(("dm:noapp", NO_APP, "Your referral has been received."))
    await rig.drain()
    left = rows(rig.engine)
    assert left["dm:noapp"].status == "dead"
    assert "403 BotNotInConversationRoster" in (left["dm:noapp"].last_error or "")
    assert len(rig.fake.calls_to("create")) == 1  # permanent: not tried again
    alert = left[f"alert:outbox:{left['dm:noapp'].id}"]
    assert alert.status == "sent"
    assert [key_of(a) for a in rig.fake.activities(ESCALATION)] == [alert.idempotency_key]


async def test_a_reply_goes_in_the_thread_and_an_update_redraws_in_place(rig: Rig) -> None:
    rig.queue(("card:1", MASH, "A new referral."))
    await rig.drain()
    card = rows(rig.engine)["card:1"].message_id
    assert card
    rig.queue(("note:1", MASH, "A note on the card."), thread=card)
    with session_scope(rig.engine, write=True) as s:
        intents.queue(s, intents.ADVICE_REDRAW, key="card:1:redraw", platform="teams",
                      to=intents.conversation(MASH), data={"text": "The card, redrawn."},
                      of_key="card:1", not_before=rig.clock.now)
    await rig.drain()
    said = {key_of(a): a for a in rig.fake.activities(MASH)}
    assert set(said) == {"card:1:redraw", "note:1"}  # the card's text is the redraw's now
    assert said["card:1:redraw"]["id"] == card
    assert said["note:1"]["replyToId"] == card
    assert [c.op for c in rig.fake.calls if c.op != "token"] == ["send", "reply", "update"]


@pytest.mark.parametrize("status", [429, 412, 502, 504])
async def test_a_wait_teams_asks_for_is_honoured_with_jitter(rig: Rig, status: int) -> None:
    rig.fake.fail("send", status=status, retry_after=20, times=3)  # 429 says it; others too
    rig.queue(("wait:1", MASH, "A new referral."))
    start = rig.clock.now
    await rig.sender.run_once()
    row = rows(rig.engine)["wait:1"]
    assert row.status == "pending" and row.attempts == 0  # a wait uses up no attempt
    due = row.next_attempt_at.replace(tzinfo=dt.UTC) - start
    assert dt.timedelta(seconds=20) <= due <= dt.timedelta(seconds=20 * (1 + JITTER))
    rig.clock.advance(seconds=19)
    await rig.sender.run_once()
    assert len(rig.fake.calls_to("send")) == 1  # not before it is due
    await rig.drain(step=dt.timedelta(seconds=25))
    assert copies(rig.fake) == {"wait:1": 1}
    assert [c.status for c in rig.fake.calls_to("send")] == [status] * 3 + [200]


def test_jitter_spreads_the_rows_told_to_wait_together(rig: Rig) -> None:
    rig.transport.rng = random.Random(7)
    waits = {rig.transport.failure(ConnectorError(429, "TooManyRequests", 10.0)).retry_after
             for _ in range(20)}  # type: ignore[union-attr]
    assert len(waits) == 20
    assert all(dt.timedelta(seconds=10) <= w <= dt.timedelta(seconds=12)
               for w in waits if w is not None)


@pytest.mark.parametrize("status", [500, 502, 504, 412])
async def test_server_errors_are_retried_with_backoff_and_sent_once(rig: Rig, status: int
                                                                    ) -> None:
    rig.fake.fail("*", status=status, times=3)
    rig.queue(("err:dm", BLAKE, "Your referral has been received."),
              ("err:ch", DUTY, "A new referral."))
    await rig.drain()
    assert copies(rig.fake) == {"err:dm": 1, "err:ch": 1}
    assert {r.status for r in rows(rig.engine).values()} == {"sent"}


async def test_permanent_errors_are_dead_at_once(rig: Rig) -> None:
    for status, code in [(400, "BadArgument"), (401, "Unauthorized"),
                         (403, "BotDisabledByAdmin"), (404, "ConversationNotFound"),
                         (413, "MessageSizeTooBig")]:
        failure = rig.transport.failure(ConnectorError(status, code))
        assert failure is not None and failure.kind == Failure.PERMANENT, status
    rig.queue(("gone:1", "19:deleted0000@thread.tacv2", "A new referral."))
    await rig.drain()
    row = rows(rig.engine)["gone:1"]
    assert row.status == "dead" and row.attempts == 1
    assert "404 ConversationNotFound" in (row.last_error or "")


async def test_one_token_serves_until_near_its_expiry(engine: Engine) -> None:
    # Tokens that live 299 s: MSAL keeps none of its own (under five minutes), so every
    # fetch the transport's cache makes is seen by the fake.
    async with teams_rig(engine, refresh_before=60) as rig:
        rig.fake.token_lifetime = 299
        now = [0.0]
        rig.tokens.clock = lambda: rig.fake.clock() + now[0]
        rig.queue(*((f"tok:{i}", MASH if i % 2 else DUTY, f"message {i}") for i in range(6)))
        await rig.drain()
        assert len(rig.fake.calls_to("token")) == 1
        now[0] = 240  # within a minute of expiry: a new one before the next call
        rig.queue(("tok:late", MASH, "one more"))
        await rig.drain()
        assert len(rig.fake.calls_to("token")) == 2
        assert copies(rig.fake)["tok:late"] == 1


async def test_no_token_sends_nothing_and_retries(rig: Rig) -> None:
    # Cut off (MSAL itself holds back after a 5xx from Entra for a few seconds of real
    # time, which this test's clock does not move).
    rig.fake.fail("token", exc="disconnect", times=2)
    rig.queue(("notoken:1", MASH, "A new referral."))
    await rig.sender.run_once()
    row = rows(rig.engine)["notoken:1"]
    assert row.status == "pending" and "no token" in (row.last_error or "")
    assert rig.fake.calls_to("send") == []
    await rig.drain()
    assert copies(rig.fake) == {"notoken:1": 1}


async def test_messages_in_one_conversation_are_paced(rig: Rig) -> None:
    rig.transport.pace = 0.2
    arrivals: dict[str, list[float]] = {MASH: [], DUTY: []}
    loop = asyncio.get_running_loop()

    async def note(call: object, _answer: object) -> None:
        arrivals[str(call.conversation)].append(loop.time())
    rig.fake.after_store = note  # type: ignore[assignment]
    calls = [TeamsCall({"type": "message", "text": f"m{i} [p:{i}]"}, MASH if i < 3 else DUTY)
             for i in range(6)]
    with session_scope(rig.engine, write=True) as s:
        for i in range(6):
            intents.queue(s, intents.NOTICE, key=f"p:{i}", to=intents.conversation(MASH),
                          platform="teams",
                          data={"text": "x"})
    row = next(iter(rows(rig.engine).values()))
    plain = OutboxRow(id=row.id, idempotency_key=row.idempotency_key, intent=row.intent,
                      channel=row.channel, payload=row.payload, status="sending", attempts=1)
    await rig.tokens.token()  # fetched before, so arrivals show the pacing alone
    await asyncio.gather(*(rig.transport.send(plain, c) for c in calls))
    for conversation, times in arrivals.items():
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert len(times) == 3 and all(g >= 0.15 for g in gaps), (conversation, gaps)
    # The two conversations went side by side, not one after the other.
    assert abs(arrivals[MASH][0] - arrivals[DUTY][0]) < 0.15


def test_references_are_kept_in_the_database_for_every_replica(engine: Engine) -> None:
    """What Teams told one replica reaches a person from any other: the reference is a
    row, and a later activity naming no 1:1 chat keeps the chat already known."""
    from bot.handlers.teams.conversations import DbReferences

    first, second = DbReferences(TxRunner(engine)), DbReferences(TxRunner(engine))
    remember(first, Reference("aa000000-0000-4000-8000-00000000000a", "https://smba.example/",
                              "tenant", "28:bot", "a:chat-1"))
    remember(second, Reference("aa000000-0000-4000-8000-00000000000a", "https://smba.example/",
                               "tenant", "28:bot", None))
    got = reference(first, "aa000000-0000-4000-8000-00000000000a")
    assert got is not None and got.conversation_id == "a:chat-1"
    assert got.service_url == "https://smba.example/"
    assert reference(second, "aa000000-0000-4000-8000-00000000000b") is None
