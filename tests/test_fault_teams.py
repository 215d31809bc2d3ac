"""kill -9 of a Teams sender during deliveries, then a restart through a 429 storm or 5xx:
each message is in Teams once, but for the documented window.

The Bot Connector cannot be searched, so the transport writes each activity id down the
moment Teams answers (``bot.handlers.teams.transport``). A sender killed after that note
is not resent; one killed after Teams stored a message but before the note (the window)
sends it again. A real sender process (``python -m tests.teamsenv``) is killed from
inside the fake's handler; the restarted sender runs here, on a clock the test moves.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import Engine

from bot.sandbox.botconnector import Call, FakeBotConnector
from store import claims, sql
from store.db import session_scope
from store.runner import TxRunner
from tests.slackenv import Clock
from tests.teamsenv import (
    ALEX,
    BLAKE,
    DUTY,
    MASH,
    Rig,
    build,
    copies,
    key_of,
    rows,
    say,
    seed,
)

ROOT = Path(__file__).resolve().parent.parent
TARGETS = (ALEX, BLAKE, MASH, DUTY)  # two 1:1 chats, two channels


@dataclass
class Env:
    fake: FakeBotConnector
    http: aiohttp.ClientSession
    engine: Engine
    url: str


@pytest.fixture
async def env(sqlite_engine: Engine, sqlite_url: str) -> AsyncIterator[Env]:
    async with FakeBotConnector() as fake, aiohttp.ClientSession() as http:
        seed(fake)
        yield Env(fake, http, sqlite_engine, sqlite_url)


def _queue(engine: Engine, items: list[tuple[str, str]]) -> None:
    with session_scope(engine, write=True) as s:
        for key, to in items:
            say(s, key, to, "Your referral has been received.")


def _noted(engine: Engine) -> dict[str, str]:
    """The rows whose activity id is written down (sent or not yet recorded)."""
    return {k: r.message_id for k, r in rows(engine).items() if r.message_id}


def _worker(env: Env) -> subprocess.Popen[bytes]:
    fake = env.fake
    return subprocess.Popen(
        [sys.executable, "-m", "tests.teamsenv", env.url, fake.service_url, fake.authority,
         fake.ca_file], cwd=ROOT, env=dict(os.environ),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def _run_and_kill(env: Env, kill_at: Any) -> subprocess.Popen[bytes]:
    """Start a sender process; ``kill_at(call, answer)`` (awaited after each stored
    message, before Teams' answer) returns True to kill it there."""
    fake = env.fake
    worker = _worker(env)

    async def hook(call: Call, answer: dict[str, Any]) -> None:
        if worker.poll() is None and await kill_at(call, answer):
            worker.send_signal(signal.SIGKILL)  # kill -9: Teams has it, the bot never hears

    fake.after_store = hook
    try:
        async with asyncio.timeout(60):
            await asyncio.to_thread(worker.wait)
    finally:
        fake.after_store = None
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    stderr = worker.stderr.read().decode(errors="replace") if worker.stderr else ""
    assert worker.returncode == -signal.SIGKILL, stderr[-2000:]
    return worker


async def _restart(env: Env) -> Rig:
    """The restarted sender, on a clock past the dead one's leases."""
    clock = Clock(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2))
    rig = build(env.fake, env.engine, env.http, clock=clock)
    await claims.release(rig.sender.runner, "outbox", clock())
    return rig


def _stored(fake: FakeBotConnector) -> set[str]:
    return {key_of(a) for c in fake.conversations.values() for a in c.activities}


@pytest.mark.fault
async def test_a_noted_message_is_not_resent_and_the_window_is_what_is_resent(env: Env
                                                                             ) -> None:
    # "noted" goes out and its id is written down; "window" is stored by Teams, and
    # the sender is killed before it hears the answer, once "noted" is written down.
    _queue(env.engine, [("noted", MASH), ("window", DUTY)])
    ids = {k: r.id for k, r in rows(env.engine).items()}
    reader = TxRunner(env.engine)

    async def kill_at(call: Call, _answer: dict[str, Any]) -> bool:
        if call.body is None or key_of(call.body) != "window":
            return False
        async with asyncio.timeout(10):  # the other message's note, then the kill
            # Written by the other process: only the database tells.
            while not await reader.read(  # noqa: ASYNC110
                    lambda cx: sql.noted_delivery(cx, ids["noted"])):
                await asyncio.sleep(0.01)
        return True

    await _run_and_kill(env, kill_at)
    left = rows(env.engine)
    assert {k: r.status for k, r in left.items()} == {"noted": "sending", "window": "sending"}
    first = left["noted"].message_id
    assert first and left["window"].message_id is None
    rig = await _restart(env)
    await rig.drain()
    assert copies(env.fake) == {"noted": 1, "window": 2}
    after = rows(env.engine)
    assert after["noted"].status == after["window"].status == "sent"
    assert after["noted"].message_id == first  # recovered from the note, not sent again
    assert len([c for c in env.fake.calls_to("send") if c.ok]) == 3


@pytest.mark.fault
@pytest.mark.parametrize("seed_", [1, 2, 3])
@pytest.mark.parametrize("storm", ["429", "5xx"])
async def test_killed_during_deliveries_then_a_storm_each_message_once_but_the_window(
        env: Env, storm: str, seed_: int) -> None:
    rng = random.Random(seed_)
    keys = [(f"load:{i}", TARGETS[i % len(TARGETS)]) for i in range(40)]
    _queue(env.engine, keys)
    kill_after = rng.randint(4, 30)
    window: set[str] = set()

    async def kill_at(_call: Call, _answer: dict[str, Any]) -> bool:
        stored = _stored(env.fake)
        if len(stored) < kill_after:
            return False
        # What Teams has and we have not written down: what may be sent again.
        window.update(stored - set(_noted(env.engine)))
        return True

    await _run_and_kill(env, kill_at)
    for _ in range(rng.randint(3, 8)):  # every call fails until the storm has passed
        if storm == "429":
            env.fake.fail("*", status=429, retry_after=rng.randint(1, 30))
        else:
            env.fake.fail("*", status=rng.choice((500, 502, 504)))
    rig = await _restart(env)
    await rig.drain(rounds=60)
    seen = copies(env.fake)
    assert set(seen) == {k for k, _ in keys}, "a message was lost"
    twice = {k: n for k, n in seen.items() if n > 1}
    assert set(twice) <= window and all(n == 2 for n in twice.values()), (twice, window)
    # The window is what was in flight: at most one message per conversation (the sender
    # sends each one's head), all else was written down.
    assert len(window) <= len(TARGETS), window
    assert {r.status for r in rows(env.engine).values()} == {"sent"}
    assert any(c.fault for c in env.fake.calls), "the storm did not hit"
    print(f"\n[kill -9 after {kill_after}, {storm} storm] window {len(window)}, "
          f"sent twice {len(twice)}")
