"""SIGTERM to ``frontdoor serve`` under load: it stops listening, finishes what it started,
gives back its claims and exits 0 within ``FRONTDOOR_SHUTDOWN_TIMEOUT``.

Eight professionals play ``/consult`` and ``/refer`` flows against a real ``frontdoor
serve`` process (HTTP mode, a SQLite file) with signed requests, the fake Web API in
this process. One more opens the App Home, whose page the bot publishes after its ack;
the fake holds that ``views.publish`` call (a gate) while SIGTERM arrives, so a
listener is certainly still working. The professionals keep sending until the bot
stops listening. Then the gate opens.

Proved: no request is answered 5xx; the process is still running (finishing) once it
has stopped listening and exits 0 within the bound after the gate opens; the held
call's page was published and nothing was logged as an error; no outbox row is left
mid-delivery and no claim on an outbox row or a reminder is held afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.policy import load_policy
from bot.sandbox import demo
from bot.sandbox.signing import SlackSender
from bot.sandbox.webapi import FakeSlack
from store.db import make_engine, session_scope
from store.migrate import upgrade
from store.models import OutboxMessage, Reminder
from tests.helpers import until
from tests.slackenv import notice
from tests.test_fault_serve import (
    CUT_OFF,
    ORDERS,
    SECRET,
    TOKEN,
    USERS,
    WAIT,
    Killed,
    Person,
    Professionals,
    Serve,
    _healthy,
    _rows,
    _start,
)

SHUTDOWN_TIMEOUT = 10  # seconds (FRONTDOOR_SHUTDOWN_TIMEOUT for the child)
HOME_USER = "U0HOMEVIEW"  # fictional
OPS_LINE = re.compile(r"health and metrics on port (\d+)")


class Gate:
    """Holds the fake's answers to one Web API method until opened (an aiohttp middleware)."""

    def __init__(self, fake: FakeSlack, method: str) -> None:
        self.path = f"/api/{method}"
        self.held = asyncio.Event()
        self.opened = asyncio.Event()
        fake.app.middlewares.append(self.middleware)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == self.path:
            self.held.set()
            await self.opened.wait()
        return await handler(request)  # type: ignore[no-any-return]


def _env(fake: FakeSlack, db: str, shutdown_timeout: float) -> dict[str, str]:
    """Every setting given (a developer's .env must not change the run)."""
    return {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.base_url, "DATABASE_URL": db, "PORT": "0",
            "SLACK_APP_TOKEN": "", "FRONTDOOR_POLICY": "", "FRONTDOOR_OUTBOX_PACE": "0",
            "FRONTDOOR_SHUTDOWN_TIMEOUT": f"{shutdown_timeout:g}", "FRONTDOOR_LOG_FORMAT": "",
            "PYTHONUNBUFFERED": "1"}


async def _refused(port: int, http: aiohttp.ClientSession) -> bool:
    """Whether the bot no longer accepts connections."""
    try:
        async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
            await r.read()
            return False
    except CUT_OFF:
        return True


