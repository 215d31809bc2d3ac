"""kill -9 inside a post, then a restart whose search of Slack fails or must page back:
each message is in Slack exactly once, for a card in a channel, a DM and a thread reply.

A real ``frontdoor worker`` is killed inside the fake's ``chat.postMessage`` once the fake
has stored all three messages (one sweep round sends them together, and records them
together, so none is recorded). The restarted sender runs in this process on a clock the
test moves (its retries wait seconds to minutes), against the same database and the same
fake Slack: it must find each message by its key before it would send it again, whether
``conversations.history``/``replies`` answer 429 or 5xx for a while, or the message has
150 others after it.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.config import Settings
from bot.handlers.slack.transport import SEARCH_PAGE
from bot.policy import load_policy
from bot.sandbox import demo
from bot.sandbox.webapi import FakeSlack
from bot.services import Services
from store import claims, sql
from store.db import session_scope
from store.models import OutboxMessage, TriageCard
from store.types import utcnow
from tests.slackenv import Clock, notice
from tests.test_fault_serve import outbox_key
from tests.test_fault_sweep import _worker
from tests.test_reminders import new_card

TOKEN = "xoxb-kill-outbox"
PERSON = "U0KILLDM"  # a fictional professional, with a DM from the bot
OTHERS = ("U0OTHER1", "U0OTHER2")  # fictional people who talk after the crash
THREADS = "C0THREADS"  # a channel whose thread the bot replies in
POST = "chat.postMessage"
SEARCHES = ("conversations.history", "conversations.replies")


@dataclass
class Target:
    """A message killed in flight: its outbox key and where it is in Slack."""

    key: str
    channel: str
    thread_ts: str | None = None


@dataclass
class Rig:
    fake: FakeSlack
    sv: Services
    engine: Engine
    url: str
    behind: list[float]  # how many seconds the fake's clock is behind the real one




@pytest.fixture
async def rig(sqlite_engine: Engine, sqlite_url: str) -> AsyncIterator[Rig]:
    policy = load_policy("cambridgeshire")
    behind = [0.0]
    async with FakeSlack(tokens=[TOKEN], clock=lambda: time.time() - behind[0]) as fake, \
            aiohttp.ClientSession() as http:
        demo.seed(fake, policy)
        fake.add_user(PERSON, "kill.dm", real_name="Professional Killdm")
        fake.add_channel(THREADS, "threads")
        settings = Settings(bot_token=TOKEN, api_url=fake.base_url)
        sv = Services.build(settings, policy, sqlite_engine, http, pace=0)
        try:
            yield Rig(fake, sv, sqlite_engine, sqlite_url, behind)
        finally:
            sv.tx.close()


async def _kill_inside_posts(rig: Rig, *, thread_before: int = 0) -> dict[str, Target]:
    """Queue a card, a DM and a thread reply; kill the worker once Slack has all three.

    The thread was started an hour before, with ``thread_before`` replies then."""
    fake = rig.fake
    card_id = new_card(rig.sv, utcnow(), "green")
    rig.behind[0] = 3600
    parent = fake.add_message(THREADS, OTHERS[0], "A thread the bot will reply in.")
    for i in range(thread_before):
        fake.add_message(THREADS, OTHERS[i % 2], f"earlier reply {i}", thread_ts=parent["ts"])
    rig.behind[0] = 0
    with session_scope(rig.engine, write=True) as s:
        notice(s, "kill:dm", PERSON, "Your referral has been received.")
        notice(s, "kill:reply", THREADS, "A note in the thread.", thread=parent["ts"])
        at = sql.where(sql.Cx.of(s), "card", card_id, "post")
        assert at is not None and at.conversation
        channel = at.conversation
    targets = {"card": Target(f"card:{card_id}:post", channel),
               "dm": Target("kill:dm", fake.dm_channel(PERSON)),
               "reply": Target("kill:reply", THREADS, parent["ts"])}
    env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": fake.base_url,
           "DATABASE_URL": rig.url, "FRONTDOOR_POLICY": "", "FRONTDOOR_OUTBOX_PACE": "0",
           "FRONTDOOR_OUTBOX_LEASE": "60"}
    stored: set[str] = set()
    post = fake._methods[POST]  # the fake's own handler

    def all_stored(args: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        body = post(args)
        if body.get("ok") and outbox_key(body["message"]) in {t.key for t in targets.values()}:
            stored.add(str(outbox_key(body["message"])))
        return body, len(stored) == len(targets)  # then kill: Slack has them

    await kill_inside(fake, POST, env, all_stored)
    with session_scope(rig.engine) as s:
        left = {r.idempotency_key: r.status for r in s.exec(select(OutboxMessage)).scalars()}  # type: ignore[call-overload]
    assert all(left[t.key] == "sending" for t in targets.values()), left
    return targets


async def kill_inside(fake: FakeSlack, method: str, env: dict[str, str],
                      answer: Callable[[dict[str, Any]], tuple[dict[str, Any], bool]]) -> None:
    """Run a real worker (``env``) with ``answer`` in place of the fake's ``method``; kill
    it (kill -9) inside the call whose answer says to, so the worker never hears it."""
    def answer_or_kill(args: dict[str, Any]) -> dict[str, Any]:
        body, kill = answer(args)
        if kill:
            worker.send_signal(signal.SIGKILL)  # no clean-up of any kind
        return body

    real = fake._methods[method]
    fake._methods[method] = answer_or_kill
    worker = _worker(env)
    try:
        async with asyncio.timeout(60):
            await asyncio.to_thread(worker.wait)
    finally:
        fake._methods[method] = real
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    stderr = worker.stderr.read().decode(errors="replace") if worker.stderr else ""
    assert worker.returncode == -signal.SIGKILL, stderr[-2000:]


def _talk(fake: FakeSlack, targets: dict[str, Target], n: int) -> None:
    """``n`` messages by people after each killed one: in the card's channel, in the DM,
    and in the thread replied in."""
    for t in targets.values():
        for i in range(n):
            who = PERSON if t.channel.startswith("D") else OTHERS[i % 2]
            fake.add_message(t.channel, who, f"message {i} after the crash", thread_ts=t.thread_ts)


async def _recover(rig: Rig, clock: Clock, rounds: int = 30) -> int:
    """The restarted sender: release the dead worker's claims, sweep until nothing is owed."""
    sender = rig.sv.sender
    sender.clock = clock  # its retries wait for Retry-After and backoff: the test moves time
    await claims.release(sender.runner, "outbox", clock())
    for done in range(1, rounds + 1):
        clock.advance(seconds=1)
        await sender.run_once()
        with session_scope(rig.engine) as s:
            owed = [r for r in s.exec(select(OutboxMessage)).scalars()  # type: ignore[call-overload]
                    if r.status != "sent"]
        if not owed:
            return done
        assert {r.status for r in owed} <= {"pending", "sending"}, [
            (r.idempotency_key, r.status, r.last_error) for r in owed]
        await _not_before_it_is_due(rig, clock)
        clock.advance(minutes=5)
    raise AssertionError(f"still owed after {rounds} rounds: {owed}")


