"""Socket Mode with two ``frontdoor serve`` processes: each opens its own connection,
Slack spreads envelopes over both, and an envelope whose ack Slack did not see is
delivered again on the other connection: each event is handled once.

A local WebSocket endpoint plays Slack's side (``apps.connections.open`` on the fake
Web API returns its URL), accepting one connection per process. Professionals play
whole ``/consult`` and ``/refer`` flows; their slash commands, clicks and typed answers
go out round robin over the two connections, and every typed answer (a ``message.im``
event) is delivered on *both* connections at once, the second time as Slack's retry
(same ``event_id``, ``retry_attempt`` 1, a new envelope id), as Slack does when it got no
ack in time. Both processes race to apply it; the database decides (``processed_event``).

Proved: both connections carried commands, clicks and events; every flow completes;
every typed answer was applied once (one ``processed_event`` row each, no "nothing
changed" re-ask); every outbox row was posted exactly once.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from bench import procs
from bot import intents
from bot.policy import load_policy
from bot.sandbox import demo
from bot.sandbox.signing import Delivery, SlackSender
from bot.sandbox.webapi import FakeSlack
from store.db import make_engine
from store.models import FlowSession, OutboxMessage, ProcessedEvent
from tests.helpers import until
from tests.test_fault_serve import (
    ORDERS,
    Person,
    Professionals,
    Serve,
    _rows,
    _start,
    outbox_key,
)
from tests.test_socket_mode import APP_TOKEN, SocketSlack

pytestmark = pytest.mark.postgres

TOKEN = "xoxb-socket-replicas"
USERS = tuple(f"U0SOCK{i:02d}" for i in range(1, 5))  # fictional professionals
WAIT = 20.0


class Connections(SocketSlack):
    """Slack's Socket Mode side for several connections: envelopes go to the one asked
    for, and each ack resolves the envelope it names."""

    def __init__(self) -> None:
        super().__init__()
        self.sockets: list[web.WebSocketResponse] = []
        self.acked: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.carried: Counter[tuple[int, str]] = Counter()  # (connection, envelope type)

    async def stop(self) -> None:
        for ws in self.sockets:
            await ws.close()
        self._ws = None
        await super().stop()

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": len(self.sockets),
                            "connection_info": {"app_id": "A0FRONT"}})
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                ack = json.loads(msg.data)
                fut = self.acked.get(str(ack.get("envelope_id")))
                if fut is not None and not fut.done():
                    fut.set_result(ack)
        return ws

    async def deliver(self, conn: int, kind: str, payload: dict[str, Any],
                      **extra: Any) -> dict[str, Any]:
        """Send one envelope on connection ``conn`` and wait for its ack."""
        envelope_id = secrets.token_hex(8)
        acked = self.acked[envelope_id] = asyncio.get_running_loop().create_future()
        try:
            await self.sockets[conn].send_json({
                "envelope_id": envelope_id, "type": kind, "payload": payload,
                "accepts_response_payload": kind != "events_api", **extra})
            self.carried[(conn, kind)] += 1
            return await asyncio.wait_for(acked, timeout=WAIT)
        finally:
            del self.acked[envelope_id]


class SocketSender(SlackSender):
    """SlackSender's requests as Socket Mode envelopes, round robin over the connections;
    every event also goes to the next connection as Slack's redelivery."""

    def __init__(self, links: Connections, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.links = links
        self._next = 0

    async def post(self, body: str, content_type: str, **kwargs: Any) -> Delivery:  # type: ignore[override]
        """Deliver as an envelope instead of a signed HTTP request."""
        sent = dict(kwargs.get("sent") or {})
        conn, self._next = self._next, (self._next + 1) % len(self.links.sockets)
        if content_type == "application/json":  # an Events API event_callback
            other = (conn + 1) % len(self.links.sockets)
            await asyncio.gather(
                self.links.deliver(conn, "events_api", sent, retry_attempt=0,
                                   retry_reason=""),
                self.links.deliver(other, "events_api", sent, retry_attempt=1,
                                   retry_reason="timeout"))
        elif "command" in sent:
            await self.links.deliver(conn, "slash_commands", sent)
        else:
            await self.links.deliver(conn, "interactive", sent)
        return Delivery(200, "", {}, sent)


async def test_two_socket_mode_processes_handle_each_event_once(tmp_path: Path,
                                                                postgres_url: str) -> None:
    policy = load_policy("cambridgeshire")
    links = Connections()
    ws_url = await links.start()
    serves: list[Serve] = []
    engine = make_engine(postgres_url)
    persons = [Person(u, "", ORDERS[i % 2]) for i, u in enumerate(USERS)]
    try:
        async with FakeSlack(tokens=[TOKEN, APP_TOKEN]) as fake, \
                aiohttp.ClientSession() as http:
            demo.seed(fake, policy)
            for i, p in enumerate(persons):
                fake.add_user(p.id, f"sock.user{i + 1:02d}", real_name=f"Professional {i + 1}")
                p.dm = fake.dm_channel(p.id)
            fake._methods["apps.connections.open"] = lambda _args: {"ok": True, "url": ws_url}
            env = {**procs.base_env(), "SLACK_BOT_TOKEN": TOKEN, "SLACK_APP_TOKEN": APP_TOKEN,
                   "SLACK_SIGNING_SECRET": "", "SLACK_API_URL": fake.base_url,
                   "DATABASE_URL": postgres_url, "FRONTDOOR_POLICY": "",
                   "FRONTDOOR_OUTBOX_PACE": "0", "PORT": "0"}
            for i in range(2):  # one after the other: the first migrates the empty database
                serves.append(_start(env, tmp_path / f"socket-{i + 1}.log"))
                await until(lambda n=i + 1: len(links.sockets) >= n
                             or any(s.popen.poll() is not None for s in serves),
                             f"connection {i + 1}")
                assert all(s.popen.poll() is None for s in serves), serves[-1].tail()
            assert len(links.sockets) == 2
            sender = SocketSender(links, "ws://unused", "", workspace=fake, session=http)
            people = Professionals(fake, sender)

            async with asyncio.timeout(120):
                await asyncio.gather(*(people.play(p) for p in persons))

            # Every flow completed; both connections carried each kind of envelope:
            flows = await _rows(engine, FlowSession)
            assert len(flows) == 2 * len(persons)
            assert {f.status for f in flows} == {"completed"}
            for conn in (0, 1):
                for kind in ("slash_commands", "interactive", "events_api"):
                    assert links.carried[(conn, kind)] > 0, links.carried
            # ... each typed answer (sent twice, on both connections) applied once:
            typed = sum(p.texts for p in persons)
            assert typed > 0 and links.carried[(0, "events_api")] + \
                links.carried[(1, "events_api")] == 2 * typed
            events = await _rows(engine, ProcessedEvent)
            assert len(events) == typed
            # ... so no answer met a question already moved on ("nothing changed"):
            rows = await _rows(engine, OutboxMessage)
            assert not [r.idempotency_key for r in rows if ":again:" in r.idempotency_key]
            await until(lambda: not any(s.popen.poll() is not None for s in serves), "alive")
            # ... and every outbox row was posted exactly once.
            async def settled() -> bool:
                return not await _rows(engine, OutboxMessage,
                                       OutboxMessage.status.in_(("pending", "sending")))  # type: ignore[attr-defined]
            deadline = time.monotonic() + WAIT
            while not await settled():
                assert time.monotonic() < deadline, "the outbox did not drain"
                await asyncio.sleep(0.05)
            rows = await _rows(engine, OutboxMessage)
            posts = {r.idempotency_key for r in rows if intents.posts(r)}
            in_slack = Counter(outbox_key(m) for msgs in list(fake.messages.values())
                               for m in msgs if m.get("bot_id"))
            assert [k for k, n in in_slack.items() if n > 1] == []
            assert set(in_slack) == posts
            for serve in serves:
                log = serve.log.read_text(errors="replace")
                assert "Traceback" not in log and " ERROR " not in log, serve.tail()
            print(f"\n[socket x2] {len(flows)} flows, {typed} typed answers each delivered "
                  f"twice, {len(events)} applied; envelopes per connection "
                  f"{dict(links.carried)}", file=sys.stderr)
    finally:
        for serve in serves:
            serve.stop()
        await links.stop()
        engine.dispose()