async def test_sigterm_under_load_finishes_work_and_releases_claims(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fd.db'}"
    policy = load_policy("cambridgeshire")
    persons = [Person(u, "", ORDERS[i % 2]) for i, u in enumerate(USERS)]
    engine = make_engine(db)
    serve: Serve | None = None
    try:
        fake = FakeSlack(tokens=[TOKEN])
        gate = Gate(fake, "views.publish")  # before the fake starts: its middlewares are fixed then
        async with fake, aiohttp.ClientSession() as http:
            demo.seed(fake, policy)
            fake.add_user(HOME_USER, "home.viewer", real_name="Home Viewer")
            for i, p in enumerate(persons):
                fake.add_user(p.id, f"term.user{i + 1:02d}", real_name=f"Professional {i + 1}")
                p.dm = fake.dm_channel(p.id)
            serve = _start(_env(fake, db, SHUTDOWN_TIMEOUT), tmp_path / "serve.log")
            await _healthy(serve, http)
            sender = SlackSender(f"http://127.0.0.1:{serve.port}/slack/events", SECRET,
                                 workspace=fake, session=http)
            people = Professionals(fake, sender)
            terminated = False

            async def load(p: Person) -> None:
                # Play until the bot stops listening; after SIGTERM, keep asking.
                while True:
                    try:
                        if terminated or not await people.step(p):
                            await people.command(p)
                    except Killed:
                        assert terminated, f"{p.id}: refused before SIGTERM"
                        return
                    if p.finished:
                        p.done.clear()  # round again: the load goes on until SIGTERM

            players = [asyncio.create_task(load(p)) for p in persons]
            await until(lambda: sum(len(fake.messages[p.dm]) for p in persons) >= 40,
                         "40 messages in the professionals' DMs")
            d = await sender.app_home_opened(HOME_USER)
            assert d.status == 200
            async with asyncio.timeout(WAIT):
                await gate.held.wait()  # the Home listener is mid-call, after its ack

            serve.popen.send_signal(signal.SIGTERM)
            terminated = True
            signalled = time.monotonic()
            async with asyncio.timeout(WAIT):
                await asyncio.gather(*players)  # each plays until the bot refuses it
            assert await _refused(serve.port, http)
            # It has stopped listening and is waiting for the held listener, not exiting.
            await until(lambda: "waiting for the listeners still working" in serve.log.read_text(
                errors="replace"), "serve to say it waits for the Home listener")
            assert serve.popen.poll() is None, "serve exited with a listener still working"
            gate.opened.set()
            rc = await asyncio.to_thread(serve.popen.wait, SHUTDOWN_TIMEOUT + 5)
            took = time.monotonic() - signalled
            log = serve.log.read_text(errors="replace")
            assert rc == 0, log[-3000:]
            assert took < SHUTDOWN_TIMEOUT + 2, took

            assert people.statuses and set(people.statuses) == {200}, people.statuses
            assert HOME_USER in fake.home_views, "the held App Home was never published"
            errors = [line for line in log.splitlines()
                      if " ERROR " in line or line.startswith("Traceback")]
            assert not errors, errors[:5]
            now = datetime.now(UTC)
            rows = await _rows(engine, OutboxMessage)
            assert rows and not [r.id for r in rows if r.status == "sending"], "mid-delivery"
            held = [r.id for r in rows if r.claimed_until is not None and r.claimed_until > now
                    and r.status not in ("sent", "dead")]
            assert not held, f"outbox rows still claimed: {held}"
            reminders = await _rows(engine, Reminder, Reminder.status == "claimed")
            assert not [r.id for r in reminders
                        if r.claimed_until is not None and r.claimed_until > now]
    finally:
        if serve is not None:
            with contextlib.suppress(Exception):
                serve.stop()
        engine.dispose()


async def test_sigterm_gives_up_at_the_bound_and_releases_the_claim(tmp_path: Path) -> None:
    """A delivery Slack never answers: serve exits 0 at the time limit, and the row it had
    claimed is free for the next process at once (not held for the lease's 60 s)."""
    db = f"sqlite:///{tmp_path / 'fd.db'}"
    bound = 2.0
    engine = make_engine(db)
    serve: Serve | None = None
    try:
        fake = FakeSlack(tokens=[TOKEN])
        gate = Gate(fake, "chat.postMessage")
        async with fake, aiohttp.ClientSession() as http:
            demo.seed(fake, load_policy("cambridgeshire"))
            user = USERS[0]
            fake.add_user(user, "term.user01", real_name="Professional 1")
            serve = _start({**_env(fake, db, bound), "FRONTDOOR_LOG_FORMAT": "json"},
                           tmp_path / "serve.log")
            await _healthy(serve, http)
            sender = SlackSender(f"http://127.0.0.1:{serve.port}/slack/events", SECRET,
                                 workspace=fake, session=http)
            d = await sender.slash_command(user, "/consult", channel_id=fake.dm_channel(user))
            assert d.status == 200
            async with asyncio.timeout(WAIT):
                await gate.held.wait()  # the first question is mid-delivery
            serve.popen.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            rc = await asyncio.to_thread(serve.popen.wait, bound + 10)
            took = time.monotonic() - signalled
            assert rc == 0, serve.tail()
            assert bound <= took < bound + 3, took
            gate.opened.set()
            # FRONTDOOR_LOG_FORMAT=json: the log lines are JSON (what print()s is not a log).
            lines = [json.loads(line) for line in serve.log.read_text().splitlines()
                     if line.startswith("{")]
            said = [line["message"] for line in lines if line["logger"] == "frontdoor.server"]
            assert any(m.startswith("shutting down") for m in said), said
            now = datetime.now(UTC)
            rows = await _rows(engine, OutboxMessage, OutboxMessage.status == "sending")
            assert rows, "the held delivery was not claimed"
            assert all(r.claimed_until is not None and r.claimed_until <= now for r in rows), \
                [(r.id, r.claimed_until) for r in rows]
    finally:
        if serve is not None:
            with contextlib.suppress(Exception):
                serve.stop()
        engine.dispose()


async def test_worker_sigterm_gives_up_at_the_bound_and_releases_the_claim(
        tmp_path: Path) -> None:
    """``frontdoor worker`` likewise: its sweep's delivery is never answered; SIGTERM, exit 0
    at the time limit, and the row's claim is given back."""
    db = f"sqlite:///{tmp_path / 'fd.db'}"
    bound = 2.0
    policy = load_policy("cambridgeshire")
    engine = make_engine(db)
    await asyncio.to_thread(upgrade, engine)
    with session_scope(engine, write=True) as s:
        notice(s, "test:worker:1", policy.channel("escalation"),
               "A message for the escalation channel.")
    worker: Serve | None = None
    try:
        fake = FakeSlack(tokens=[TOKEN])
        gate = Gate(fake, "chat.postMessage")
        async with fake:
            demo.seed(fake, policy)
            env = {**_env(fake, db, bound), "FRONTDOOR_OPS_PORT": "0"}
            worker = _start(env, tmp_path / "worker.log", "worker")
            popen = worker.popen
            async with asyncio.timeout(WAIT):
                await gate.held.wait()  # the sweep's delivery is mid-call
            await until(lambda: OPS_LINE.search(worker.log.read_text()) is not None,
                         "the worker's health and metrics port")
            port = OPS_LINE.search(worker.log.read_text()).group(1)  # type: ignore[union-attr]
            ops = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{ops}/readyz") as r:
                    assert r.status == 200, await r.text()
                async with http.get(f"{ops}/metrics") as r:
                    assert "\nfrontdoor_outbox_undelivered_messages 1.0\n" in await r.text()
                popen.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                # Finishing its delivery until the bound: alive, and not ready.
                await until(lambda: "shutting down" in worker.log.read_text(), "SIGTERM")
                async with http.get(f"{ops}/readyz") as r:
                    assert r.status == 503 and (await r.json())["failed"] == "shutting_down"
            rc = await asyncio.to_thread(popen.wait, bound + 10)
            took = time.monotonic() - signalled
            assert rc == 0, worker.tail()
            assert bound <= took < bound + 3, took
            gate.opened.set()
            now = datetime.now(UTC)
            rows = await _rows(engine, OutboxMessage)
            assert [r.status for r in rows] == ["sending"], worker.tail()
            assert rows[0].claimed_until is not None and rows[0].claimed_until <= now
    finally:
        if worker is not None:
            with contextlib.suppress(Exception):
                worker.stop()
        engine.dispose()