async def _not_before_it_is_due(rig: Rig, clock: Clock) -> None:
    """A row that got 429 or 5xx is not searched for (nor sent) again before it is due."""
    before = len(rig.fake.calls)
    await rig.sv.sender.run_once()
    again = [c.method for c in rig.fake.calls[before:] if c.method in (*SEARCHES, POST)]
    assert again == [], again


def _once_each(rig: Rig, targets: dict[str, Target]) -> None:
    """Each killed message is in Slack once, and its row and card point at that one."""
    fake = rig.fake
    keys = Counter(outbox_key(m) for msgs in list(fake.messages.values()) for m in msgs
                   if m.get("bot_id"))
    twice = {k: n for k, n in keys.items() if n > 1}
    assert not twice, f"posted twice: {twice}"
    posts = Counter(outbox_key(c.response["message"]) for c in fake.calls_to(POST)  # type: ignore[index]
                    if c.ok)
    with session_scope(rig.engine) as s:
        rows = {r.idempotency_key: r for r in s.exec(select(OutboxMessage)).scalars()}  # type: ignore[call-overload]
        cards = {f"card:{c.id}:post": at.message_id
                 for c in s.exec(select(TriageCard)).scalars()  # type: ignore[call-overload]
                 if (at := sql.where(sql.Cx.of(s), "card", c.id, "post")) is not None}
    for name, t in targets.items():
        found = [m for m in fake.history(t.channel) if outbox_key(m) == t.key]
        assert len(found) == 1 and posts[t.key] == 1, (name, len(found), posts[t.key])
        assert found[0].get("thread_ts") == t.thread_ts, name
        assert rows[t.key].status == "sent" and rows[t.key].message_id == found[0]["ts"], name
        if name == "card":  # updates and thread notes find the card by this ts
            assert cards[t.key] == found[0]["ts"]


@pytest.mark.fault
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("storm", ["429", "5xx"])
async def test_killed_inside_posts_then_a_storm_on_the_search_sends_each_once(
        rig: Rig, storm: str, seed: int) -> None:
    targets = await _kill_inside_posts(rig)
    rng = random.Random(seed)
    length = rng.randint(2, 6)
    for method in SEARCHES:  # every search fails until the storm has passed
        for _ in range(length):
            if storm == "429":
                rig.fake.fail(method, status=429, retry_after=rng.randint(1, 30))
            elif rng.random() < 0.25:
                rig.fake.fail(method, exc="disconnect")
            else:
                rig.fake.fail(method, status=rng.choice((500, 502, 503)))
    clock = Clock(utcnow())
    rounds = await _recover(rig, clock)
    _once_each(rig, targets)
    failed = [c for c in rig.fake.calls if c.method in SEARCHES and c.fault]
    assert len(failed) == 2 * length, [c.fault for c in failed]  # the storm did hit the search
    print(f"\n[kill -9, {storm} storm of {length}] each message once after {rounds} rounds")


@pytest.mark.fault
@pytest.mark.parametrize("after", [150, 450])  # 450: more than two pages of history
async def test_killed_inside_posts_then_many_messages_around_them_sends_each_once(
        rig: Rig, after: int) -> None:
    # A channel's history comes newest first: what was said since the crash is read
    # before the killed message. A thread comes oldest first: replies from before the
    # message was queued are skipped (``oldest``), however long the thread is.
    targets = await _kill_inside_posts(rig, thread_before=250)  # > a page
    _talk(rig.fake, targets, after)
    await _recover(rig, Clock(utcnow()))
    _once_each(rig, targets)
    pages = Counter(c.method for c in rig.fake.calls if c.method in SEARCHES)
    per_channel = -(-(after + 1) // SEARCH_PAGE)
    assert pages == {"conversations.history": 2 * per_channel,  # the card's and the DM's
                     "conversations.replies": 1}, pages
