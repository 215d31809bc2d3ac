"""Socket Mode: the real app connects to a local websocket server playing Slack's side."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import WSMsgType, web

from bot.config import Settings
from bot.policy import load_policy
from bot.sandbox.webapi import FakeSlack
from bot.server import Running, running
from tests.slackenv import TEACHER, TOKEN, seed

APP_TOKEN = "xapp-1-test"


class SocketSlack:
    """A websocket endpoint that greets, sends envelopes and collects the app's acks."""

    def __init__(self) -> None:
        self.acks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.connected = asyncio.Event()
        self._ws: web.WebSocketResponse | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/link", self._link)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"ws://127.0.0.1:{port}/link"
        return self.url

    async def stop(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        await ws.send_json({"type": "hello", "num_connections": 1,
                            "connection_info": {"app_id": "A0FRONT"}})
        self.connected.set()
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await self.acks.put(json.loads(msg.data))
        return ws

    async def send(self, envelope: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_json(envelope)


@contextlib.asynccontextmanager
async def socket_mode_bot(tmp_path: Path) -> AsyncIterator[tuple[SocketSlack, FakeSlack, Running]]:
    """The real app in Socket Mode, connected to ``SocketSlack``, on a fresh SQLite file."""
    policy = load_policy("cambridgeshire")
    sock = SocketSlack()
    ws_url = await sock.start()
    try:
        async with FakeSlack(tokens=[TOKEN, APP_TOKEN]) as fake:
            seed(fake, policy)

            def connections_open(args: dict[str, Any]) -> dict[str, Any]:
                return {"ok": True, "url": ws_url}

            fake._methods["apps.connections.open"] = connections_open  # the one extra method
            settings = Settings(bot_token=TOKEN, app_token=APP_TOKEN, api_url=fake.base_url,
                                database_url=f"sqlite:///{tmp_path / 'fd.db'}")
            start = dt.datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/London"))
            async with running(settings, policy=policy, reminders=False, clock=lambda: start,
                               pace=0) as bot:
                await asyncio.wait_for(sock.connected.wait(), timeout=10)
                yield sock, fake, bot
    finally:
        await sock.stop()


async def test_socket_mode_slash_command_is_acked_and_handled(tmp_path: Path) -> None:
    async with socket_mode_bot(tmp_path) as (sock, fake, bot):
        assert bot.port is None  # no HTTP listener in Socket Mode
        assert fake.calls_to("apps.connections.open")
        await sock.send({
            "envelope_id": "env-1", "type": "slash_commands", "accepts_response_payload": True,
            "payload": {"token": "x", "team_id": "T0FRONT", "team_domain": "frontdoor",
                        "channel_id": fake.dm_channel(TEACHER), "channel_name": "directmessage",
                        "user_id": TEACHER, "user_name": "ada.teacher", "command": "/consult",
                        "text": "", "api_app_id": "A0FRONT", "trigger_id": "1.2.abc",
                        "response_url": "https://hooks.invalid/x"},
        })
        ack = await asyncio.wait_for(sock.acks.get(), timeout=10)
        assert ack["envelope_id"] == "env-1"
        calls = await fake.wait_for("chat.postMessage", timeout=10)
        first = json.dumps(calls[0].args)
        assert "immediate danger" in first.lower()
